#include "tests/fakes/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace corral::fakes {
namespace {

// How often blocked threads look at the stop flag.
constexpr int kPollMs = 50;

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

}  // namespace

TcpProxy::~TcpProxy() {
  stopping_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> relays;
  {
    absl::MutexLock lock(&mu_);
    relays.swap(relays_);
  }
  for (std::thread& t : relays) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

absl::Status TcpProxy::Start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::ErrnoToStatus(errno, "proxy socket");
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
          0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) !=
          0) {
    return absl::ErrnoToStatus(errno, "proxy listen");
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

int TcpProxy::connections() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(relays_.size());
}

void TcpProxy::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    absl::MutexLock lock(&mu_);
    relays_.emplace_back([this, client] { Relay(client); });
  }
}

void TcpProxy::Relay(int client) {
  const int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(upstream_port_);
  if (upstream < 0 || ::connect(upstream, reinterpret_cast<sockaddr*>(&addr),
                                sizeof(addr)) != 0) {
    if (upstream >= 0) ::close(upstream);
    ::close(client);
    return;
  }
  const timeval send_timeout{1, 0};
  for (int fd : {client, upstream}) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
                 sizeof(send_timeout));
  }
  char buf[16384];
  bool open = true;
  while (open && !stopping_) {
    if (frozen_) {
      ::usleep(kPollMs * 1000);
      continue;
    }
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    if (::poll(fds, 2, kPollMs) <= 0) continue;
    for (int i = 0; i < 2 && open && !frozen_; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const int from = fds[i].fd, to = i == 0 ? upstream : client;
      const ssize_t n = ::read(from, buf, sizeof(buf));
      if (n <= 0) {
        open = false;
        break;
      }
      // Blocking writes, bounded by SO_SNDTIMEO so that the proxy always
      // stops.
      for (ssize_t done = 0; done < n;) {
        const ssize_t w =
            ::write(to, buf + done, static_cast<size_t>(n - done));
        if (w <= 0) {
          open = false;
          break;
        }
        done += w;
      }
    }
  }
  ::close(client);
  ::close(upstream);
}

}  // namespace corral::fakes
