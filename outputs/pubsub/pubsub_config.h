#ifndef CORRAL_OUTPUTS_PUBSUB_PUBSUB_CONFIG_H_
#define CORRAL_OUTPUTS_PUBSUB_PUBSUB_CONFIG_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/config.h"
#include "core/config_node.h"
#include "core/pubsub_connection.h"

namespace corral::outputs {

// Pub/Sub's limits (cloud.google.com/pubsub/quotas). The service refuses a
// publish request over 10 MiB; like Google's client libraries, corral keeps
// requests under 10 MB (10^7 bytes) to be safe.
inline constexpr int64_t kPubSubMaxMessagesPerRequest = 1000;
inline constexpr uint64_t kPubSubMaxRequestBytes = 10'000'000;
inline constexpr size_t kPubSubMaxAttributes = 100;
inline constexpr size_t kPubSubMaxAttributeKeyBytes = 256;
inline constexpr size_t kPubSubMaxAttributeValueBytes = 1024;

// The attributes corral sets on every message from the alert itself.
inline constexpr std::array<absl::string_view, 4> kPubSubAlertAttributes = {
    "rule", "priority", "source", "hostname"};

// `type: pubsub` keys (DESIGN.md "Configuration").
struct PubSubConfig {
  std::string topic;  // projects/PROJECT/topics/TOPIC
  // endpoint, tls.ca_file, credentials_file; PUBSUB_EMULATOR_HOST applied.
  core::PubSubConnection connection;
  // `attributes`: added to every message, next to kPubSubAlertAttributes.
  std::map<std::string, std::string> attributes;
  absl::Duration timeout = absl::Seconds(30);  // one Publish call
};

// Reads the pubsub keys of an output's mapping:
//   topic (required): projects/PROJECT/topics/TOPIC
//   endpoint (default pubsub.googleapis.com:443), tls: {ca_file},
//     credentials_file (default: the metadata server) — as for
//     ingest.gcpaudit; `env`'s PUBSUB_EMULATOR_HOST overrides them
//     (core::ParsePubSubConnection)
//   attributes: a map of strings. A key may not be one of
//     kPubSubAlertAttributes (corral sets those from each alert: a configured
//     value would either be lost or hide the alert's), may not start with
//     "goog" (reserved by Google), and keys and values must be within
//     Pub/Sub's limits.
//   timeout (default 30s): one Publish call.
// Every problem is recorded on `map`; unknown keys are left to the caller.
// Returns nullopt when anything was wrong. Does no I/O.
std::optional<PubSubConfig> ParsePubSubConfig(core::ConfigMap& map,
                                              const core::EnvLookup& env);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_PUBSUB_PUBSUB_CONFIG_H_
