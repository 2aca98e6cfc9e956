#ifndef CORRAL_SERVER_GRPC_AUTH_H_
#define CORRAL_SERVER_GRPC_AUTH_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <string>

namespace corral::server {

// listen.auth_token on the gRPC port: OK when `token` is empty or the call's
// `authorization` metadata is "Bearer <token>"; UNAUTHENTICATED otherwise.
// The token never appears in the status.
grpc::Status CheckBearerToken(const grpc::ServerContextBase& context,
                              const std::string& token);

}  // namespace corral::server

#endif  // CORRAL_SERVER_GRPC_AUTH_H_
