#ifndef CORRAL_SERVER_GRPC_SERVER_H_
#define CORRAL_SERVER_GRPC_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "core/config.h"
#include "server/health_service.h"

namespace grpc {
class Server;
}

namespace corral::server {

// corral's gRPC listener (listen.grpc): grpc.health.v1.Health today;
// corral.v1.Alerts and Falco's output service join it in their own modules. TLS
// and mutual TLS from listen.tls.
class GrpcServer {
 public:
  explicit GrpcServer(const core::ListenConfig& listen);
  ~GrpcServer();

  // Binds and starts serving; fails naming the address when it cannot.
  absl::Status Start();
  int port() const { return port_; }
  // What grpc.health.v1.Health answers for the server as a whole ("").
  void SetServing(bool serving);
  // Stops, letting calls in flight finish until `deadline`.
  void Shutdown(absl::Duration grace);

 private:
  const core::ListenConfig listen_;
  HealthService health_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace corral::server

#endif  // CORRAL_SERVER_GRPC_SERVER_H_
