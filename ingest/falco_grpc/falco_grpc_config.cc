#include "ingest/falco_grpc/falco_grpc_config.h"


#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/config_node.h"

namespace corral::ingest::falco_grpc {
namespace {

constexpr absl::string_view kUnixPrefix = "unix://";

// Splits "host:port" / "[v6]:port"; false when it is not one.
bool SplitHostPort(absl::string_view address, absl::string_view* host,
                   absl::string_view* port) {
  size_t colon;
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return false;
    }
    *host = address.substr(1, close - 1);
    colon = close + 1;
  } else {
    colon = address.rfind(':');
    if (colon == absl::string_view::npos) return false;
    *host = address.substr(0, colon);
    if (absl::StrContains(*host, ':')) return false;  // v6 without brackets
  }
  *port = address.substr(colon + 1);
  return true;
}

// Why `address` is neither unix:///ABSOLUTE/PATH nor host:port; empty when
// it is fine.
std::string AddressProblem(absl::string_view address) {
  if (absl::StartsWith(address, kUnixPrefix)) {
    absl::string_view path = address.substr(kUnixPrefix.size());
    if (path.size() < 2 || path[0] != '/') {
      return absl::StrCat("expected unix:///ABSOLUTE/PATH, got \"", address,
                          "\"");
    }
    return "";
  }
  absl::string_view host, port;
  int port_number = 0;
  if (!SplitHostPort(address, &host, &port) || host.empty() ||
      absl::StrContains(host, '/') || !absl::SimpleAtoi(port, &port_number) ||
      port_number < 1 || port_number > 65535) {
    return absl::StrCat(
        "expected unix:///PATH (Falco's unix socket) or HOST:PORT, got \"",
        address, "\"");
  }
  return "";
}

FalcoGrpcConfig ParseOne(core::ConfigMap m) {
  FalcoGrpcConfig c;
  c.path = m.path();
  c.name = m.RequiredString("name");
  c.address = m.RequiredString("address");
  bool address_ok = false;
  if (!c.address.empty()) {
    std::string problem = AddressProblem(c.address);
    if (problem.empty()) {
      address_ok = true;
    } else {
      m.Error("address", problem);
    }
  }
  c.unix_socket = absl::StartsWith(c.address, kUnixPrefix);
  c.plaintext = m.Bool("plaintext", false);
  const bool has_tls = m.Has("tls");
  core::ConfigMap tls = m.Map("tls");
  c.ca_file = tls.String("ca_file");
  c.cert_file = tls.String("cert_file");
  c.key_file = tls.String("key_file");
  c.server_name = tls.String("server_name");
  tls.RejectUnknownKeys();
  if (address_ok && c.unix_socket) {
    if (has_tls) {
      m.Error("tls",
              "a unix socket takes no tls (Falco serves it without "
              "authentication)");
    }
    if (c.plaintext) m.Error("plaintext", "applies to TCP addresses only");
  } else if (address_ok) {
    if (c.plaintext && has_tls) {
      m.Error("plaintext", "contradicts tls: set one or the other");
    } else if (!c.plaintext && !has_tls) {
      m.Error("address",
              "a TCP address needs tls {ca_file, cert_file, key_file} (Falco "
              "serves gRPC over TCP only with mutual TLS), or plaintext: true "
              "for a peer that speaks plaintext");
    }
  }
  if (c.cert_file.empty() != c.key_file.empty()) {
    tls.Error(c.cert_file.empty() ? "cert_file" : "key_file",
              "cert_file and key_file go together (the client certificate "
              "and its key)");
  }
  c.poll_interval = m.Duration("poll_interval", c.poll_interval);
  if (c.poll_interval < absl::Milliseconds(10) ||
      c.poll_interval > absl::Minutes(1)) {
    m.Error("poll_interval", "must be between 10ms and 1m");
  }
  c.hostname = m.String("hostname");
  m.RejectUnknownKeys();
  return c;
}

}  // namespace

std::string FalcoGrpcConfig::host() const {
  if (unix_socket) return "";
  absl::string_view host, port;
  if (!SplitHostPort(address, &host, &port)) return "";
  return std::string(host);
}

absl::StatusOr<std::vector<FalcoGrpcConfig>> ParseFalcoGrpcConfigs(
    const YAML::Node& list, const std::string& source) {
  return core::ParseNamedList<FalcoGrpcConfig>(
      list, source, "ingest.falco_grpc", "connections",
      [](core::ConfigMap& m) { return ParseOne(m); });
}

}  // namespace corral::ingest::falco_grpc
