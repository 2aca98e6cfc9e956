#include "outputs/google_token.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace corral::outputs {

absl::StatusOr<std::unique_ptr<core::GoogleTokenSource>> MakeOutputTokenSource(
    absl::string_view output, const std::string& credentials_file,
    std::string scope, absl::string_view user_agent, core::Clock* clock) {
  core::GoogleAuthOptions options;
  options.credentials_file = credentials_file;
  options.scopes = {std::move(scope)};
  options.user_agent = std::string(user_agent);
  options.clock = clock;
  absl::StatusOr<std::unique_ptr<core::GoogleTokenSource>> tokens =
      core::MakeGoogleTokenSource(options);
  if (!tokens.ok()) {
    return absl::Status(
        tokens.status().code(),
        absl::StrCat(output, " credentials: ", tokens.status().message()));
  }
  return tokens;
}

absl::Status AddBearerToken(core::GoogleTokenSource& tokens,
                            core::HttpRequest& request) {
  absl::StatusOr<std::string> token = tokens.Token();
  if (!token.ok()) {
    // The token source's messages never hold the token or the key.
    return absl::Status(token.status().code(),
                        absl::StrCat("access token from ", tokens.Describe(),
                                     ": ", token.status().message()));
  }
  request.headers.emplace_back("Authorization",
                               absl::StrCat("Bearer ", *token));
  return absl::OkStatus();
}

void DropRefusedToken(core::GoogleTokenSource& tokens,
                      const core::HttpRequest& request,
                      const absl::StatusOr<core::HttpResponse>& response) {
  if (!response.ok() || response->status != 401) return;
  constexpr absl::string_view kBearer = "Bearer ";
  const std::string authorization =
      core::FindHeader(request.headers, "Authorization");
  if (absl::StartsWith(authorization, kBearer)) {
    tokens.Invalidate(absl::string_view(authorization).substr(kBearer.size()));
  }
}

}  // namespace corral::outputs
