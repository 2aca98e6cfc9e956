#ifndef CORRAL_SERVER_ALERTS_SERVICE_H_
#define CORRAL_SERVER_ALERTS_SERVICE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/intake.h"
#include "core/metrics.h"
#include "corral/v1/alerts.grpc.pb.h"
#include "router/alert_feed.h"
#include "router/router.h"
#include "router/spool.h"
#include "server/subscribe_stream.h"

namespace corral::server {

// corral.v1.Alerts (proto/corral/v1/alerts.proto):
//   Publish      validation as `POST /`, then the intake; answers once the
//                alert is durable. Counts corral_inputs_total{source="grpc"}.
//   Subscribe    the live feed through the request's filters; with after_seq,
//                the retained alerts after it from the spool first, then the
//                live feed, with no gap and no duplicate between the two (see
//                SubscribeStream).
//   ListOutputs  the output queues' counts.
// Every call needs listen.auth_token when it is set. Publish and ListOutputs
// are synchronous handlers (Publish waits for the spool); Subscribe uses the
// callback API, so that a stream holds no thread (resumes read the spool on
// two shared threads, a batch at a time). Everything
// borrowed must outlive the service, and the gRPC server must be shut down
// before the service is destroyed.
class AlertsService final
    : public v1::Alerts::WithRawCallbackMethod_Subscribe<v1::Alerts::Service> {
 public:
  struct Options {
    std::string auth_token;
    int64_t subscriber_buffer = 10000;
  };

  AlertsService(Options options, core::Intake* intake, router::AlertFeed* feed,
                const router::Spool* spool, const router::Router* router,
                core::MetricsRegistry* metrics);
  ~AlertsService() override;

  grpc::Status Publish(grpc::ServerContext* context, const v1::Alert* request,
                       v1::PublishResponse* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Subscribe(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;
  grpc::Status ListOutputs(grpc::ServerContext* context,
                           const v1::ListOutputsRequest* request,
                           v1::ListOutputsResponse* response) override;

 private:
  // Checks a Subscribe request; sets the filter and the seq to resume after.
  grpc::Status ParseSubscribe(const grpc::ByteBuffer& raw,
                              std::optional<router::OutputFilter>* filter,
                              std::optional<uint64_t>* after_seq) const;

  const Options options_;
  core::Intake* const intake_;
  const router::Spool* const spool_;
  const router::Router* const router_;  // for its output queues
  AlertWireCache wire_cache_;
  StreamRunner waker_{&SubscribeStream::Pump, 1};
  // Resumes read the spool on these, a batch at a time, however many there
  // are.
  StreamRunner catch_up_{&SubscribeStream::CatchUpStep, 2};
  const SubscribeShared subscribe_;
  const core::InputCounters inputs_;
};

}  // namespace corral::server

#endif  // CORRAL_SERVER_ALERTS_SERVICE_H_
