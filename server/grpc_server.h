#ifndef CORRAL_SERVER_GRPC_SERVER_H_
#define CORRAL_SERVER_GRPC_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/config.h"
#include "server/health_service.h"

namespace grpc {
class Server;
class Service;
}  // namespace grpc

namespace corral::server {

// corral's gRPC listener (listen.grpc): grpc.health.v1.Health, server
// reflection, and the services added with AddService (corral.v1.Alerts,
// falco.outputs.service). TLS and mutual TLS from listen.tls; messages up to
// listen.max_body_bytes; quiet connections pinged per listen.grpc_keepalive.
class GrpcServer {
 public:
  explicit GrpcServer(const core::ListenConfig& listen);
  ~GrpcServer();

  // Serves `service` too (borrowed; must outlive the server). Before Start().
  void AddService(grpc::Service* service);
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
  std::vector<grpc::Service*> services_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace corral::server

#endif  // CORRAL_SERVER_GRPC_SERVER_H_
