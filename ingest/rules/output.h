#ifndef CORRAL_INGEST_RULES_OUTPUT_H_
#define CORRAL_INGEST_RULES_OUTPUT_H_

#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ingest/gcpaudit/log_entry_fields.h"

namespace corral::ingest::rules {

// What a field with no value prints as in an output string.
inline constexpr absl::string_view kNotAvailable = "<NA>";

// A rule's `output` compiled once: literal text and `%field` / `%field[arg]`
// references resolved to extractors. A `%` not followed by a field name is
// literal. Immutable; const methods are thread-safe.
class OutputFormat {
 public:
  // Returns InvalidArgument naming the field when one is unknown.
  static absl::StatusOr<OutputFormat> Compile(absl::string_view text);

  // The output with every field replaced by its value, or `<NA>`.
  std::string Format(const gcpaudit::LogEntryFields& entry) const;

  // The distinct fields used, in order of first use.
  const std::vector<gcpaudit::FieldRef>& fields() const { return fields_; }

  // A compact JSON object: each field used (keyed by its name as written,
  // e.g. "gcp.user" or "json.value[/a]") to its string value, or null.
  std::string FieldsJson(const gcpaudit::LogEntryFields& entry) const;

 private:
  // A literal, or an index into fields_.
  std::vector<std::variant<std::string, size_t>> parts_;
  std::vector<gcpaudit::FieldRef> fields_;
  // `"name":` for each of fields_, quoted once at compile time.
  std::vector<std::string> json_keys_;
};

}  // namespace corral::ingest::rules

#endif  // CORRAL_INGEST_RULES_OUTPUT_H_
