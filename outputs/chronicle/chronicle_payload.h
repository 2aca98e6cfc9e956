#ifndef CORRAL_OUTPUTS_CHRONICLE_CHRONICLE_PAYLOAD_H_
#define CORRAL_OUTPUTS_CHRONICLE_CHRONICLE_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/alert.h"
#include "outputs/chronicle/chronicle_config.h"

namespace corral::outputs {

// One HTTP request's worth of a batch.
struct ChronicleRequest {
  std::string body;
  // Indexes into the batch of the alerts this body carries, in order.
  std::vector<size_t> alerts;
};

// The URL requests go to: for chronicle
// ENDPOINT/v1beta/projects/P/locations/REGION/instances/I/logTypes/T/logs:import,
// for legacy ENDPOINT/v2/unstructuredlogentries:batchCreate, for webhook the
// feed URL.
std::string ChronicleRequestUrl(const ChronicleConfig& config);
// "application/json" for every API: the webhook feed takes newline-delimited
// logs in a JSON-typed body.
inline constexpr char kChronicleContentType[] = "application/json";

// The request bodies for `batch` (pure), each at most `max_bytes`, packed in
// batch order:
// - chronicle: {"inlineSource":{"logs":[{"data":BASE64(alert JSON),
//   "logEntryTime":T,"collectionTime":C},...]}} where T is the alert's time
//   and C is `now`, or T when the alert claims to be from the future (Google
//   wants collectionTime >= logEntryTime);
// - legacy: {"customer_id":I,"log_type":L,"entries":[{"log_text":ALERT JSON,
//   "ts_rfc3339":T},...]};
// - webhook: one alert JSON per line, each followed by "\n".
// The alert JSON is core::EncodeFalcoAlert's. InvalidArgument for an empty
// batch or for an alert that alone exceeds `max_bytes`.
absl::StatusOr<std::vector<ChronicleRequest>> BuildChronicleRequests(
    const ChronicleConfig& config, std::span<const core::AlertPtr> batch,
    absl::Time now, uint64_t max_bytes);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_CHRONICLE_CHRONICLE_PAYLOAD_H_
