#include "outputs/chronicle/chronicle_output.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "outputs/chronicle/chronicle_payload.h"
#include "outputs/google_error.h"
#include "outputs/google_token.h"
#include "outputs/http_classifier.h"

namespace corral::outputs {
namespace {

// How many imported alerts of batches the queue gave up on midway stay
// remembered (PartialDeliveries).
constexpr size_t kMaxImported = 100000;

}  // namespace

SendResult ClassifyChronicleResponse(
    const absl::StatusOr<core::HttpResponse>& response, absl::Time now) {
  SendResult result = ClassifyGoogleHttp(response, now);
  if (response.ok() && !result.delivered() && response->status == 429) {
    result.retry_after = std::max(result.retry_after, kChronicleMin429Wait);
  }
  if (!result.delivered())
    result.reason = absl::StrCat("chronicle: ", result.reason);
  return result;
}

ChronicleOutput::ChronicleOutput(ChronicleConfig config,
                                 int64_t max_batch_items,
                                 const OutputContext& context)
    : config_(std::move(config)),
      url_(ChronicleRequestUrl(config_)),
      max_batch_items_(std::max<int64_t>(max_batch_items, 1)),
      clock_(context.clock),
      user_agent_(context.user_agent),
      pool_(core::HttpClientTls{}, context.user_agent),
      imported_(kMaxImported) {}

absl::Status ChronicleOutput::Start() {
  if (config_.api == ChronicleApi::kWebhook) return absl::OkStatus();
  absl::StatusOr<std::unique_ptr<core::GoogleTokenSource>> tokens =
      MakeOutputTokenSource("chronicle", config_.credentials_file,
                            config_.api == ChronicleApi::kLegacy
                                ? kLegacyIngestionScope
                                : kChronicleScope,
                            user_agent_, clock_);
  if (!tokens.ok()) return tokens.status();
  tokens_ = std::move(*tokens);
  return absl::OkStatus();
}

SendResult ChronicleOutput::Post(std::string body, absl::Time deadline) {
  core::HttpRequest request;
  request.method = "POST";
  request.url = url_;
  request.headers.emplace_back("Content-Type", kChronicleContentType);
  if (config_.api == ChronicleApi::kWebhook) {
    request.headers.emplace_back("X-goog-api-key", config_.api_key);
    request.headers.emplace_back("X-Webhook-Access-Key", config_.secret);
  } else {
    if (tokens_ == nullptr)
      return SendResult::Retry("chronicle: output not started");
    if (absl::Status s = AddBearerToken(*tokens_, request); !s.ok()) {
      return SendResult::Retry(absl::StrCat("chronicle: ", s.message()));
    }
  }
  const absl::Duration left = deadline - clock_->Now();
  if (left <= absl::ZeroDuration()) {
    return SendResult::Retry(
        "chronicle: deadline passed before the request was sent");
  }
  request.timeout = std::min(config_.timeout, left);
  request.connect_timeout = std::min(config_.connect_timeout, request.timeout);
  request.body = std::move(body);
  absl::StatusOr<core::HttpResponse> response = pool_.Acquire()->Send(request);
  if (tokens_ != nullptr) DropRefusedToken(*tokens_, request, response);
  return ClassifyChronicleResponse(response, clock_->Now());
}

SendResult ChronicleOutput::Send(std::span<const core::AlertPtr> batch,
                                 absl::Time deadline) {
  std::vector<core::AlertPtr> pending = imported_.Undelivered(batch);
  auto forget_batch = [&] { imported_.Forget(batch); };
  if (pending.empty()) {
    forget_batch();
    return SendResult::Delivered();
  }

  absl::StatusOr<std::vector<ChronicleRequest>> requests =
      BuildChronicleRequests(config_, pending, clock_->Now(),
                             config_.MaxRequestBytes());
  if (!requests.ok()) {
    forget_batch();
    return SendResult::Permanent(std::string(requests.status().message()));
  }
  SendResult result = SendResult::Delivered();
  for (ChronicleRequest& request : *requests) {
    result = Post(std::move(request.body), deadline);
    if (!result.delivered()) {
      // After a Retry the queue sends the whole batch again: what went
      // through is remembered and skipped then. A permanent failure ends it.
      if (result.kind == SendResult::Kind::kPermanent) forget_batch();
      return result;
    }
    if (requests->size() > 1) {
      for (size_t i : request.alerts) imported_.Add(*pending[i]);
    }
  }
  forget_batch();
  return result;
}

std::unique_ptr<Output> CreateChronicleOutput(const core::OutputConfig& common,
                                              core::ConfigMap& map,
                                              const OutputContext& context) {
  std::optional<ChronicleConfig> config = ParseChronicleConfig(map);
  if (!config) return nullptr;
  return std::make_unique<ChronicleOutput>(std::move(*config),
                                           common.batch.max_items, context);
}

}  // namespace corral::outputs
