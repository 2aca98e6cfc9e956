#include "tests/fakes/tls_pubsub.h"

#include <filesystem>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "tests/fakes/test_certs.h"

namespace corral::fakes {

absl::StatusOr<TlsPubSub> StartTlsPubSub(const std::string& dir,
                                         bool wrong_key) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  absl::StatusOr<TestCerts> certs = GenerateTestCerts(dir);
  if (!certs.ok()) return certs.status();
  TlsPubSub s;
  s.ca_file = certs->ca_cert;
  s.key_file = dir + "/sa.json";
  s.tokens = std::make_unique<FakeGoogleTokenServer>();
  if (absl::Status st = s.tokens->Start(); !st.ok()) return st;
  if (absl::Status st =
          wrong_key ? s.tokens->WriteServiceAccountKeyWithWrongKey(s.key_file)
                    : s.tokens->WriteServiceAccountKey(s.key_file);
      !st.ok()) {
    return st;
  }
  s.pubsub = std::make_unique<FakePubSub>(FakeTlsOptions{
      .cert_file = certs->server_cert, .key_file = certs->server_key});
  FakeGoogleTokenServer* tokens = s.tokens.get();
  s.pubsub->RequireBearer([tokens](absl::string_view token) {
    return tokens->IsValidToken(token);
  });
  if (absl::Status st = s.pubsub->Start(); !st.ok()) return st;
  return s;
}

}  // namespace corral::fakes
