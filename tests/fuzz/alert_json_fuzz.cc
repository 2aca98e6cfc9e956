// Fuzzes the Falco alert JSON decoder (core/alert_json): the body of every
// `POST /`. Properties: any input is answered (an alert or InvalidArgument,
// never a crash); an accepted alert has a time the spool can keep and
// encodes to JSON that decodes to the same alert (what corral writes
// downstream it can read back), and its output fields parse and print.
#include <algorithm>
#include <boost/json.hpp>
#include <cmath>

#include "absl/status/status.h"
#include "core/alert_json.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using corral::core::Alert;
using corral::fuzz::Check;

namespace json = boost::json;

// Equal JSON, doubles within a rounding: Boost.JSON 1.81 parses a number with
// more digits than a double holds only approximately (precise parsing came
// with 1.83), so its shortest printing may read back one ulp away.
bool SameJson(const json::value& a, const json::value& b) {
  if (a.is_double() && b.is_double()) {
    const double x = a.get_double(), y = b.get_double();
    return x == y ||
           std::fabs(x - y) <= 1e-15 * std::max(std::fabs(x), std::fabs(y));
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const json::object &oa = a.get_object(), &ob = b.get_object();
    if (oa.size() != ob.size()) return false;
    for (auto ia = oa.begin(), ib = ob.begin(); ia != oa.end(); ++ia, ++ib) {
      if (ia->key() != ib->key() || !SameJson(ia->value(), ib->value())) {
        return false;
      }
    }
    return true;
  }
  if (a.is_array()) {
    const json::array &aa = a.get_array(), &ab = b.get_array();
    if (aa.size() != ab.size()) return false;
    for (size_t i = 0; i < aa.size(); ++i) {
      if (!SameJson(aa[i], ab[i])) return false;
    }
    return true;
  }
  return a == b;
}

bool SameAlert(const Alert& a, const Alert& b) {
  return a.time == b.time && a.priority == b.priority && a.rule == b.rule &&
         a.output == b.output && a.source == b.source &&
         a.hostname == b.hostname && a.tags == b.tags &&
         SameJson(json::value(corral::core::ParseOutputFields(a)),
                  json::value(corral::core::ParseOutputFields(b)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<Alert> alert =
      corral::core::DecodeFalcoAlert(corral::fuzz::AsText(data, size));
  if (!alert.ok()) {
    Check(absl::IsInvalidArgument(alert.status()),
          "a refusal that is not InvalidArgument", alert.status().ToString());
    return 0;
  }
  Check(corral::core::AlertTimeInRange(alert->time),
        "an accepted alert with a time the spool cannot keep",
        corral::core::FormatAlertTime(alert->time));

  const std::string encoded = corral::core::EncodeFalcoAlert(*alert);
  absl::StatusOr<Alert> again = corral::core::DecodeFalcoAlert(encoded);
  Check(again.ok(), "an accepted alert does not decode after encoding",
        again.ok() ? encoded : again.status().ToString() + "\n" + encoded);
  Check(SameAlert(*alert, *again), "the alert changed through the codec",
        encoded);

  boost::json::object fields = corral::core::ParseOutputFields(*alert);
  Check(!fields.empty(), "accepted output_fields do not parse back",
        alert->output_fields_json);
  for (const auto& field : fields) {
    (void)corral::core::OutputFieldText(field.value());
  }
  return 0;
}
