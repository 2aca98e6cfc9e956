#include "server/alerts_service.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "server/alert_proto.h"
#include "server/grpc_auth.h"

namespace corral::server {
namespace {

// How long a live stream waits for alerts before checking that its client is
// still there.
constexpr absl::Duration kLivePoll = absl::Milliseconds(500);
// Alerts taken from the feed per wake-up. Each is its own Write: gRPC's
// buffer hint would coalesce them, but a hinted write can stay unsent behind
// a write stalled by flow control, starving a slow reader.
constexpr size_t kWriteBatch = 256;
// How long a live stream that has alerts waits for more before writing: a
// busy stream then writes batches instead of waking once per alert.
constexpr absl::Duration kLiveLinger = absl::Milliseconds(2);

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

}  // namespace

// Recently converted alerts by seq, so that with many subscribers each alert
// is converted (its output fields parsed, its proto built) once, not once per
// stream. Slots are overwritten as seqs advance: memory stays bounded.
class AlertProtoCache {
 public:
  std::shared_ptr<const v1::Alert> Get(const core::Alert& alert) {
    Slot& slot = slots_[alert.seq % slots_.size()];
    {
      absl::MutexLock lock(&slot.mu);
      if (slot.proto != nullptr && slot.seq == alert.seq) return slot.proto;
    }
    auto proto = std::make_shared<v1::Alert>();
    AlertToProto(alert, proto.get());
    absl::MutexLock lock(&slot.mu);
    slot.seq = alert.seq;
    slot.proto = proto;
    return proto;
  }

 private:
  struct Slot {
    absl::Mutex mu;
    uint64_t seq = 0;
    std::shared_ptr<const v1::Alert> proto;
  };
  std::array<Slot, 1024> slots_;
};

AlertsService::AlertsService(Options options, core::Intake* intake,
                             router::AlertFeed* feed,
                             const router::Spool* spool,
                             const router::Router* router,
                             core::MetricsRegistry* metrics)
    : options_(std::move(options)),
      intake_(intake),
      feed_(feed),
      spool_(spool),
      router_(router),
      proto_cache_(std::make_unique<AlertProtoCache>()) {
  auto* inputs = metrics->AddCounter("corral_inputs_total",
                                     "Alerts received, by input and outcome.",
                                     {"source", "status"});
  accepted_ = inputs->With({"grpc", "accepted"});
  invalid_ = inputs->With({"grpc", "invalid"});
  refused_ = inputs->With({"grpc", "refused"});
}

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
    invalid_->Inc();
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
  if (!result.ok()) {
    if (absl::IsInvalidArgument(result.status())) {
      invalid_->Inc();
    } else {
      refused_->Inc();
    }
    return ToGrpc(result.status());
  }
  accepted_->Inc();
  response->set_seq(*result);
  response->set_uuid(uuid);
  return grpc::Status::OK;
}

grpc::Status AlertsService::Subscribe(grpc::ServerContext* context,
                                      const v1::SubscribeRequest* request,
                                      grpc::ServerWriter<v1::Alert>* writer) {
  if (grpc::Status auth = CheckBearerToken(*context, options_.auth_token);
      !auth.ok()) {
    return auth;
  }
  core::Priority min_priority = core::Priority::kDebug;
  if (request->min_priority() != v1::PRIORITY_UNSPECIFIED) {
    absl::StatusOr<core::Priority> p =
        PriorityFromProto(request->min_priority());
    if (!p.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("min_priority: ", p.status().message()));
    }
    min_priority = *p;
  }
  const router::OutputFilter filter(
      min_priority, {request->rules().begin(), request->rules().end()},
      {request->tags().begin(), request->tags().end()},
      {request->sources().begin(), request->sources().end()});

  // The highest seq looked at (sent or filtered out): resuming after it
  // misses nothing.
  uint64_t last = 0;
  bool client_gone = false;
  // Streams the retained alerts after `last` from the spool.
  auto catch_up = [&]() -> grpc::Status {
    absl::Status read = spool_->ReadFrom(last, [&](core::Alert alert) {
      if (context->IsCancelled()) {
        client_gone = true;
        return false;
      }
      last = alert.seq;
      if (!filter.Matches(alert)) return true;
      v1::Alert proto;
      AlertToProto(alert, &proto);
      if (!writer->Write(proto)) {
        client_gone = true;
        return false;
      }
      return true;
    });
    if (absl::IsOutOfRange(read)) {
      return grpc::Status(
          grpc::StatusCode::OUT_OF_RANGE,
          absl::StrCat("alerts after seq ", last, " are no longer retained (",
                       read.message(),
                       "); resubscribe without after_seq, or with "
                       "after_seq=0 for everything retained"));
    }
    if (!read.ok()) {
      return grpc::Status(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("cannot read the spool: ", read.message()));
    }
    return grpc::Status::OK;
  };

  std::unique_ptr<router::AlertFeed::Subscription> live;
  if (request->has_after_seq()) {
    const uint64_t after = request->after_seq();
    const uint64_t head = spool_->last_seq();
    if (after > head) {
      return grpc::Status(
          grpc::StatusCode::OUT_OF_RANGE,
          absl::StrCat("after_seq ", after,
                       " is past the last seq handed out (", head, ")"));
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
    last = after;
    // Most of the backlog first, without holding a live buffer; then join
    // the live feed and read what became durable meanwhile. Every alert is
    // in one of the two; the seq check below drops the overlap.
    if (grpc::Status s = catch_up(); !s.ok() || client_gone) return s;
    live = feed_->Subscribe(filter, options_.subscriber_buffer);
    if (grpc::Status s = catch_up(); !s.ok() || client_gone) return s;
  } else {
    live = feed_->Subscribe(filter, options_.subscriber_buffer);
  }

  while (true) {
    router::AlertFeed::Batch batch =
        live->Next(absl::Now() + kLivePoll, kWriteBatch, kLiveLinger);
    for (const core::AlertPtr& pending : batch.alerts) {
      const core::Alert& alert = *pending;
      if (alert.seq <= last) continue;
      last = alert.seq;
      if (!writer->Write(*proto_cache_->Get(alert))) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      }
    }
    if (batch.overflowed) {
      return grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat(
              "subscriber too slow: more than ", options_.subscriber_buffer,
              " alerts waited for it; resubscribe with after_seq=", last));
    }
    if (batch.closed) {
      return grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat("corral is shutting down; resubscribe with after_seq=",
                       last));
    }
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
  }
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
