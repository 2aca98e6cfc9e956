#include "outputs/gcs/gcs_output.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "outputs/google_error.h"
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
  SendResult result = ClassifyHttp(response, now);
  if (response.ok() && !result.delivered()) {
    if (std::string google = DescribeGoogleError(response->body);
        !google.empty()) {
      result.reason = absl::StrCat("HTTP ", response->status, ": ", google);
    }
    if (response->status == 401)
      result = SendResult::Retry(std::move(result.reason), 401);
  }
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
  core::GoogleAuthOptions options;
  options.credentials_file = config_.credentials_file;
  options.scopes = {kGcsScope};
  options.user_agent = user_agent_;
  options.clock = clock_;
  absl::StatusOr<std::unique_ptr<core::GoogleTokenSource>> tokens =
      core::MakeGoogleTokenSource(options);
  if (!tokens.ok()) {
    return absl::Status(
        tokens.status().code(),
        absl::StrCat("gcs credentials: ", tokens.status().message()));
  }
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
  absl::StatusOr<std::string> token = tokens_->Token();
  if (!token.ok()) {
    // The token source's messages never hold the token or the key.
    return SendResult::Retry(absl::StrCat("gcs: access token from ",
                                          tokens_->Describe(), ": ",
                                          token.status().message()));
  }
  const absl::Duration left = deadline - clock_->Now();
  if (left <= absl::ZeroDuration())
    return SendResult::Retry(
        "gcs: deadline passed before the request was sent");

  core::HttpRequest request;
  request.method = "POST";
  request.url = GcsUploadUrl(config_, object->key);
  request.headers.emplace_back("Authorization",
                               absl::StrCat("Bearer ", *token));
  request.headers.emplace_back("Content-Type", object->content_type);
  request.body = std::move(object->body);
  request.timeout = std::min(config_.store.timeout, left);
  request.connect_timeout =
      std::min(config_.store.connect_timeout, request.timeout);
  absl::StatusOr<core::HttpResponse> response = pool_.Acquire()->Send(request);
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
