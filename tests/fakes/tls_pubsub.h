#ifndef CORRAL_TESTS_FAKES_TLS_PUBSUB_H_
#define CORRAL_TESTS_FAKES_TLS_PUBSUB_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/fakes/fake_google_token.h"
#include "tests/fakes/fake_pubsub.h"

namespace corral::fakes {

// A started FakePubSub over TLS that takes only tokens its own started
// FakeGoogleTokenServer issued, and the files a client needs to reach it.
// `pubsub` holds a pointer to `*tokens`: keep the token server alive (and
// where it is) as long as the fake.
struct TlsPubSub {
  std::unique_ptr<FakeGoogleTokenServer> tokens;
  std::unique_ptr<FakePubSub> pubsub;
  std::string ca_file;   // the CA that signed the fake's certificate
  std::string key_file;  // a service-account key for `tokens`
};

// Writes test certificates and the key under `dir` (created); with
// `wrong_key` the key is one the token server refuses. No topics yet.
absl::StatusOr<TlsPubSub> StartTlsPubSub(const std::string& dir,
                                         bool wrong_key = false);

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_TLS_PUBSUB_H_
