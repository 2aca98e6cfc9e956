#include "core/pubsub_connection.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/file_util.h"
#include "core/google_auth.h"
#include "core/google_grpc_credentials.h"

namespace corral::core {

bool IsPubSubResourceName(absl::string_view name,
                          absl::string_view collection) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  return parts.size() == 4 && parts[0] == "projects" && !parts[1].empty() &&
         parts[2] == collection && !parts[3].empty();
}

PubSubConnection ParsePubSubConnection(ConfigMap& map, const EnvLookup& env) {
  PubSubConnection c;
  c.endpoint = map.String("endpoint", c.endpoint);
  if (c.endpoint.empty()) map.Error("endpoint", "must not be empty");
  c.credentials_file = map.String("credentials_file");
  ConfigMap tls = map.Map("tls");
  c.ca_file = tls.String("ca_file");
  tls.RejectUnknownKeys();
  const char* emulator = env ? env(kPubSubEmulatorHostVariable) : nullptr;
  if (emulator != nullptr && *emulator != '\0') {
    c.endpoint = emulator;
    c.plaintext = true;
    c.credentials_file.clear();
  }
  return c;
}

absl::StatusOr<PubSubChannel> MakePubSubChannel(
    const PubSubConnection& connection, const PubSubChannelOptions& options) {
  PubSubChannel out;
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (connection.plaintext) {
    credentials = grpc::InsecureChannelCredentials();
    out.credentials = "none (emulator)";
  } else {
    grpc::SslCredentialsOptions ssl;
    if (!connection.ca_file.empty()) {
      absl::StatusOr<std::string> ca = ReadFileToString(connection.ca_file);
      if (!ca.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("tls.ca_file: cannot read ", connection.ca_file, ": ",
                         ca.status().message()));
      }
      ssl.pem_root_certs = *std::move(ca);
    }
    GoogleAuthOptions auth;
    auth.credentials_file = connection.credentials_file;
    auth.scopes = {kPubSubScope};
    auth.user_agent = options.user_agent;
    auth.clock = options.clock;
    absl::StatusOr<std::unique_ptr<GoogleTokenSource>> tokens =
        MakeGoogleTokenSource(auth);
    if (!tokens.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("credentials_file: ", tokens.status().message()));
    }
    out.credentials = (*tokens)->Describe();
    GoogleGrpcAuth grpc_auth = MakeGoogleGrpcAuth(
        std::shared_ptr<GoogleTokenSource>(*std::move(tokens)));
    out.token_refused = std::move(grpc_auth.token_refused);
    credentials = grpc::CompositeChannelCredentials(
        grpc::SslCredentials(ssl), grpc_auth.call_credentials);
  }
  grpc::ChannelArguments args;
  args.SetUserAgentPrefix(options.user_agent);
  if (options.max_receive_bytes > 0) {
    args.SetMaxReceiveMessageSize(options.max_receive_bytes);
  }
  // Without these a client whose endpoint was down for a while may wait up to
  // two minutes after it is back before the channel tries again, however
  // often calls are made meanwhile.
  auto set_ms = [&args](const char* arg, absl::Duration d) {
    if (d <= absl::ZeroDuration()) return;
    args.SetInt(arg, static_cast<int>(
                         std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1,
                                             std::numeric_limits<int>::max())));
  };
  set_ms(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
         options.initial_reconnect_backoff);
  set_ms(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, options.max_reconnect_backoff);
  out.channel =
      grpc::CreateCustomChannel(connection.endpoint, credentials, args);
  return out;
}

}  // namespace corral::core
