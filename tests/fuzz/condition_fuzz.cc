// Fuzzes the condition language (ingest/rules/condition): the parser on its
// own, then compiling against a few lists and macros (one macro cycle) and
// evaluating over the log_entry seeds. Properties: any text parses or fails
// with InvalidArgument, never a crash; a clone compiles exactly as the
// original and matches the same entries.
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "ingest/gcpaudit/log_entry_fields.h"
#include "ingest/rules/condition.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using corral::fuzz::Check;
using corral::ingest::gcpaudit::LogEntryFields;
namespace rules = corral::ingest::rules;

struct Env {
  absl::flat_hash_map<std::string, std::vector<std::string>> lists;
  std::vector<std::unique_ptr<rules::AstNode>> macro_asts;
  absl::flat_hash_map<std::string, const rules::AstNode*> macros;
  absl::flat_hash_set<std::string> failed_macros;
  std::vector<LogEntryFields> entries;
  rules::CompileEnv compile_env;
};

const Env& GetEnv() {
  static const Env* env = [] {
    auto* e = new Env;
    e->lists["admins"] = {"alice@example.com", "bob@example.com"};
    e->lists["deletes"] = {"storage.buckets.delete", "v1.compute.instances.delete"};
    e->lists["paths"] = {"/projects", "/tmp/"};
    const std::pair<const char*, const char*> macros[] = {
        {"storage", "gcp.serviceName = storage.googleapis.com"},
        {"deleting", "gcp.methodName in (deletes) or gcp.methodName endswith .delete"},
        {"by_admin", "gcp.user in (admins) and not storage"},
        {"loop_a", "loop_b and gcp.user exists"},
        {"loop_b", "loop_a"},
    };
    for (const auto& [name, text] : macros) {
      auto ast = rules::ParseCondition(text);
      Check(ast.ok(), "a fixed macro does not parse", ast.status().ToString());
      e->macros[name] = ast->get();
      e->macro_asts.push_back(*std::move(ast));
    }
    e->failed_macros.insert("broken");
    for (const std::string& text : corral::fuzz::CorpusFiles("log_entry")) {
      absl::StatusOr<LogEntryFields> entry = LogEntryFields::Parse(text);
      if (entry.ok()) e->entries.push_back(*std::move(entry));
    }
    Check(!e->entries.empty(), "no log_entry seed parses");
    e->compile_env = {&e->lists, &e->macros, &e->failed_macros};
    return e;
  }();
  return *env;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Env& env = GetEnv();
  absl::StatusOr<std::unique_ptr<rules::AstNode>> ast =
      rules::ParseCondition(corral::fuzz::AsText(data, size));
  if (!ast.ok()) {
    Check(absl::IsInvalidArgument(ast.status()),
          "a parse error that is not InvalidArgument", ast.status().ToString());
    return 0;
  }
  std::unique_ptr<rules::AstNode> clone = rules::CloneAst(**ast);
  absl::StatusOr<rules::Condition> condition =
      rules::Condition::Compile(**ast, env.compile_env);
  absl::StatusOr<rules::Condition> cloned =
      rules::Condition::Compile(*clone, env.compile_env);
  Check(condition.status() == cloned.status(),
        "a clone compiles differently", cloned.status().ToString());
  if (!condition.ok()) return 0;
  for (const LogEntryFields& entry : env.entries) {
    Check(condition->Matches(entry) == cloned->Matches(entry),
          "a clone matches differently");
  }
  return 0;
}
