#ifndef CORRAL_INGEST_RULES_RULE_ENGINE_H_
#define CORRAL_INGEST_RULES_RULE_ENGINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/alert.h"
#include "core/priority.h"
#include "ingest/gcpaudit/log_entry_fields.h"
#include "ingest/rules/condition.h"
#include "ingest/rules/output.h"

namespace corral::ingest::rules {

// Falco's `rule_matching`: `first` (the default) alerts only for the first
// matching rule in file order; `all` alerts for every matching rule.
enum class RuleMatching { kFirst, kAll };

// Parses "first" or "all"; InvalidArgument otherwise.
absl::StatusOr<RuleMatching> ParseRuleMatching(absl::string_view text);

// One enabled, compiled rule.
struct Rule {
  std::string name;
  std::string desc;
  core::Priority priority = core::Priority::kDebug;
  std::string source;
  std::vector<std::string> tags;
  Condition condition;
  OutputFormat output;
};

// The enabled rules of a successful load, in file order. Immutable;
// Evaluate() is thread-safe.
class RuleSet {
 public:
  explicit RuleSet(std::vector<Rule> rules) : rules_(std::move(rules)) {}

  // The rules that match `entry`, in file order: at most one with kFirst.
  std::vector<const Rule*> Evaluate(const gcpaudit::LogEntryFields& entry,
                                    RuleMatching matching) const;

  const std::vector<Rule>& rules() const { return rules_; }
  // nullptr when no enabled rule has that name.
  const Rule* Find(absl::string_view name) const;

 private:
  std::vector<Rule> rules_;
};

// The alert for `rule` matching `entry`: source gcp_auditlog, time from the
// entry's timestamp, the rule's name, priority and tags, the formatted output,
// and output_fields holding every field the output uses (null when unset).
// uuid and seq are left for the intake and the router.
core::Alert BuildAlert(const Rule& rule, const gcpaudit::LogEntryFields& entry,
                       absl::string_view hostname);

}  // namespace corral::ingest::rules

#endif  // CORRAL_INGEST_RULES_RULE_ENGINE_H_
