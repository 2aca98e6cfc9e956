#include "server/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/file_util.h"

namespace corral::server {
namespace {

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const core::ServerTlsConfig& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      tls.client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  absl::StatusOr<std::string> cert = core::ReadFileToString(tls.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = core::ReadFileToString(tls.key_file);
  if (!key.ok()) return key.status();
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!tls.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca = core::ReadFileToString(tls.client_ca_file);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
  }
  return grpc::SslServerCredentials(options);
}

int MillisArg(absl::Duration d) {
  return static_cast<int>(
      std::min<int64_t>(absl::ToInt64Milliseconds(d), INT32_MAX));
}

}  // namespace

GrpcServer::GrpcServer(const core::ListenConfig& listen) : listen_(listen) {}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

void GrpcServer::AddService(grpc::Service* service) {
  services_.push_back(service);
}

absl::Status GrpcServer::Start() {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      Credentials(listen_.tls);
  if (!credentials.ok()) return credentials.status();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen_.grpc, *credentials, &port_);
  // Without this, gRPC sets SO_REUSEPORT and a second corral on the same port
  // would start "successfully" and steal half the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // A subscriber whose host vanished (no FIN, no RST) would otherwise hold
  // its stream and buffer until TCP gives up, which on a quiet stream is
  // never: ping quiet connections, also between alerts, and drop the ones
  // that do not answer.
  if (listen_.grpc_keepalive > absl::ZeroDuration()) {
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                               MillisArg(listen_.grpc_keepalive));
    // Not shorter: a synchronous gRPC client that is not inside a call only
    // answers pings when its backup poller runs (every 5 s).
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                               MillisArg(core::kGrpcKeepaliveTimeout));
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  // Clients may ping as often as every 10 s (gRPC's default policy answers
  // pings more frequent than every 5 min with GOAWAY "too_many_pings").
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<uint64_t>(listen_.max_body_bytes, INT32_MAX)));
  builder.RegisterService(&health_);
  for (grpc::Service* service : services_) builder.RegisterService(service);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on ", listen_.grpc));
  }
  SetServing(false);
  return absl::OkStatus();
}

void GrpcServer::SetServing(bool serving) { health_.SetServing(serving); }

void GrpcServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  health_.Shutdown();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  server_.reset();
}

}  // namespace corral::server
