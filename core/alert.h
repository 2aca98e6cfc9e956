#ifndef CORRAL_CORE_ALERT_H_
#define CORRAL_CORE_ALERT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/priority.h"

namespace corral::core {

// One security alert in the Falco alert model (PROTOCOLS.md §1), plus corral's
// own identity: `uuid` (random, set at intake) and `seq` (the position in
// corral's log, set by the router).
//
// `output_fields_json` holds the output fields as one compact JSON object,
// exactly the values that arrived (numbers stay numbers, null stays null):
// corral forwards them without ever stringifying them. Use ParseOutputFields()
// (core/alert_json.h) where structured access is needed.
struct Alert {
  std::string uuid;
  uint64_t seq = 0;
  absl::Time time = absl::UnixEpoch();
  Priority priority = Priority::kDebug;
  std::string rule;
  std::string output;
  std::string source;
  std::string hostname;
  std::vector<std::string> tags;
  std::string output_fields_json = "{}";
  // When corral accepted it into the spool (set by the spool, kept in the
  // record); InfinitePast when not known. Not part of any wire format: it
  // dates retry.max_age and delivery latency for alerts read back later.
  absl::Time accepted = absl::InfinitePast();
};

// Alerts are immutable once accepted and shared between every output queue that
// delivers them.
using AlertPtr = std::shared_ptr<const Alert>;

// A random (version 4) UUID in its canonical 36-character form.
std::string NewUuid();

// The test alert (POST /test) is the alert with this rule from this source.
// Every output delivers it, whatever its filters, so that /test checks every
// destination (Falcosidekick does the same with its test rule). gRPC
// subscribers filter it like any other alert.
inline constexpr absl::string_view kTestAlertRule = "Test rule";
inline constexpr absl::string_view kTestAlertSource = "internal";
bool IsTestAlert(const Alert& alert);

}  // namespace corral::core

#endif  // CORRAL_CORE_ALERT_H_
