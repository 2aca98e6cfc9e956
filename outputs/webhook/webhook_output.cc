#include "outputs/webhook/webhook_output.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "outputs/http_classifier.h"
#include "outputs/webhook/webhook_payload.h"

namespace corral::outputs {
namespace {

absl::Status CheckReadable(absl::string_view key, const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> content = core::ReadFileToString(path);
  if (!content.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("webhook tls.", key, ": ", content.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

WebhookOutput::WebhookOutput(WebhookConfig config, int64_t max_batch_items,
                             const OutputContext& context)
    : config_(std::move(config)),
      max_batch_items_(std::max<int64_t>(max_batch_items, 1)),
      clock_(context.clock),
      pool_(config_.tls, context.user_agent) {}

absl::Status WebhookOutput::Start() {
  for (const auto& [key, path] :
       {std::pair<absl::string_view, const std::string&>{"ca_file",
                                                         config_.tls.ca_file},
        {"cert_file", config_.tls.cert_file},
        {"key_file", config_.tls.key_file}}) {
    if (absl::Status s = CheckReadable(key, path); !s.ok()) return s;
  }
  return absl::OkStatus();
}

SendResult WebhookOutput::Send(std::span<const core::AlertPtr> batch,
                               absl::Time deadline) {
  if (batch.empty()) return SendResult::Delivered();
  absl::StatusOr<WebhookPayload> payload =
      BuildWebhookPayload(config_.format, batch);
  if (!payload.ok())
    return SendResult::Permanent(std::string(payload.status().message()));

  const absl::Duration left = deadline - clock_->Now();
  if (left <= absl::ZeroDuration()) {
    return SendResult::Retry("deadline passed before the request was sent");
  }

  core::HttpRequest request;
  request.method = config_.method;
  request.url = config_.url;
  request.timeout = std::min(config_.timeout, left);
  request.connect_timeout = std::min(config_.connect_timeout, request.timeout);
  // The user's headers win over our Content-Type.
  bool custom_content_type = false;
  for (const auto& [name, value] : config_.headers) {
    if (absl::EqualsIgnoreCase(name, "content-type"))
      custom_content_type = true;
  }
  if (!custom_content_type)
    request.headers.emplace_back("Content-Type", payload->content_type);
  for (const auto& header : config_.headers) request.headers.push_back(header);
  request.body = std::move(payload->body);

  absl::StatusOr<core::HttpResponse> response = pool_.Acquire()->Send(request);
  return ClassifyHttp(response, clock_->Now());
}

std::unique_ptr<Output> CreateWebhookOutput(const core::OutputConfig& common,
                                            core::ConfigMap& map,
                                            const OutputContext& context) {
  std::optional<WebhookConfig> config = ParseWebhookConfig(map);
  if (!config) return nullptr;
  const int64_t max_items = config->format == WebhookFormat::kNdjsonBatch
                                ? common.batch.max_items
                                : 1;
  return std::make_unique<WebhookOutput>(std::move(*config), max_items,
                                         context);
}

}  // namespace corral::outputs
