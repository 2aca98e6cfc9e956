#include "ingest/rules/rules_cli.h"

#include <unistd.h>

#include <fstream>
#include <istream>
#include <ostream>

#include "absl/status/statusor.h"
#include "core/alert_json.h"
#include "ingest/gcpaudit/log_entry_fields.h"
#include "ingest/rules/default_rules.h"
#include "ingest/rules/rule_engine.h"
#include "ingest/rules/rules_loader.h"

namespace corral::ingest::rules {
namespace {

constexpr char kUsage[] =
    "usage: corral rules test [--rules FILE...] --input FILE|- [--all] "
    "[--hostname NAME]\n"
    "         (without --rules: corral's built-in rules/gcp_audit.yaml)\n"
    "       corral rules validate FILE...\n";

std::string LocalHostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

int Usage(std::ostream& err, const std::string& why) {
  err << "rules: " << why << "\n" << kUsage;
  return 2;
}

int Validate(const std::vector<std::string>& files, std::ostream& out,
             std::ostream& err) {
  if (files.empty()) return Usage(err, "validate needs at least one file");
  LoadResult result = LoadRulesFiles(files);
  for (const std::string& w : result.warnings) err << "warning: " << w << "\n";
  for (const std::string& e : result.errors) err << e << "\n";
  if (!result.ok()) return 1;
  out << "ok: " << result.rules->rules().size() << " rules\n";
  return 0;
}

int Test(const std::vector<std::string>& args, std::istream& in,
         std::ostream& out, std::ostream& err) {
  std::vector<std::string> rule_files;
  std::string input;
  bool have_input = false;
  RuleMatching matching = RuleMatching::kFirst;
  std::string hostname = LocalHostname();
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--rules") {
      while (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
        rule_files.push_back(args[++i]);
      }
    } else if (a == "--input") {
      if (i + 1 >= args.size()) return Usage(err, "--input needs a value");
      input = args[++i];
      have_input = true;
    } else if (a == "--hostname") {
      if (i + 1 >= args.size()) return Usage(err, "--hostname needs a value");
      hostname = args[++i];
    } else if (a == "--all") {
      matching = RuleMatching::kAll;
    } else {
      return Usage(err, "unknown argument " + a);
    }
  }
  if (!have_input) return Usage(err, "test needs --input FILE|-");

  LoadResult result =
      rule_files.empty()
          ? LoadRules({{kDefaultRulesName, std::string(DefaultRulesText())}})
          : LoadRulesFiles(rule_files);
  for (const std::string& w : result.warnings) err << "warning: " << w << "\n";
  for (const std::string& e : result.errors) err << e << "\n";
  if (!result.ok()) return 1;

  std::ifstream file;
  std::istream* source = &in;
  if (input != "-") {
    file.open(input);
    if (!file) {
      err << "rules: cannot open input " << input << "\n";
      return 1;
    }
    source = &file;
  }
  std::string line;
  size_t line_no = 0;
  while (std::getline(*source, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    absl::StatusOr<gcpaudit::LogEntryFields> entry =
        gcpaudit::LogEntryFields::Parse(line);
    if (!entry.ok()) {
      err << "line " << line_no << ": " << entry.status().message() << "\n";
      continue;
    }
    for (const Rule* rule : result.rules->Evaluate(*entry, matching)) {
      out << core::EncodeFalcoAlert(BuildAlert(*rule, *entry, hostname))
          << "\n";
    }
  }
  return 0;
}

}  // namespace

int RunRulesCli(const std::vector<std::string>& args, std::istream& in,
                std::ostream& out, std::ostream& err) {
  if (args.empty()) return Usage(err, "missing command");
  if (args[0] == "validate") {
    return Validate(std::vector<std::string>(args.begin() + 1, args.end()), out,
                    err);
  }
  if (args[0] == "test") return Test(args, in, out, err);
  return Usage(err, "unknown command " + args[0]);
}

}  // namespace corral::ingest::rules
