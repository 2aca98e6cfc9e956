#include "server/alerts_service.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/alert_proto.h"
#include "server/grpc_auth.h"

namespace corral::server {
namespace {

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace

AlertsService::AlertsService(Options options, core::Intake* intake,
                             router::AlertFeed* feed,
                             const router::Spool* spool,
                             const router::Router* router,
                             core::MetricsRegistry* metrics)
    : options_(std::move(options)),
      intake_(intake),
      spool_(spool),
      router_(router),
      subscribe_{.spool = spool,
                 .feed = feed,
                 .subscriber_buffer = options_.subscriber_buffer,
                 .cache = &wire_cache_,
                 .waker = &waker_,
                 .catch_up = &catch_up_},
      inputs_(metrics, "grpc") {}

AlertsService::~AlertsService() = default;

grpc::Status AlertsService::Publish(grpc::ServerContext* context,
                                    const v1::Alert* request,
                                    v1::PublishResponse* response) {
  if (grpc::Status auth = CheckBearerToken(*context, options_.auth_token);
      !auth.ok()) {
    return auth;
  }
  absl::StatusOr<core::Alert> alert = AlertFromProto(*request);
  if (!alert.ok()) {
    inputs_.CountInvalid();
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("invalid alert: ", alert.status().message()));
  }
  // Set here rather than by the router, so that the reply can carry it.
  if (alert->uuid.empty()) alert->uuid = core::NewUuid();
  const std::string uuid = alert->uuid;
  absl::Notification done;
  absl::StatusOr<uint64_t> result;
  intake_->Submit(*std::move(alert), [&](absl::StatusOr<uint64_t> seq) {
    result = std::move(seq);
    done.Notify();
  });
  // The spool answers every append (durable or refused), also at shutdown.
  done.WaitForNotification();
  inputs_.Count(result);
  if (!result.ok()) return ToGrpc(result.status());
  response->set_seq(*result);
  response->set_uuid(uuid);
  return grpc::Status::OK;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* AlertsService::Subscribe(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  if (grpc::Status auth = CheckBearerToken(*context, options_.auth_token);
      !auth.ok()) {
    return new RefusedStream(auth);
  }
  std::optional<router::OutputFilter> filter;
  std::optional<uint64_t> after_seq;
  if (grpc::Status s = ParseSubscribe(*request, &filter, &after_seq); !s.ok()) {
    return new RefusedStream(s);
  }
  return new SubscribeStream(subscribe_, *std::move(filter), after_seq);
}

grpc::Status AlertsService::ParseSubscribe(
    const grpc::ByteBuffer& raw, std::optional<router::OutputFilter>* filter,
    std::optional<uint64_t>* after_seq) const {
  v1::SubscribeRequest request;
  grpc::ByteBuffer copy(raw);  // Deserialize takes the buffer's contents
  if (grpc::Status parsed =
          grpc::SerializationTraits<v1::SubscribeRequest>::Deserialize(
              &copy, &request);
      !parsed.ok()) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("not a SubscribeRequest: ", parsed.error_message()));
  }
  core::Priority min_priority = core::Priority::kDebug;
  if (request.min_priority() != v1::PRIORITY_UNSPECIFIED) {
    absl::StatusOr<core::Priority> p =
        PriorityFromProto(request.min_priority());
    if (!p.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("min_priority: ", p.status().message()));
    }
    min_priority = *p;
  }
  filter->emplace(
      min_priority,
      std::vector<std::string>(request.rules().begin(), request.rules().end()),
      std::vector<std::string>(request.tags().begin(), request.tags().end()),
      std::vector<std::string>(request.sources().begin(),
                               request.sources().end()));
  if (!request.has_after_seq()) return grpc::Status::OK;
  const uint64_t after = request.after_seq();
  const uint64_t head = spool_->last_seq();
  if (after > head) {
    return grpc::Status(
        grpc::StatusCode::OUT_OF_RANGE,
        absl::StrCat("after_seq ", after, " is past the last seq handed out (",
                     head, ")"));
  }
  const uint64_t first = spool_->first_seq();
  // 0 asks for everything retained, whatever that is.
  if (after != 0 && after + 1 < first) {
    return grpc::Status(
        grpc::StatusCode::OUT_OF_RANGE,
        absl::StrCat("alerts after seq ", after,
                     " are no longer retained (the oldest kept is ", first,
                     "); resubscribe without after_seq, or with after_seq=0 "
                     "for everything retained"));
  }
  *after_seq = after;
  return grpc::Status::OK;
}

grpc::Status AlertsService::ListOutputs(grpc::ServerContext* context,
                                        const v1::ListOutputsRequest* request,
                                        v1::ListOutputsResponse* response) {
  if (grpc::Status auth = CheckBearerToken(*context, options_.auth_token);
      !auth.ok()) {
    return auth;
  }
  for (const auto& queue : *router_->queues()) {
    const router::OutputQueue::Stats stats = queue->stats();
    v1::OutputStatus* out = response->add_outputs();
    out->set_name(queue->name());
    out->set_type(queue->type());
    out->set_queue_depth(stats.queued);
    out->set_delivered(stats.delivered);
    out->set_retries(stats.retries);
    out->set_dead_lettered(stats.failed);
  }
  return grpc::Status::OK;
}

}  // namespace corral::server
