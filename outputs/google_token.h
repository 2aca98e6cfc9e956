#ifndef CORRAL_OUTPUTS_GOOGLE_TOKEN_H_
#define CORRAL_OUTPUTS_GOOGLE_TOKEN_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/clock.h"
#include "core/google_auth.h"
#include "core/http_client.h"

namespace corral::outputs {

// The token source of an output that calls a Google HTTP API: from
// `credentials_file` (the metadata server when empty) for `scope`. An error
// keeps the code of MakeGoogleTokenSource's and reads "OUTPUT credentials:
// ...".
absl::StatusOr<std::unique_ptr<core::GoogleTokenSource>> MakeOutputTokenSource(
    absl::string_view output, const std::string& credentials_file,
    std::string scope, absl::string_view user_agent, core::Clock* clock);

// Adds "Authorization: Bearer TOKEN" from `tokens` to `request` (blocks while
// a token is fetched). An error reads "access token from WHO: why" and never
// holds the token or the key; outputs retry on it.
absl::Status AddBearerToken(core::GoogleTokenSource& tokens,
                            core::HttpRequest& request);

// After the destination answered `response` to `request` (which carried a
// token from AddBearerToken): on 401 the token is dropped from `tokens`, so
// the retry fetches a new one rather than sending the refused one again
// until it expires.
void DropRefusedToken(core::GoogleTokenSource& tokens,
                      const core::HttpRequest& request,
                      const absl::StatusOr<core::HttpResponse>& response);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_GOOGLE_TOKEN_H_
