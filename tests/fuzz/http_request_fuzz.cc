// Fuzzes corral's HTTP API the way a client reaches it: the input is the raw
// bytes of one connection (one request, pipelined requests, or garbage), sent
// over loopback to the real HttpServer (server/http_server: Beast's parser,
// body and header limits, 100-continue, keep-alive, pipelining, error
// replies) serving HttpRoutes (server/http_routes) in front of the real HTTP
// ingest (alert JSON decoding, enrichment). The client sends everything, then
// half-closes and reads until the server closes: no timing is involved, only
// the end of the input. One io thread; the server lives for the whole run.
// Properties: the server closes every connection once the input ends (a hang
// is reported), and whatever it writes is HTTP/1.1 responses.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/enrichment.h"
#include "core/metrics.h"
#include "ingest/http/http_alert_ingest.h"
#include "server/http_routes.h"
#include "server/http_server.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using corral::fuzz::Check;
using corral::fuzz::Fail;
namespace core = corral::core;
namespace server = corral::server;

// Accepts every alert: the ingest and routes, not the router, are under test.
class AcceptingIntake : public core::Intake {
 public:
  void Submit(core::Alert alert, core::IntakeDone done) override {
    std::move(done)(seq_.fetch_add(1) + 1);
  }

 private:
  std::atomic<uint64_t> seq_{0};
};

// The server and everything behind it, started once.
struct Service {
  Service() {
    server::HttpServerOptions options;
    options.address = "127.0.0.1:0";
    options.io_threads = 1;
    // Small limits, so that short inputs reach the 413 and 431 paths.
    options.max_body_bytes = 2048;
    options.max_header_bytes = 1024;
    http.emplace(options, [this](server::HttpServerRequest request,
                                 server::HttpReply reply) {
      routes.Handle(std::move(request), std::move(reply));
    });
    absl::Status started = http->Start();
    Check(started.ok(), "the HTTP server does not start", started.ToString());
  }

  AcceptingIntake accepting;
  core::EnrichingIntake enriching{core::Enrichment{{{"env", "fuzz"}}, {"fuzz"}},
                                  &accepting};
  core::MetricsRegistry metrics;
  corral::ingest::HttpAlertIngest ingest{&enriching, &metrics, "fuzz-host"};
  std::atomic<server::ServingState> state{server::ServingState::kServing};
  server::HttpRoutes routes{&ingest, &metrics, &state, "fuzz-token",
                            /*accept_alerts=*/true};
  std::optional<server::HttpServer> http;
};

// Sends `input` on a new connection, half-closes, and returns everything the
// server writes until it closes. Fails when the server keeps the connection
// open (or silent) for kReadTimeout after the input ended.
std::string Exchange(int port, absl::string_view input) {
  constexpr int kReadTimeoutSeconds = 20;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Check(fd >= 0, "socket", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // libFuzzer's SIGALRM (its -timeout clock) interrupts blocking calls: a
  // connect goes on in the background, a send or recv is retried.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    Check(errno == EINTR, "connect", std::strerror(errno));
    pollfd pfd{fd, POLLOUT, 0};
    while (::poll(&pfd, 1, -1) < 0) Check(errno == EINTR, "poll", "");
    int error = 0;
    socklen_t len = sizeof(error);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
    Check(error == 0, "connect", std::strerror(error));
  }
  timeval timeout{kReadTimeoutSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  // The server may answer and close before it has read everything (an error
  // reply): a failed send then ends the input early, as it would for a client.
  size_t sent = 0;
  while (sent < input.size()) {
    ssize_t n =
        ::send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);

  std::string received;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n > 0) {
      received.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      Fail("the server did not close the connection after the input ended",
           received);
    }
    break;  // closed (0) or reset
  }
  // Closed with a reset: no TIME_WAIT left behind per input.
  linger abort{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  ::close(fd);
  return received;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Service* service = new Service;
  const std::string received =
      Exchange(service->http->port(), corral::fuzz::AsText(data, size));
  Check(received.empty() || absl::StartsWith(received, "HTTP/1.1 "),
        "the server wrote something that is not an HTTP/1.1 response",
        received);
  return 0;
}
