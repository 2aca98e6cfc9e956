#include "ingest/rules/rule_engine.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace corral::ingest::rules {

absl::StatusOr<RuleMatching> ParseRuleMatching(absl::string_view text) {
  if (text == "first") return RuleMatching::kFirst;
  if (text == "all") return RuleMatching::kAll;
  return absl::InvalidArgumentError(
      absl::StrCat("rule_matching \"", text, "\" is not one of: first, all"));
}

std::vector<const Rule*> RuleSet::Evaluate(
    const gcpaudit::LogEntryFields& entry, RuleMatching matching) const {
  std::vector<const Rule*> matches;
  for (const Rule& rule : rules_) {
    if (!rule.condition.Matches(entry)) continue;
    matches.push_back(&rule);
    if (matching == RuleMatching::kFirst) break;
  }
  return matches;
}

const Rule* RuleSet::Find(absl::string_view name) const {
  for (const Rule& rule : rules_) {
    if (rule.name == name) return &rule;
  }
  return nullptr;
}

core::Alert BuildAlert(const Rule& rule, const gcpaudit::LogEntryFields& entry,
                       absl::string_view hostname) {
  core::Alert alert;
  alert.time = entry.timestamp();
  alert.priority = rule.priority;
  alert.rule = rule.name;
  alert.output = rule.output.Format(entry);
  alert.source = std::string(gcpaudit::kSource);
  alert.hostname = std::string(hostname);
  alert.tags = rule.tags;
  alert.output_fields_json = rule.output.FieldsJson(entry);
  return alert;
}

}  // namespace corral::ingest::rules
