// Fuzzes the rules loader (ingest/rules/rules_loader: Falco-format YAML with
// lists, macros, rules, overrides and exceptions, compiled into a RuleSet),
// then runs every loaded rule over the log_entry seeds the way the gcpaudit
// input does. Properties: any file is answered (rules, or errors), never a
// crash; rules are set exactly when no error is reported; every alert a
// rule builds encodes to valid JSON.
#include <boost/json.hpp>

#include "absl/strings/str_join.h"
#include "core/alert_json.h"
#include "ingest/gcpaudit/log_entry_fields.h"
#include "ingest/rules/rules_loader.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using corral::fuzz::Check;
using corral::ingest::gcpaudit::LogEntryFields;
namespace rules = corral::ingest::rules;

const std::vector<LogEntryFields>& Entries() {
  static const auto* entries = [] {
    auto* out = new std::vector<LogEntryFields>;
    for (const std::string& text : corral::fuzz::CorpusFiles("log_entry")) {
      absl::StatusOr<LogEntryFields> entry = LogEntryFields::Parse(text);
      if (entry.ok()) out->push_back(*std::move(entry));
    }
    Check(!out->empty(), "no log_entry seed parses");
    return out;
  }();
  return *entries;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rules::LoadResult loaded = rules::LoadRules(
      {{"fuzz.yaml", std::string(corral::fuzz::AsText(data, size))}});
  Check(loaded.ok() == (loaded.rules != nullptr),
        "rules set although errors were reported, or neither",
        absl::StrJoin(loaded.errors, "\n"));
  if (!loaded.ok()) return 0;
  for (const LogEntryFields& entry : Entries()) {
    for (const rules::Rule* rule :
         loaded.rules->Evaluate(entry, rules::RuleMatching::kAll)) {
      corral::core::Alert alert = rules::BuildAlert(*rule, entry, "fuzz-host");
      const std::string encoded = corral::core::EncodeFalcoAlert(alert);
      std::error_code ec;
      boost::json::parse(encoded, ec);
      Check(!ec, "a rule built an alert that is not valid JSON", encoded);
    }
  }
  return 0;
}
