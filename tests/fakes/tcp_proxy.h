#ifndef CORRAL_TESTS_FAKES_TCP_PROXY_H_
#define CORRAL_TESTS_FAKES_TCP_PROXY_H_

#include <atomic>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace corral::fakes {

// A TCP relay on 127.0.0.1 to a loopback port, which can go silent: after
// Freeze() it forwards nothing more in either direction but keeps every
// connection open, as when the host at the other end vanished without a FIN
// or RST (power loss, a network partition). For keepalive tests.
class TcpProxy {
 public:
  explicit TcpProxy(int upstream_port) : upstream_port_(upstream_port) {}
  // Closes every connection and joins the threads.
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // Listens on an ephemeral loopback port.
  absl::Status Start();
  int port() const { return port_; }
  // From now on, bytes stay where they are: nothing is read or written.
  void Freeze() { frozen_ = true; }
  // Connections accepted so far.
  int connections() const;

 private:
  void AcceptLoop();
  // Relays between `client` and a new connection to the upstream port until
  // either side closes or the proxy stops; closes both.
  void Relay(int client);

  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> frozen_{false};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable absl::Mutex mu_;
  std::vector<std::thread> relays_ ABSL_GUARDED_BY(mu_);
};

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_TCP_PROXY_H_
