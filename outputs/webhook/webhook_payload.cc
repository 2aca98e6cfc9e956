#include "outputs/webhook/webhook_payload.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/alert_json.h"

namespace corral::outputs {

absl::StatusOr<WebhookPayload> BuildWebhookPayload(
    WebhookFormat format, std::span<const core::AlertPtr> batch) {
  if (batch.empty())
    return absl::InvalidArgumentError("webhook payload: empty batch");
  WebhookPayload payload;
  switch (format) {
    case WebhookFormat::kJson:
      if (batch.size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "webhook payload: format json sends one alert per request, got ",
            batch.size()));
      }
      payload.body = core::EncodeFalcoAlert(*batch.front());
      payload.content_type = "application/json";
      break;
    case WebhookFormat::kNdjsonBatch:
      for (const core::AlertPtr& alert : batch) {
        core::AppendFalcoAlert(&payload.body, *alert);
        payload.body.push_back('\n');
      }
      payload.content_type = "application/x-ndjson";
      break;
  }
  return payload;
}

}  // namespace corral::outputs
