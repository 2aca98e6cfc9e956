#include "server/health_service.h"

#include "absl/time/time.h"

namespace corral::server {
namespace {

using grpc::health::v1::HealthCheckResponse;

bool KnownService(const std::string& name) {
  return name.empty() || name == "corral";
}

}  // namespace

void HealthService::SetServing(bool serving) {
  absl::MutexLock lock(&mu_);
  if (serving_ == serving) return;
  serving_ = serving;
  ++version_;
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  serving_ = false;
  shutdown_ = true;
  ++version_;
}

grpc::Status HealthService::Check(
    grpc::ServerContext*, const grpc::health::v1::HealthCheckRequest* request,
    HealthCheckResponse* response) {
  if (!KnownService(request->service())) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "unknown service " + request->service());
  }
  absl::MutexLock lock(&mu_);
  response->set_status(serving_ ? HealthCheckResponse::SERVING
                                : HealthCheckResponse::NOT_SERVING);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(
    grpc::ServerContext* context,
    const grpc::health::v1::HealthCheckRequest* request,
    grpc::ServerWriter<HealthCheckResponse>* writer) {
  uint64_t seen = 0;
  bool first = true;
  while (!context->IsCancelled()) {
    HealthCheckResponse response;
    {
      absl::MutexLock lock(&mu_);
      // Wake on a change, and now and then to notice a client that went away.
      auto changed = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return first || version_ != seen || shutdown_;
      };
      if (!mu_.AwaitWithTimeout(absl::Condition(&changed), absl::Seconds(1)))
        continue;
      if (shutdown_ && !first) return grpc::Status::OK;
      seen = version_;
      first = false;
      if (!KnownService(request->service())) {
        response.set_status(HealthCheckResponse::SERVICE_UNKNOWN);
      } else {
        response.set_status(serving_ ? HealthCheckResponse::SERVING
                                     : HealthCheckResponse::NOT_SERVING);
      }
    }
    if (!writer->Write(response)) return grpc::Status::OK;
  }
  return grpc::Status::OK;
}

}  // namespace corral::server
