#ifndef CORRAL_INGEST_RULES_RULES_LOADER_H_
#define CORRAL_INGEST_RULES_RULES_LOADER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "ingest/rules/rule_engine.h"

namespace corral::ingest::rules {

// The most items a list may hold once the lists it names are expanded.
inline constexpr size_t kMaxListItems = 100000;

// One rules file: `name` is what error messages call it (normally its path).
struct RulesText {
  std::string name;
  std::string content;
};

// The outcome of loading rules files. Nothing is half-loaded: `rules` is set
// if and only if `errors` is empty.
struct LoadResult {
  std::shared_ptr<const RuleSet> rules;
  // Every problem found, each "FILE:LINE: rule \"NAME\": what was expected"
  // (or macro/list), in file order; compile errors after syntax errors.
  std::vector<std::string> errors;
  // Things that load but deserve a word (a rule for another source, skipped).
  std::vector<std::string> warnings;
  bool ok() const { return errors.empty(); }
};

// Loads rules files in order, as Falco does: lists, macros and rules, where a
// later item with the same name replaces the earlier one in place, or changes
// it with `override: {KEY: append|replace}` or the deprecated `append: true`;
// `enabled` alone toggles a rule; `exceptions` become
// `and not ((f1 c1 v1 and f2 c2 v2) or ...)`. `required_engine_version` and
// `required_plugin_versions` are accepted; any other top-level item is an
// error. After all files are read, every macro and rule (enabled or not) is
// compiled (see kMaxConditionDepth and kMaxConditionNodes in condition.h);
// enabled rules of source gcp_auditlog (the default) form the
// RuleSet, rules of any other source are skipped with a warning.
// Thread-safe (no shared state).
LoadResult LoadRules(const std::vector<RulesText>& files);

// Reads each path and loads them; an unreadable file is an error naming it.
LoadResult LoadRulesFiles(const std::vector<std::string>& paths);

}  // namespace corral::ingest::rules

#endif  // CORRAL_INGEST_RULES_RULES_LOADER_H_
