#include "tests/fakes/grpc_server_credentials.h"

#include <grpcpp/security/server_credentials.h>

#include <string>

#include "core/file_util.h"

namespace corral::fakes {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const FakeTlsOptions& tls) {
  if (tls.cert_file.empty()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = core::ReadFileToString(tls.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = core::ReadFileToString(tls.key_file);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(
      tls.client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = core::ReadFileToString(tls.client_ca_file);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace corral::fakes
