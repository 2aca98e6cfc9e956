#ifndef CORRAL_SERVER_FALCO_OUTPUTS_SERVICE_H_
#define CORRAL_SERVER_FALCO_OUTPUTS_SERVICE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "falco/outputs.grpc.pb.h"
#include "router/alert_feed.h"

namespace corral::server {

// Falco's gRPC output API (falco.outputs.service), served as Falco served it
// until 0.43, so that its existing consumers can read from corral:
//   sub  bidirectional: every request from the client makes corral stream
//        the alerts pending for that stream. Each stream is its own
//        subscriber: every connected client sees every alert. A client that
//        lets more than `subscriber_buffer` alerts pile up between requests
//        gets them, then RESOURCE_EXHAUSTED (Falco's API cannot resume).
//   get  streams the alerts pending for `get` callers, then ends. The queue
//        behind it starts with the first `get` and is shared by all `get`
//        callers (each alert goes to one of them, as in Falco); past
//        `subscriber_buffer` alerts the next `get` streams what was kept, then
//        ends with RESOURCE_EXHAUSTED saying alerts were not kept.
// Every call needs listen.auth_token when it is set. The feed must outlive the
// service.
class FalcoOutputsService final : public falco::outputs::service::Service {
 public:
  FalcoOutputsService(std::string auth_token, int64_t subscriber_buffer,
                      router::AlertFeed* feed);
  ~FalcoOutputsService() override;

  grpc::Status sub(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<falco::outputs::response,
                               falco::outputs::request>* stream) override;
  grpc::Status get(
      grpc::ServerContext* context, const falco::outputs::request* request,
      grpc::ServerWriter<falco::outputs::response>* writer) override;

 private:
  const std::string auth_token_;
  const int64_t subscriber_buffer_;
  router::AlertFeed* const feed_;

  absl::Mutex get_mu_;
  std::unique_ptr<router::AlertFeed::Subscription> get_queue_
      ABSL_GUARDED_BY(get_mu_);
};

}  // namespace corral::server

#endif  // CORRAL_SERVER_FALCO_OUTPUTS_SERVICE_H_
