#ifndef CORRAL_TESTS_FAKES_FAKE_GOOGLE_TOKEN_H_
#define CORRAL_TESTS_FAKES_FAKE_GOOGLE_TOKEN_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "tests/fakes/fake_http_server.h"

namespace corral::fakes {

// Google's OAuth2 token endpoint and the GCE metadata server's token endpoint
// in one fake, on 127.0.0.1 (an ephemeral port). It holds a service account's
// RSA-2048 key (new for every instance) and checks requests as Google does:
//
//   POST /token (the key file's token_uri): form body with grant_type
//     urn:ietf:params:oauth:grant-type:jwt-bearer and an RS256 JWT assertion
//     whose signature verifies with the account's public key and whose kid,
//     iss, aud (== token_uri), scope (non-empty), iat (now ± 5 min) and exp
//     (at most an hour after iat) are right. Otherwise HTTP 400
//     {"error":"invalid_grant","error_description":"..."}.
//   GET /computeMetadata/v1/instance/service-accounts/default/token
//     [?scopes=a,b]: requires "Metadata-Flavor: Google" (HTTP 403 otherwise),
//     so the fake can be GCE_METADATA_HOST.
//
// Both answer {"access_token":"ya29.fake-N-RANDOM","expires_in":...,
// "token_type":"Bearer"}. Other fakes (Pub/Sub, GCS) check Authorization
// headers with IsValidToken(). Thread-safe.
class FakeGoogleTokenServer {
 public:
  static constexpr char kClientEmail[] =
      "corral-test@test-project.iam.gserviceaccount.com";
  static constexpr char kProjectId[] = "test-project";
  static constexpr char kMetadataPath[] =
      "/computeMetadata/v1/instance/service-accounts/default/token";

  // `clock` decides iat checks and token expiry; share the one given to the
  // code under test.
  explicit FakeGoogleTokenServer(core::Clock* clock = core::Clock::Real());
  ~FakeGoogleTokenServer();
  FakeGoogleTokenServer(const FakeGoogleTokenServer&) = delete;
  FakeGoogleTokenServer& operator=(const FakeGoogleTokenServer&) = delete;

  absl::Status Start();
  int port() const;
  // "http://127.0.0.1:PORT/token".
  std::string TokenUri() const;
  // "127.0.0.1:PORT", for GoogleAuthOptions::metadata_host or
  // GCE_METADATA_HOST.
  std::string MetadataHost() const;
  std::string private_key_id() const;

  // A service-account key file (as the Cloud console issues them) whose
  // token_uri is this server.
  absl::Status WriteServiceAccountKey(const std::string& path) const;
  // The same account and key id, but a different private key: the fake
  // rejects its assertions with "invalid_grant: Invalid JWT Signature.".
  absl::Status WriteServiceAccountKeyWithWrongKey(
      const std::string& path) const;
  // The PEM private key in the files WriteServiceAccountKey writes, so tests
  // can check it never leaks into messages.
  std::string PrivateKeyPem() const;

  // expires_in of tokens issued from now on (whole seconds; default 1 hour).
  void SetTokenLifetime(absl::Duration lifetime);
  // Delays every answer, so tests can make callers overlap.
  void SetResponseDelay(absl::Duration delay);
  // The next `n` requests (any path) get HTTP `status` with a Google-style
  // JSON error body, before any checks.
  void FailNext(size_t n, int status);

  // `bearer`: a token, or an Authorization value "Bearer TOKEN". True if this
  // fake issued it and it has not expired.
  bool IsValidToken(absl::string_view bearer) const;
  // Every token issued so far stops being valid now, before its expiry (as
  // when Google revokes them).
  void RevokeAll();
  // The most recently issued token, or "".
  std::string LastToken() const;
  size_t TokensIssued() const;
  // Requests refused by the fake's checks (not FailNext's).
  size_t Rejected() const;
  // Why the last refused request was refused, e.g. "Invalid JWT Signature.".
  std::string LastRejection() const;
  // The scopes of each request that got a token, in order (empty for a
  // metadata request without ?scopes=).
  std::vector<std::vector<std::string>> ScopeRequests() const;

  // The underlying server: recorded requests, Stop() to simulate an outage.
  FakeHttpServer& http();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_FAKE_GOOGLE_TOKEN_H_
