#ifndef CORRAL_CORE_ALERT_JSON_H_
#define CORRAL_CORE_ALERT_JSON_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/alert.h"

namespace boost::json {
class object;
class value;
}  // namespace boost::json

namespace corral::core {

// Decodes one Falco alert JSON (Falco http_output / Falcosidekick input) and
// validates it with Falcosidekick's rules: a known priority, a non-empty rule,
// a non-zero time and non-empty output_fields are required; `output` may be
// empty; unknown keys are ignored. On failure returns InvalidArgument whose
// message says what is wrong ("missing rule"). The returned alert has no uuid
// and no seq yet.
absl::StatusOr<Alert> DecodeFalcoAlert(absl::string_view json);

// Encodes an alert as Falco alert JSON with corral's identity: keys hostname,
// output, output_fields, priority, rule, seq, source, tags, time, uuid
// (alphabetical, as Falco writes).
std::string EncodeFalcoAlert(const Alert& alert);
void AppendFalcoAlert(std::string* out, const Alert& alert);

// RFC 3339 in UTC with as many fractional digits as needed (Go's RFC3339Nano,
// Falco's format).
std::string FormatAlertTime(absl::Time time);
// Parses an RFC 3339 time; InvalidArgument when `text` is none (absl's
// "infinite-future" and "infinite-past" included).
absl::StatusOr<absl::Time> ParseAlertTime(absl::string_view text);
// ParseAlertTime's fast path: the form Falco and Cloud Logging write,
// "YYYY-MM-DDTHH:MM:SS[.F]Z" with 1 to 9 fractional digits and valid fields,
// read directly; nullopt for anything else (offsets, lower case, a leap
// second, finer than nanoseconds, ...), which goes to absl::ParseTime. Where
// it answers, it answers as absl::ParseTime(absl::RFC3339_full) does.
std::optional<absl::Time> ParseUtcTimestamp(absl::string_view text);
// Whether corral can keep `time` as it is: the spool stores alert times as
// nanoseconds since 1970 in 64 bits (1677-09-21 to 2262-04-11).
bool AlertTimeInRange(absl::Time time);

// Whether every number in `value` is finite. JSON has no infinity or NaN (a
// literal too large for a double parses as one), so output fields holding
// one could not be written as JSON.
bool AllNumbersFinite(const boost::json::value& value);

// Output fields as a JSON object; an alert's fields always parse (the codec
// wrote them).
boost::json::object ParseOutputFields(const Alert& alert);
std::string SerializeOutputFields(const boost::json::object& fields);

// One output field's value as text, the way Falco prints fields: strings as
// they are, null as "<NA>", numbers and booleans in JSON notation, objects and
// arrays as compact JSON.
std::string OutputFieldText(const boost::json::value& value);

}  // namespace corral::core

#endif  // CORRAL_CORE_ALERT_JSON_H_
