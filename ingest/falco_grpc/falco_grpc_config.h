#ifndef CORRAL_INGEST_FALCO_GRPC_FALCO_GRPC_CONFIG_H_
#define CORRAL_INGEST_FALCO_GRPC_FALCO_GRPC_CONFIG_H_

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace corral::ingest::falco_grpc {

// One `ingest.falco_grpc` entry: a Falco (0.24 to 0.43) whose gRPC output
// corral reads, as a client of its `falco.outputs.service/sub`.
//
// Falco served gRPC either on a unix socket without authentication, or over
// TCP with mutual TLS only. So a TCP address needs `tls` (cert_file and
// key_file: the client certificate Falco demands; ca_file: the CA that signed
// Falco's certificate, else the system roots), unless `plaintext: true` says
// explicitly that the peer speaks plaintext (a local proxy in front of
// Falco's socket, say). A unix socket takes neither. `tls.server_name`
// checks Falco's certificate against another name than the address's host.
struct FalcoGrpcConfig {
  std::string name;
  // "unix:///run/falco/falco.sock" or "host:port" ("[::1]:5060").
  std::string address;
  bool unix_socket = false;  // address is unix:///...
  bool plaintext = false;    // TCP without TLS, asked for explicitly
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // The name Falco's certificate must carry, when it is not the address's
  // host (certificates made for "localhost", a node reached by IP).
  std::string server_name;
  // A request this often asks Falco for what it has queued (each request
  // drains Falco's queue onto the stream).
  absl::Duration poll_interval = absl::Milliseconds(100);
  // The hostname of alerts that carry none (Falco before 0.31 sent none);
  // empty: this machine's for a unix socket, the address's host for TCP.
  std::string hostname;
  std::string path;  // "ingest.falco_grpc[0]", for messages

  bool tls() const { return !unix_socket && !plaintext; }
  // The host part of a TCP address ("falco-node-a" of "falco-node-a:5060",
  // "::1" of "[::1]:5060"); empty for a unix socket.
  std::string host() const;
};

// Reads every `ingest.falco_grpc` entry (`list` is Config::ingest_falco_grpc: a
// sequence, or null when absent). On failure: InvalidArgument listing every
// problem with `source`:line:col and key path. Does no I/O (certificate files
// are read when the client is built).
absl::StatusOr<std::vector<FalcoGrpcConfig>> ParseFalcoGrpcConfigs(
    const YAML::Node& list, const std::string& source);

}  // namespace corral::ingest::falco_grpc

#endif  // CORRAL_INGEST_FALCO_GRPC_FALCO_GRPC_CONFIG_H_
