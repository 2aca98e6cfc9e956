#include "outputs/s3/s3_output.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "outputs/http_classifier.h"
#include "outputs/object_store.h"
#include "outputs/s3/s3_request.h"

namespace corral::outputs {
namespace {

constexpr size_t kMaxMessageBytes = 300;

// The text of the first <NAME>...</NAME> in `xml`, entities decoded, or "".
std::string XmlElement(absl::string_view xml, absl::string_view name) {
  const std::string open = absl::StrCat("<", name, ">");
  const std::string close = absl::StrCat("</", name, ">");
  const size_t start = xml.find(open);
  if (start == absl::string_view::npos) return "";
  const size_t begin = start + open.size();
  const size_t end = xml.find(close, begin);
  if (end == absl::string_view::npos) return "";
  std::string text = absl::StrReplaceAll(
      xml.substr(begin, std::min(end - begin, kMaxMessageBytes)),
      {{"&lt;", "<"},
       {"&gt;", ">"},
       {"&quot;", "\""},
       {"&apos;", "'"},
       {"&amp;", "&"}});
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return text;
}

}  // namespace

SendResult ClassifyS3Response(
    const absl::StatusOr<core::HttpResponse>& response, absl::Time now) {
  SendResult result = ClassifyHttp(response, now);
  if (response.ok() && !result.delivered()) {
    const std::string code = XmlElement(response->body, "Code");
    if (!code.empty()) {
      result.reason = absl::StrCat("HTTP ", response->status, ": ", code);
      if (std::string message = XmlElement(response->body, "Message");
          !message.empty()) {
        absl::StrAppend(&result.reason, ": ", message);
      }
    }
    if (code == "RequestTimeTooSkewed") {
      const std::string request_time =
          XmlElement(response->body, "RequestTime");
      const std::string server_time = XmlElement(response->body, "ServerTime");
      if (!request_time.empty() && !server_time.empty()) {
        absl::StrAppend(&result.reason, " (request time ", request_time,
                        ", server time ", server_time, ")");
      }
      absl::StrAppend(&result.reason,
                      "; S3 refuses requests signed more than 15 minutes off "
                      "its clock: check this host's time sync");
      result = SendResult::Retry(std::move(result.reason), response->status);
    } else if (code == "RequestTimeout" && response->status == 400) {
      result = SendResult::Retry(std::move(result.reason), response->status);
    }
  }
  if (!result.delivered()) result.reason = absl::StrCat("s3: ", result.reason);
  return result;
}

S3Output::S3Output(S3Config config, int64_t max_batch_items,
                   const OutputContext& context)
    : config_(std::move(config)),
      max_batch_items_(std::max<int64_t>(max_batch_items, 1)),
      clock_(context.clock),
      pool_(core::HttpClientTls{}, context.user_agent) {}

SendResult S3Output::Send(std::span<const core::AlertPtr> batch,
                          absl::Time deadline) {
  if (batch.empty()) return SendResult::Delivered();
  absl::StatusOr<StoredObject> object =
      BuildStoredObject(config_.store.layout, batch);
  if (!object.ok()) {
    return SendResult::Permanent(
        absl::StrCat("s3: ", object.status().message()));
  }
  const absl::Time now = clock_->Now();
  const absl::Duration left = deadline - now;
  if (left <= absl::ZeroDuration())
    return SendResult::Retry("s3: deadline passed before the request was sent");

  core::HttpRequest request =
      BuildS3PutObject(config_, std::move(*object), now);
  request.timeout = std::min(config_.store.timeout, left);
  request.connect_timeout =
      std::min(config_.store.connect_timeout, request.timeout);
  absl::StatusOr<core::HttpResponse> response = pool_.Acquire()->Send(request);
  return ClassifyS3Response(response, clock_->Now());
}

std::unique_ptr<Output> CreateS3Output(const core::OutputConfig& common,
                                       core::ConfigMap& map,
                                       const OutputContext& context) {
  std::optional<S3Config> config =
      ParseS3Config(map, [](const char* name) { return std::getenv(name); });
  if (!config) return nullptr;
  const int64_t max_items = config->store.layout.MaxBatchItems(common.batch);
  return std::make_unique<S3Output>(std::move(*config), max_items, context);
}

}  // namespace corral::outputs
