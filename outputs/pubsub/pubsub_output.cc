#include "outputs/pubsub/pubsub_output.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/pubsub_connection.h"
#include "google/pubsub/v1/pubsub.grpc.pb.h"
#include "outputs/pubsub/pubsub_payload.h"

namespace corral::outputs {
namespace {

namespace pubsub = ::google::pubsub::v1;

// How many published alerts of batches the queue gave up on midway stay
// remembered (PartialDeliveries).
constexpr size_t kMaxPublished = 100000;
constexpr size_t kMaxMessageBytes = 300;

}  // namespace

SendResult ClassifyPubSubStatus(const grpc::Status& status) {
  const grpc::StatusCode code = status.error_code();
  if (code == grpc::StatusCode::OK) return SendResult::Delivered(0);
  std::string message = status.error_message();
  if (message.size() > kMaxMessageBytes) message.resize(kMaxMessageBytes);
  // gRPC's codes are absl's, number for number, and absl has their names.
  std::string reason = absl::StrCat(
      "pubsub: ", absl::StatusCodeToString(static_cast<absl::StatusCode>(code)),
      message.empty() ? "" : ": ", message);
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return SendResult::Retry(std::move(reason), code);
    default:
      return SendResult::Permanent(std::move(reason), code);
  }
}

struct PubSubOutput::Client {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pubsub::Publisher::Stub> stub;
  std::function<void()> token_refused;
};

PubSubOutput::PubSubOutput(PubSubConfig config, int64_t max_batch_items,
                           const core::RetryConfig& retry,
                           const OutputContext& context)
    : config_(std::move(config)),
      max_batch_items_(std::clamp<int64_t>(max_batch_items, 1,
                                           kPubSubMaxMessagesPerRequest)),
      initial_reconnect_backoff_(retry.initial_backoff),
      max_reconnect_backoff_(retry.max_backoff),
      clock_(context.clock),
      user_agent_(context.user_agent),
      published_(kMaxPublished) {}

PubSubOutput::~PubSubOutput() = default;

absl::Status PubSubOutput::Start() {
  core::PubSubChannelOptions options;
  options.initial_reconnect_backoff = initial_reconnect_backoff_;
  options.max_reconnect_backoff = max_reconnect_backoff_;
  options.user_agent = user_agent_;
  options.clock = clock_;
  absl::StatusOr<core::PubSubChannel> channel =
      core::MakePubSubChannel(config_.connection, options);
  if (!channel.ok()) {
    return absl::Status(channel.status().code(),
                        absl::StrCat("pubsub ", channel.status().message()));
  }
  auto client = std::make_unique<Client>();
  client->channel = std::move(channel->channel);
  client->token_refused = std::move(channel->token_refused);
  client->stub = pubsub::Publisher::NewStub(client->channel);
  client_ = std::move(client);
  return absl::OkStatus();
}

SendResult PubSubOutput::Send(std::span<const core::AlertPtr> batch,
                              absl::Time deadline) {
  if (client_ == nullptr)
    return SendResult::Retry("pubsub: output not started");
  std::vector<core::AlertPtr> pending = published_.Undelivered(batch);
  auto forget_batch = [&] { published_.Forget(batch); };
  if (pending.empty()) {
    forget_batch();
    return SendResult::Delivered();
  }
  absl::StatusOr<std::vector<PubSubRequest>> requests = BuildPublishRequests(
      config_.topic, pending, config_.attributes, kPubSubMaxRequestBytes,
      kPubSubMaxMessagesPerRequest);
  if (!requests.ok()) {
    forget_batch();
    return SendResult::Permanent(std::string(requests.status().message()));
  }

  for (PubSubRequest& request : *requests) {
    const absl::Duration left = deadline - clock_->Now();
    if (left <= absl::ZeroDuration()) {
      return SendResult::Retry(
          "pubsub: deadline passed before the request was sent");
    }
    grpc::ClientContext context;
    context.set_deadline(
        std::chrono::system_clock::now() +
        absl::ToChronoNanoseconds(std::min(left, config_.timeout)));
    pubsub::PublishResponse response;
    const grpc::Status status =
        client_->stub->Publish(&context, request.request, &response);
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      client_->token_refused();  // the retry fetches a new token
    }
    SendResult result = ClassifyPubSubStatus(status);
    if (!result.delivered()) {
      // After a Retry the queue sends the whole batch again: what went
      // through is remembered and skipped then. A permanent failure ends it.
      if (result.kind == SendResult::Kind::kPermanent) forget_batch();
      return result;
    }
    if (requests->size() > 1) {
      for (size_t i : request.alerts) published_.Add(*pending[i]);
    }
  }
  forget_batch();
  return SendResult::Delivered();
}

std::unique_ptr<Output> CreatePubSubOutput(const core::OutputConfig& common,
                                           core::ConfigMap& map,
                                           const OutputContext& context) {
  std::optional<PubSubConfig> config = ParsePubSubConfig(map, context.env);
  if (!config) return nullptr;
  return std::make_unique<PubSubOutput>(
      std::move(*config), common.batch.max_items, common.retry, context);
}

}  // namespace corral::outputs
