#include "outputs/gcs/gcs_output.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "outputs/google_error.h"
#include "outputs/google_token.h"
#include "outputs/http_classifier.h"
#include "outputs/object_store.h"

namespace corral::outputs {

std::string GcsUploadUrl(const GcsConfig& config, absl::string_view name) {
  return absl::StrCat(config.store.endpoint, "/upload/storage/v1/b/",
                      config.bucket,
                      "/o?uploadType=media&name=", core::PercentEncode(name));
}

SendResult ClassifyGcsResponse(
    const absl::StatusOr<core::HttpResponse>& response, absl::Time now) {
  SendResult result = ClassifyGoogleHttp(response, now);
  if (!result.delivered()) result.reason = absl::StrCat("gcs: ", result.reason);
  return result;
}

GcsOutput::GcsOutput(GcsConfig config, int64_t max_batch_items,
                     const OutputContext& context)
    : config_(std::move(config)),
      max_batch_items_(std::max<int64_t>(max_batch_items, 1)),
      clock_(context.clock),
      user_agent_(context.user_agent),
      pool_(core::HttpClientTls{}, context.user_agent) {}

absl::Status GcsOutput::Start() {
  absl::StatusOr<std::unique_ptr<core::GoogleTokenSource>> tokens =
      MakeOutputTokenSource("gcs", config_.credentials_file, kGcsScope,
                            user_agent_, clock_);
  if (!tokens.ok()) return tokens.status();
  tokens_ = std::move(*tokens);
  return absl::OkStatus();
}

SendResult GcsOutput::Send(std::span<const core::AlertPtr> batch,
                           absl::Time deadline) {
  if (batch.empty()) return SendResult::Delivered();
  if (tokens_ == nullptr) return SendResult::Retry("gcs: output not started");
  absl::StatusOr<StoredObject> object =
      BuildStoredObject(config_.store.layout, batch);
  if (!object.ok()) {
    return SendResult::Permanent(
        absl::StrCat("gcs: ", object.status().message()));
  }
  core::HttpRequest request;
  request.method = "POST";
  request.url = GcsUploadUrl(config_, object->key);
  if (absl::Status s = AddBearerToken(*tokens_, request); !s.ok()) {
    return SendResult::Retry(absl::StrCat("gcs: ", s.message()));
  }
  const absl::Duration left = deadline - clock_->Now();
  if (left <= absl::ZeroDuration())
    return SendResult::Retry(
        "gcs: deadline passed before the request was sent");

  request.headers.emplace_back("Content-Type", object->content_type);
  request.body = std::move(object->body);
  request.timeout = std::min(config_.store.timeout, left);
  request.connect_timeout =
      std::min(config_.store.connect_timeout, request.timeout);
  absl::StatusOr<core::HttpResponse> response = pool_.Acquire()->Send(request);
  DropRefusedToken(*tokens_, request, response);
  return ClassifyGcsResponse(response, clock_->Now());
}

std::unique_ptr<Output> CreateGcsOutput(const core::OutputConfig& common,
                                        core::ConfigMap& map,
                                        const OutputContext& context) {
  std::optional<GcsConfig> config = ParseGcsConfig(map);
  if (!config) return nullptr;
  const int64_t max_items = config->store.layout.MaxBatchItems(common.batch);
  return std::make_unique<GcsOutput>(std::move(*config), max_items, context);
}

}  // namespace corral::outputs
