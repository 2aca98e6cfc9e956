#ifndef CORRAL_OUTPUTS_HTTP_CLASSIFIER_H_
#define CORRAL_OUTPUTS_HTTP_CLASSIFIER_H_

#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/http_client.h"
#include "outputs/output.h"

namespace corral::outputs {

// The one classification every HTTP destination uses (DESIGN.md "Conventions"):
// 2xx delivered; 408, 429 and 5xx except 501 retry; other statuses permanent;
// transport errors (connection refused, timeouts, TLS) retry. Retry-After
// (seconds or an HTTP date, relative to `now`) becomes SendResult::retry_after.
// The reason names the status and the start of the body.
SendResult ClassifyHttp(const absl::StatusOr<core::HttpResponse>& response,
                        absl::Time now);

// Parses a Retry-After value: delta-seconds or an IMF-fixdate / RFC 850 /
// asctime date.
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_HTTP_CLASSIFIER_H_
