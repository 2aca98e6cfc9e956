#ifndef CORRAL_SERVER_ALERTS_SERVICE_H_
#define CORRAL_SERVER_ALERTS_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "core/intake.h"
#include "core/metrics.h"
#include "corral/v1/alerts.grpc.pb.h"
#include "router/alert_feed.h"
#include "router/router.h"
#include "router/spool.h"

namespace corral::server {

class AlertProtoCache;

// corral.v1.Alerts (proto/corral/v1/alerts.proto):
//   Publish      validation as `POST /`, then the intake; answers once the
//                alert is durable. Counts corral_inputs_total{source="grpc"}.
//   Subscribe    the live feed through the request's filters; with after_seq,
//                the retained alerts after it from the spool first, then the
//                live feed, with no gap and no duplicate between the two.
//   ListOutputs  the output queues' counts.
// Every call needs listen.auth_token when it is set. Blocking handlers (the
// synchronous gRPC API): Publish waits for the spool, Subscribe for alerts.
// Everything borrowed must outlive the service.
class AlertsService final : public v1::Alerts::Service {
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
  grpc::Status Subscribe(grpc::ServerContext* context,
                         const v1::SubscribeRequest* request,
                         grpc::ServerWriter<v1::Alert>* writer) override;
  grpc::Status ListOutputs(grpc::ServerContext* context,
                           const v1::ListOutputsRequest* request,
                           v1::ListOutputsResponse* response) override;

 private:
  const Options options_;
  core::Intake* const intake_;
  router::AlertFeed* const feed_;
  const router::Spool* const spool_;
  const router::Router* const router_;  // for its output queues
  const std::unique_ptr<AlertProtoCache> proto_cache_;
  core::Counter* accepted_;
  core::Counter* invalid_;
  core::Counter* refused_;
};

}  // namespace corral::server

#endif  // CORRAL_SERVER_ALERTS_SERVICE_H_
