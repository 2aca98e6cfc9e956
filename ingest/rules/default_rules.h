#ifndef CORRAL_INGEST_RULES_DEFAULT_RULES_H_
#define CORRAL_INGEST_RULES_DEFAULT_RULES_H_

#include "absl/strings/string_view.h"

namespace corral::ingest::rules {

// corral's default ruleset for GCP audit logs, rules/gcp_audit.yaml, compiled
// into the binary so that corral runs with no files beside it.
absl::string_view DefaultRulesText();

// What errors and logs call the built-in ruleset.
inline constexpr char kDefaultRulesName[] = "<built-in>/rules/gcp_audit.yaml";

}  // namespace corral::ingest::rules

#endif  // CORRAL_INGEST_RULES_DEFAULT_RULES_H_
