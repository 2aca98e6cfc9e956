#ifndef CORRAL_TESTS_FAKES_FAKE_FALCO_GRPC_H_
#define CORRAL_TESTS_FAKES_FAKE_FALCO_GRPC_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "falco/outputs.pb.h"
#include "falco/schema.pb.h"
#include "tests/fakes/fake_http_server.h"

namespace corral::fakes {

// Falco's gRPC output (Falco 0.24 to 0.43, PROTOCOLS.md §2) over real gRPC:
// `falco.outputs.service` on 127.0.0.1 TCP or on a unix socket, served as
// Falco served it:
//   - one queue of alerts (Push), shared by every client: an alert goes to
//     whichever client's request pops it first;
//   - `sub`: each request message the client sends makes the server write
//     everything queued onto that stream, then wait for the next request; the
//     stream ends (OK) when the client half-closes;
//   - `get`: writes everything queued, then ends;
//   - an alert popped and not written (the stream broke) is gone, as in Falco,
//     which has no acknowledgement.
// With `tls.cert_file` set it serves TLS and, with `tls.client_ca_file`,
// demands a client certificate signed by that CA (Falco's mutual TLS: its
// private_key, cert_chain and root_certs).
//
// Unlike Falco, the queue survives Stop()/Start(), so that a test can tell
// what a restart costs the client. SetUnimplemented(true) makes the next
// Start() serve no falco.outputs.service at all, so that gRPC answers
// UNIMPLEMENTED, as a Falco 0.44 or later (gRPC output removed) would.
// Thread-safe.
class FakeFalcoGrpc {
 public:
  explicit FakeFalcoGrpc(FakeTlsOptions tls = {});
  ~FakeFalcoGrpc();  // Stop()s
  FakeFalcoGrpc(const FakeFalcoGrpc&) = delete;
  FakeFalcoGrpc& operator=(const FakeFalcoGrpc&) = delete;

  // Serves on 127.0.0.1:`port` (0: an ephemeral port).
  absl::Status Start(int port = 0);
  // Serves on the unix socket `path` (created; removed at Stop()).
  absl::Status StartUnix(const std::string& path);
  // Ends every open stream (clients see the server go away) and shuts the
  // server down. A TCP port stays reserved (bound, not listening: connections
  // are refused) until Start(port()) serves on it again.
  void Stop();
  int port() const;
  // "127.0.0.1:PORT", or "unix:///PATH" when serving a unix socket.
  std::string address() const;

  // Queues an alert for the next request to pop.
  void Push(falco::outputs::response response);
  // Takes effect at the next Start() / StartUnix().
  void SetUnimplemented(bool unimplemented);

  // --- Observation ---
  size_t Queued() const;
  // Responses written onto streams (sub and get) so far.
  int64_t Sent() const;
  // Request messages received on `sub` streams so far.
  int64_t SubRequests() const;
  // `sub` calls received so far, and open now.
  int SubStreams() const;
  int OpenSubStreams() const;
  int GetCalls() const;
  // Bounded wait: true once `cond` holds (checked whenever the fake's state
  // changes, and at least every 20 ms), false if `timeout` passes first.
  bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) const;

 private:
  struct Impl;
  absl::Status StartAt(const std::string& listen, int port);
  std::unique_ptr<Impl> impl_;
};

// A response as Falco writes it (time, priority, rule, output, hostname,
// source "syscall" and source_deprecated SYSCALL, tags), with output fields
// `fields`.
falco::outputs::response MakeFalcoResponse(
    absl::string_view rule, falco::schema::priority priority, absl::Time time,
    const std::map<std::string, std::string>& fields = {});

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_FAKE_FALCO_GRPC_H_
