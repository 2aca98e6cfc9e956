#ifndef CORRAL_SERVER_HEALTH_SERVICE_H_
#define CORRAL_SERVER_HEALTH_SERVICE_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace corral::server {

// grpc.health.v1.Health for corral as a whole (service "" or "corral"): SERVING
// while corral accepts alerts, NOT_SERVING while it starts or drains. Watch
// streams every change until the client goes away or the server shuts down.
// Thread-safe.
class HealthService final : public grpc::health::v1::Health::Service {
 public:
  void SetServing(bool serving);
  // Ends every Watch stream (for shutdown).
  void Shutdown();

  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>*
                         writer) override;

 private:
  absl::Mutex mu_;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t version_ ABSL_GUARDED_BY(mu_) =
      0;  // bumped on every change, for Watch
};

}  // namespace corral::server

#endif  // CORRAL_SERVER_HEALTH_SERVICE_H_
