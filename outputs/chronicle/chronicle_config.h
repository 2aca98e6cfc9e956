#ifndef CORRAL_OUTPUTS_CHRONICLE_CHRONICLE_CONFIG_H_
#define CORRAL_OUTPUTS_CHRONICLE_CHRONICLE_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "core/config_node.h"

namespace corral::outputs {

// Which of Google SecOps' three ingestion paths an output uses
// (PROTOCOLS.md §8).
enum class ChronicleApi {
  kChronicle,  // Chronicle API logs:import (the current one)
  kLegacy,     // Ingestion API unstructuredlogentries:batchCreate
  kWebhook,    // a webhook feed's importPushLogs URL
};

// OAuth scopes per API.
inline constexpr char kChronicleScope[] =
    "https://www.googleapis.com/auth/cloud-platform";
inline constexpr char kLegacyIngestionScope[] =
    "https://www.googleapis.com/auth/malachite-ingestion";

// Request size limits: Google refuses larger requests with 400.
inline constexpr uint64_t kChronicleImportMaxBytes = 4 << 20;
inline constexpr uint64_t kLegacyBatchMaxBytes = 1 << 20;
inline constexpr uint64_t kWebhookFeedMaxBytes = 4 << 20;

// `type: chronicle` keys (DESIGN.md "Configuration").
struct ChronicleConfig {
  ChronicleApi api = ChronicleApi::kChronicle;
  // chronicle: all three; legacy: `instance` is the customer id, `region`
  // picks the regional host.
  std::string project;
  std::string region;
  std::string instance;
  std::string log_type = "FALCO_IDS";
  // Base URL without a trailing slash, defaults filled in per API and region.
  std::string endpoint;
  std::string credentials_file;  // empty: the metadata server
  // webhook: the feed's URL and its two keys (secrets).
  std::string feed_url;
  std::string api_key;
  std::string secret;
  absl::Duration timeout = absl::Seconds(30);  // one request, all of it
  absl::Duration connect_timeout = absl::Seconds(5);

  // The largest request body the API accepts.
  uint64_t MaxRequestBytes() const;
};

// Reads the chronicle keys of an output's mapping:
//   api: chronicle | legacy | webhook (default chronicle)
//   chronicle: project, region, instance (required); log_type (default
//     FALCO_IDS); endpoint (default
//     https://chronicle.REGION.rep.googleapis.com); credentials_file (default:
//     the metadata server)
//   legacy: instance (the customer id, required); region (optional: picks
//     https://REGION-malachiteingestion-pa.googleapis.com); log_type;
//     endpoint (default https://malachiteingestion-pa.googleapis.com);
//     credentials_file
//   webhook: feed_url, api_key, secret (required)
//   any api: timeout (default 30s), connect_timeout (default 5s).
// A key that belongs to another api is an error, so a typo in `api` cannot
// silently send elsewhere. Every problem is recorded on `map`; unknown keys are
// left to the caller. Returns nullopt when anything was wrong. Does no I/O.
std::optional<ChronicleConfig> ParseChronicleConfig(core::ConfigMap& map);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_CHRONICLE_CHRONICLE_CONFIG_H_
