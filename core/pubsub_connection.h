#ifndef CORRAL_CORE_PUBSUB_CONNECTION_H_
#define CORRAL_CORE_PUBSUB_CONNECTION_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/config_node.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace corral::core {

// Google Cloud Pub/Sub's gRPC endpoint and the OAuth scope its clients ask for
// (PROTOCOLS.md §3).
inline constexpr char kPubSubEndpoint[] = "pubsub.googleapis.com:443";
inline constexpr char kPubSubScope[] = "https://www.googleapis.com/auth/pubsub";
// Set to host:port, it sends every Pub/Sub client to the emulator.
inline constexpr char kPubSubEmulatorHostVariable[] = "PUBSUB_EMULATOR_HOST";

// Whether `name` is a Pub/Sub resource name of `collection` ("topics",
// "subscriptions"): projects/PROJECT/COLLECTION/NAME with neither PROJECT nor
// NAME empty or holding a '/'.
bool IsPubSubResourceName(absl::string_view name, absl::string_view collection);

// How a Pub/Sub client (a gcpaudit subscription, a pubsub output) reaches the
// service.
struct PubSubConnection {
  std::string endpoint = kPubSubEndpoint;  // host:port
  // The emulator: no TLS, no credentials.
  bool plaintext = false;
  std::string ca_file;           // tls.ca_file: trust this CA, not the system's
  std::string credentials_file;  // empty: the metadata server
};

// Reads the keys `endpoint`, `credentials_file` and `tls: {ca_file}` of `map`,
// recording every problem there. When `env` has a non-empty
// PUBSUB_EMULATOR_HOST, the connection goes there in plaintext without
// credentials, whatever the keys say (as Google's client libraries do). Does no
// I/O.
PubSubConnection ParsePubSubConnection(ConfigMap& map, const EnvLookup& env);

struct PubSubChannelOptions {
  // gRPC's wait between attempts to reconnect to an endpoint that went away
  // grows from initial to max; zero keeps gRPC's defaults (1 s to 120 s).
  absl::Duration initial_reconnect_backoff = absl::ZeroDuration();
  absl::Duration max_reconnect_backoff = absl::ZeroDuration();
  // The largest response the channel takes; 0 keeps gRPC's default (4 MB).
  int max_receive_bytes = 0;
  std::string user_agent = "corral/" CORRAL_VERSION;
  Clock* clock = Clock::Real();  // for token expiry
};

// A channel to Pub/Sub and who it authenticates as.
struct PubSubChannel {
  std::shared_ptr<grpc::Channel> channel;
  // For logs: "service account ...", "metadata server ...", or "none
  // (emulator)". Never a secret.
  std::string credentials;
  // To call when a call on `channel` ended UNAUTHENTICATED: the token it
  // carried is dropped, so the next call fetches a new one (GoogleGrpcAuth).
  // Does nothing for the emulator.
  std::function<void()> token_refused = [] {};
};

// Builds a channel to `connection.endpoint` without connecting yet: plaintext
// for the emulator; otherwise TLS (the system's roots, or ca_file) with
// "authorization: Bearer" tokens from the shared Google token source
// (credentials_file, else the metadata server; scope kPubSubScope) on every
// call. Reads ca_file and the key file now: InvalidArgument starting
// "tls.ca_file: " or "credentials_file: " when one cannot be read or is no
// key, so that callers can prefix their key path. Thread-safe.
absl::StatusOr<PubSubChannel> MakePubSubChannel(
    const PubSubConnection& connection, const PubSubChannelOptions& options);

}  // namespace corral::core

#endif  // CORRAL_CORE_PUBSUB_CONNECTION_H_
