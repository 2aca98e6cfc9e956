#ifndef CORRAL_OUTPUTS_WEBHOOK_WEBHOOK_CONFIG_H_
#define CORRAL_OUTPUTS_WEBHOOK_WEBHOOK_CONFIG_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "core/config_node.h"
#include "core/http_client.h"

namespace corral::outputs {

enum class WebhookFormat {
  kJson,         // one alert per request, its Falco JSON
  kNdjsonBatch,  // a batch per request, one alert JSON per line
};

// `type: webhook` keys (DESIGN.md "Configuration").
struct WebhookConfig {
  std::string url;  // http:// or https://; its path and query may hold secrets
  std::string method = "POST";  // POST | PUT
  // Sent as given; a Content-Type here replaces the payload's.
  std::vector<std::pair<std::string, std::string>> headers;
  core::HttpClientTls tls;
  WebhookFormat format = WebhookFormat::kJson;
  absl::Duration timeout = absl::Seconds(10);  // one request, all of it
  absl::Duration connect_timeout = absl::Seconds(5);
};

// Reads the webhook keys of an output's mapping: `url` (required, http(s)://),
// `method` (POST|PUT, any case; default POST), `headers` (map), `tls{ca_file,
// cert_file, key_file, insecure_skip_verify}` (cert_file and key_file go
// together), `format` (json|ndjson_batch; default json), `timeout` (default
// 10s), `connect_timeout` (default 5s). Every problem is recorded on `map`
// (unknown keys inside `tls` too; unknown top-level keys are left to the
// caller). Returns nullopt when anything was wrong. Does no I/O.
std::optional<WebhookConfig> ParseWebhookConfig(core::ConfigMap& map);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_WEBHOOK_WEBHOOK_CONFIG_H_
