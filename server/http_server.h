#ifndef CORRAL_SERVER_HTTP_SERVER_H_
#define CORRAL_SERVER_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/config.h"
#include "core/http_client.h"

namespace corral::core {
class MetricsRegistry;
}  // namespace corral::core

namespace corral::server {

// corral's HTTP/1.1 server (Boost.Beast, asynchronous): keep-alive, one io
// thread per core, bounded header and body sizes, header and idle timeouts, a
// bounded number of connections, optional TLS / mutual TLS. It knows nothing
// of routes: every complete request goes to the handler.

struct HttpServerRequest {
  std::string method;         // "GET", "POST", ...
  std::string target;         // path and query
  core::HttpHeaders headers;  // names lower-cased
  std::string body;
  std::string remote;                                // peer "ip:port"
  std::string Header(absl::string_view name) const;  // first value, or ""
};

struct HttpServerResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  core::HttpHeaders headers;  // extra headers
};

// Answers one request exactly once, from any thread, now or later.
using HttpReply = absl::AnyInvocable<void(HttpServerResponse) &&>;
// Called on an io thread for every complete request; must not block (hand slow
// work off and reply later).
using HttpHandler = std::function<void(HttpServerRequest, HttpReply)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1:0";   // host:port; port 0 picks a free one
  uint64_t max_body_bytes = 1 << 20;     // larger: 413, connection closed
  uint64_t max_header_bytes = 16 << 10;  // larger: 431, connection closed
  absl::Duration header_timeout =
      absl::Seconds(10);  // head not complete in time: closed
  absl::Duration idle_timeout =
      absl::Seconds(60);  // keep-alive with nothing to do: closed
  // Once the head is in, the whole body must arrive within this; it also bounds
  // the writing of each response (a client that does not read is dropped).
  absl::Duration body_timeout = absl::Seconds(30);
  int io_threads = 0;  // 0: one per usable core (core::UsableCpus)
  // Connections open at once. A connection accepted beyond it is answered
  // 503 (after the TLS handshake on a TLS port) without its request being
  // read, and closed; it does not count.
  int64_t max_connections = 10000;
  core::ServerTlsConfig tls;
  // Borrowed, may be null; must outlive the server. Gets
  // corral_http_connections (open now) and
  // corral_http_connections_refused_total (over max_connections).
  core::MetricsRegistry* metrics = nullptr;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();  // Stop()s

  // Binds and starts serving. Fails (naming the address) when the address is
  // bad or taken, or the TLS files cannot be loaded.
  absl::Status Start();
  // The bound port (useful with port 0); valid after Start().
  int port() const;
  // Stops accepting new connections; requests in flight still get their
  // replies, and keep-alive connections are closed after their next response.
  void StopAccepting();
  // Closes every connection and joins the io threads. Idempotent.
  void Stop();
  // Requests received whose reply has not been written yet.
  int64_t InFlight() const;
  // Connections open now, those refused over max_connections not included.
  int64_t Connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace corral::server

#endif  // CORRAL_SERVER_HTTP_SERVER_H_
