#ifndef CORRAL_OUTPUTS_GOOGLE_ERROR_H_
#define CORRAL_OUTPUTS_GOOGLE_ERROR_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/http_client.h"
#include "outputs/output.h"

namespace corral::outputs {

// Google APIs' JSON error body
//   {"error":{"code":N,"message":"...","status":"PERMISSION_DENIED",
//             "errors":[{"reason":"forbidden","message":"..."}]}}
// as one line, "STATUS: REASON: message" with whichever parts are there
// (Chronicle sends `status`; Cloud Storage's JSON API `errors[0].reason`),
// the message cut at 300 bytes. "" when the body is not such an error.
std::string DescribeGoogleError(absl::string_view body);

// ClassifyHttp for a Google JSON API: a refusal whose body is such an error
// reads "HTTP N: " and its description, and 401 (a token expired or revoked
// meanwhile) is retried.
SendResult ClassifyGoogleHttp(
    const absl::StatusOr<core::HttpResponse>& response, absl::Time now);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_GOOGLE_ERROR_H_
