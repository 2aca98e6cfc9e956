#ifndef CORRAL_TESTS_FAKES_GRPC_SERVER_CREDENTIALS_H_
#define CORRAL_TESTS_FAKES_GRPC_SERVER_CREDENTIALS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "tests/fakes/fake_http_server.h"

namespace grpc {
class ServerCredentials;
}  // namespace grpc

namespace corral::fakes {

// The credentials a fake gRPC server listens with: plaintext when
// `tls.cert_file` is empty, else TLS with that certificate and key, requiring
// a client certificate signed by `tls.client_ca_file` when it is set. An error
// names a file that could not be read.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const FakeTlsOptions& tls);

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_GRPC_SERVER_CREDENTIALS_H_
