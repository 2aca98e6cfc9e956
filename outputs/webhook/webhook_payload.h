#ifndef CORRAL_OUTPUTS_WEBHOOK_WEBHOOK_PAYLOAD_H_
#define CORRAL_OUTPUTS_WEBHOOK_WEBHOOK_PAYLOAD_H_

#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "core/alert.h"
#include "outputs/webhook/webhook_config.h"

namespace corral::outputs {

struct WebhookPayload {
  std::string body;
  std::string content_type;
};

// The request body for `batch` (pure).
// - json: exactly one alert, encoded with core::EncodeFalcoAlert, sent as
//   "application/json".
// - ndjson_batch: one encoded alert per line, each followed by "\n", sent as
//   "application/x-ndjson".
// InvalidArgument for an empty batch, or for json with more than one alert.
absl::StatusOr<WebhookPayload> BuildWebhookPayload(
    WebhookFormat format, std::span<const core::AlertPtr> batch);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_WEBHOOK_WEBHOOK_PAYLOAD_H_
