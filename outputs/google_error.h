#ifndef CORRAL_OUTPUTS_GOOGLE_ERROR_H_
#define CORRAL_OUTPUTS_GOOGLE_ERROR_H_

#include <string>

#include "absl/strings/string_view.h"

namespace corral::outputs {

// Google APIs' JSON error body
//   {"error":{"code":N,"message":"...","status":"PERMISSION_DENIED",
//             "errors":[{"reason":"forbidden","message":"..."}]}}
// as one line, "STATUS: REASON: message" with whichever parts are there
// (Chronicle sends `status`; Cloud Storage's JSON API `errors[0].reason`),
// the message cut at 300 bytes. "" when the body is not such an error.
std::string DescribeGoogleError(absl::string_view body);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_GOOGLE_ERROR_H_
