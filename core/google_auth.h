#ifndef CORRAL_CORE_GOOGLE_AUTH_H_
#define CORRAL_CORE_GOOGLE_AUTH_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/http_client.h"

namespace corral::core {

// OAuth2 access tokens for Google APIs, shared by every Google client in
// corral (Pub/Sub, Chronicle, GCS). Implemented without Google's client
// libraries: a service-account key signs a JWT that is exchanged at the key's
// token_uri, or the GCE/GKE/Cloud Run metadata server hands out the attached
// service account's token (docs PROTOCOLS.md section 4).
//
// Thread-safe. Token() returns the cached token and fetches a new one when
// none is cached or the cached one expires within the refresh margin (5
// minutes, or half the lifetime of short-lived tokens). Concurrent callers
// during a fetch share it: they wait for its outcome instead of starting their
// own, except that callers return a cached token that still works at once. A
// failed fetch is not cached: the next call tries again; meanwhile a cached
// token that has not expired yet is still returned.
//
// Errors (never containing the token, the signed JWT or the key):
//   Unavailable       token endpoint unreachable, HTTP 429/5xx, or an answer
//                     that is not a token response (worth retrying)
//   PermissionDenied  the endpoint refused (HTTP 4xx); the message carries
//                     OAuth's "error: error_description", e.g.
//                     "invalid_grant: Invalid JWT Signature."
class GoogleTokenSource {
 public:
  virtual ~GoogleTokenSource() = default;
  virtual absl::StatusOr<std::string> Token() = 0;
  // The destination refused `token` (HTTP 401, UNAUTHENTICATED): when it is
  // the cached one, the next Token() fetches a new one instead of handing it
  // out until its expiry (a revoked or rotated key then recovers at the next
  // retry). Another token (already replaced) is ignored.
  virtual void Invalidate(absl::string_view token) = 0;
  // Who this is, for logs and error messages, never a secret: "service
  // account NAME@PROJECT.iam.gserviceaccount.com (key 1a2b3c4d…)" or
  // "metadata server metadata.google.internal".
  virtual std::string Describe() const = 0;
};

struct GoogleAuthOptions {
  // A service-account key (JSON, as downloaded from the Cloud console). Empty:
  // the metadata server.
  std::string credentials_file;
  // e.g. "https://www.googleapis.com/auth/pubsub". A service-account key
  // needs at least one; the metadata server uses the instance's scopes when
  // there are none.
  std::vector<std::string> scopes;
  // "host" or "host:port". Empty: $GCE_METADATA_HOST, else
  // metadata.google.internal.
  std::string metadata_host;
  // For an https token_uri (lets tests trust their own CA).
  HttpClientTls tls;
  std::string user_agent = "corral/" CORRAL_VERSION;
  // Bounds each token request, so a hung endpoint cannot hold callers (gRPC
  // calls, output workers) for long.
  absl::Duration request_timeout = absl::Seconds(15);
  Clock* clock = Clock::Real();
};

// Reads and checks the key file (InvalidArgument naming the file and the bad
// field; NotFound etc. when it cannot be read) or the metadata host; fetches
// nothing yet, the first Token() does.
absl::StatusOr<std::unique_ptr<GoogleTokenSource>> MakeGoogleTokenSource(
    const GoogleAuthOptions& options);

}  // namespace corral::core

#endif  // CORRAL_CORE_GOOGLE_AUTH_H_
