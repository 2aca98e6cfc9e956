#include "server/http_server.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/cpus.h"
#include "core/log.h"
#include "core/metrics.h"

namespace corral::server {

std::string HttpServerRequest::Header(absl::string_view name) const {
  return core::FindHeader(headers, name);
}

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Executor = asio::io_context::executor_type;
using Clock = std::chrono::steady_clock;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// How much to read per read_some: enough for a typical alert (and its head) in
// one go.
constexpr size_t kReadSize = 16 << 10;
// How long a closing connection may take to say goodbye (drain / TLS
// close_notify).
constexpr auto kLinger = std::chrono::seconds(2);
// Pause after a failed accept (e.g. out of file descriptors) before trying
// again.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
constexpr absl::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// While connections are refused over max_connections, a warning at most this
// often (a flood must not flood the log too).
constexpr auto kRefusalLogEvery = std::chrono::seconds(10);

Clock::duration ToSteady(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return Clock::duration::zero();
  if (d > absl::Hours(24 * 365)) d = absl::Hours(24 * 365);  // "forever"
  return std::chrono::duration_cast<Clock::duration>(
      absl::ToChronoNanoseconds(d));
}

absl::string_view ToAbsl(beast::string_view s) {
  return absl::string_view(s.data(), s.size());
}

absl::string_view Reason(int status) {
  beast::string_view r =
      http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
  if (r.empty() || r.front() == '<') return "Unknown";
  return absl::string_view(r.data(), r.size());
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c <= ' ' || c >= 127 || c == ':') return false;
  }
  return true;
}

bool HasLineBreak(absl::string_view s) {
  return s.find_first_of("\r\n") != absl::string_view::npos;
}

std::string EndpointString(const tcp::endpoint& ep) {
  if (ep.address().is_v6())
    return absl::StrCat("[", ep.address().to_string(), "]:", ep.port());
  return absl::StrCat(ep.address().to_string(), ":", ep.port());
}

class SessionBase;

// The state shared by the server, its connections and the replies they hand
// out. Connections (and so replies) keep it alive, so a reply called after the
// server is gone is harmless.
struct Core : std::enable_shared_from_this<Core> {
  Core(HttpServerOptions opts, HttpHandler h)
      : options(std::move(opts)),
        handler(std::move(h)),
        threads(options.io_threads > 0 ? options.io_threads
                                       : core::UsableCpus()),
        contexts(MakeContexts(threads + 1)),
        accept_executor(contexts.back()->get_executor()),
        open_by_context(new std::atomic<int64_t>[threads]()),
        header_timeout(ToSteady(options.header_timeout)),
        idle_timeout(ToSteady(options.idle_timeout)),
        body_timeout(ToSteady(options.body_timeout)) {
    if (options.metrics != nullptr) {
      connections_gauge = options.metrics
                              ->AddGauge("corral_http_connections",
                                         "HTTP connections open now.", {})
                              ->With({});
      refused_counter =
          options.metrics
              ->AddCounter("corral_http_connections_refused_total",
                           "HTTP connections answered 503 and closed because "
                           "listen.max_connections were open.",
                           {})
              ->With({});
    }
  }

  static std::vector<std::unique_ptr<asio::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (int i = 0; i < n; ++i) {
      out.push_back(std::make_unique<asio::io_context>(1));
    }
    return out;
  }

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  // The io thread for a new connection; on accept_executor.
  size_t PickContext();
  void CloseAcceptor();  // on accept_executor
  void Register(const std::shared_ptr<SessionBase>& session);
  void Unregister(SessionBase* session);
  void CloseSessions(bool only_idle);
  // Takes a connection slot for a new connection; false (counted, and logged
  // now and then) when max_connections are open. On accept_executor only.
  bool TakeConnection();
  // Gives a slot back; any thread.
  void ReleaseConnection();

  const HttpServerOptions options;
  const HttpHandler handler;
  const int threads;  // io threads
  // One io_context per io thread, each run by its thread alone: a connection
  // lives on one of them, so its handlers never run concurrently (no strands)
  // and its completions never wake another thread. The last one is the
  // accept thread's: it runs only the accept handlers, so that a slow handler
  // never holds up accepting, and waiting for it (StopAccepting) cannot
  // deadlock.
  const std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::optional<ssl::context> tls;
  // A new connection goes to the io thread with the fewest open connections
  // (ties in turn), so that short-lived ones (health probes, refusals) cannot
  // leave the long-lived senders crowded on one thread.
  const Executor accept_executor;
  size_t next_context = 0;  // where the tie-break starts; on accept_executor
  // Open connections by io thread (context index); any thread.
  const std::unique_ptr<std::atomic<int64_t>[]> open_by_context;
  std::optional<tcp::acceptor> acceptor;  // used on accept_executor only
  std::optional<asio::steady_timer> accept_retry;  // idem
  const Clock::duration header_timeout;
  const Clock::duration idle_timeout;
  const Clock::duration body_timeout;

  std::atomic<int> port{0};
  std::atomic<bool> accepting{false};
  std::atomic<bool> stopped{false};
  std::atomic<int64_t> in_flight{0};
  // Connections holding a slot: incremented on accept_executor only, so a
  // check and an increment there cannot race past max_connections.
  std::atomic<int64_t> connections{0};
  core::Gauge* connections_gauge = nullptr;
  core::Counter* refused_counter = nullptr;
  // On accept_executor only.
  uint64_t refused_since_log = 0;
  std::optional<Clock::time_point> last_refusal_log;
  // Replies currently posting onto a connection; Stop() waits for them before
  // its final drain so that nothing is queued on the io_context after it.
  std::atomic<int> posting{0};

  std::mutex sessions_mu;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;
};

class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual void Begin() = 0;
  // Any thread: the handler's answer for the current request.
  virtual void DeliverReply(HttpServerResponse response) = 0;
  // Any thread: close the connection (only_idle: only when waiting for a next
  // request).
  virtual void PostClose(bool only_idle) = 0;
};

// The HttpReply given to the handler: answers exactly once; a reply dropped
// unanswered answers 500.
class ReplyToken {
 public:
  explicit ReplyToken(std::shared_ptr<SessionBase> session)
      : session_(std::move(session)) {}
  ReplyToken(ReplyToken&&) noexcept = default;
  ReplyToken& operator=(ReplyToken&& other) noexcept {
    if (this != &other) {
      Abandon();
      session_ = std::move(other.session_);
    }
    return *this;
  }
  ReplyToken(const ReplyToken&) = delete;
  ReplyToken& operator=(const ReplyToken&) = delete;
  ~ReplyToken() { Abandon(); }

  void operator()(HttpServerResponse response) && {
    if (std::shared_ptr<SessionBase> session = std::move(session_)) {
      session->DeliverReply(std::move(response));
    }
  }

 private:
  void Abandon() {
    if (std::shared_ptr<SessionBase> session = std::move(session_)) {
      HttpServerResponse response;
      response.status = 500;
      response.body = "internal error: request dropped without a reply\n";
      session->DeliverReply(std::move(response));
    }
  }

  std::shared_ptr<SessionBase> session_;
};

// One connection. All its state is touched on its io_context's thread only,
// except by DeliverReply() and PostClose(), which post onto it.
template <class Stream>
class Session final : public SessionBase {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `refuse`: the connection is over max_connections; it holds no slot and
  // gets only the 503.
  // `socket` belongs to io thread `context`'s io_context.
  Session(std::shared_ptr<Core> core, tcp::socket socket, size_t context,
          std::string remote, bool refuse)
      : core_(std::move(core)),
        context_(context),
        executor_(core_->contexts[context]->get_executor()),
        stream_(MakeStream(*core_, std::move(socket))),
        remote_(std::move(remote)),
        refuse_(refuse),
        holds_slot_(!refuse) {
    core_->open_by_context[context_].fetch_add(1);
  }

  ~Session() override {
    FinishInFlight();
    ReleaseSlot();
    core_->Unregister(this);
  }

  void Begin() override {
    asio::post(executor_, [self = Self()] { self->Open(); });
  }

  void DeliverReply(HttpServerResponse response) override {
    // The handler answered inside its own call (same thread): no need to go
    // round the queue.
    if (executor_.running_in_this_thread() && in_handler_) {
      pending_.emplace(std::move(response));
      return;
    }
    core_->posting.fetch_add(1);
    if (!core_->stopped.load()) {
      asio::post(executor_, [self = Self(), r = std::move(response)]() mutable {
        self->Respond(std::move(r));
      });
    }
    core_->posting.fetch_sub(1);
  }

  void PostClose(bool only_idle) override {
    asio::post(executor_, [self = Self(), only_idle] {
      if (!only_idle || self->phase_ == Phase::kIdle) self->Close();
    });
  }

 private:
  enum class Phase {
    kStart,
    kHandshake,
    kIdle,     // keep-alive, waiting for the first byte of the next request
    kHead,     // reading a request head
    kBody,     // reading a request body
    kHandler,  // waiting for the handler's reply
    kWriting,
    kClosing,  // goodbye in progress
    kClosed,
  };

  static Stream MakeStream(Core& core, tcp::socket&& socket) {
    if constexpr (kTls) {
      return Stream(beast::tcp_stream(std::move(socket)), *core.tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  std::shared_ptr<Session> Self() {
    return std::static_pointer_cast<Session>(shared_from_this());
  }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void Open() {
    if (core_->stopped.load()) return Close();
    if constexpr (kTls) {
      phase_ = Phase::kHandshake;
      Lowest().expires_after(core_->header_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = Self()](beast::error_code ec) {
                                if (ec || self->phase_ != Phase::kHandshake)
                                  return self->Close();
                                self->Serve();
                              });
    } else {
      Serve();
    }
  }

  void Serve() {
    if (!refuse_) return NextRequest();
    // Answered before any request is read; the graceful close that follows
    // reads (and drops) what the client sends meanwhile, so that it gets
    // this answer rather than a reset.
    WriteError(
        503,
        absl::StrCat("too many connections: ", core_->options.max_connections,
                     " are open (max_connections); try again later\n"),
        {{"Retry-After", "1"}});
  }

  void NextRequest() {
    if (core_->stopped.load()) return Close();
    parser_.emplace();
    parser_->body_limit(core_->options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(
        std::min<uint64_t>(core_->options.max_header_bytes, UINT32_MAX)));
    parser_->eager(true);
    header_done_ = false;
    if (buffer_.size() > 0) {  // pipelined
      phase_ = Phase::kHead;
      Lowest().expires_after(core_->header_timeout);
      return Parse();
    }
    if (first_) {
      first_ = false;
      phase_ = Phase::kHead;
      Lowest().expires_after(core_->header_timeout);
    } else {
      if (!core_->accepting.load())
        return GracefulClose();  // draining: no new requests
      phase_ = Phase::kIdle;
      Lowest().expires_after(core_->idle_timeout);
    }
    Read();
  }

  void Read() {
    stream_.async_read_some(buffer_.prepare(kReadSize),
                            [self = Self()](beast::error_code ec, size_t n) {
                              self->OnRead(ec, n);
                            });
  }

  void OnRead(beast::error_code ec, size_t n) {
    if (ec || phase_ == Phase::kClosed)
      return Close();  // eof, timeout, reset, closed
    buffer_.commit(n);
    if (phase_ ==
        Phase::kIdle) {  // the next request starts: its head has header_timeout
      phase_ = Phase::kHead;
      Lowest().expires_after(core_->header_timeout);
    }
    Parse();
  }

  // Feeds the buffered bytes to the parser; reads more, or hands the request
  // on.
  void Parse() {
    beast::error_code ec;
    while (buffer_.size() > 0) {
      size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return ParseError(ec);
      if (!header_done_ && parser_->is_header_done()) {
        header_done_ = true;
        if (!OnHeaderDone()) return;
      }
      if (parser_->is_done()) return OnRequest();
      if (used == 0) break;
    }
    Read();
  }

  // Returns false when it took over (writing 100 Continue).
  bool OnHeaderDone() {
    if (parser_->is_done()) return true;
    phase_ = Phase::kBody;
    Lowest().expires_after(core_->body_timeout);
    const auto& msg = parser_->get();
    if (msg.version() >= 11 && buffer_.size() == 0) {
      auto it = msg.find(http::field::expect);
      if (it != msg.end() &&
          absl::EqualsIgnoreCase(ToAbsl(it->value()), "100-continue")) {
        asio::async_write(stream_,
                          asio::buffer(kContinue.data(), kContinue.size()),
                          [self = Self()](beast::error_code ec, size_t) {
                            if (ec || self->phase_ != Phase::kBody)
                              return self->Close();
                            self->Read();
                          });
        return false;
      }
    }
    return true;
  }

  void ParseError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return WriteError(413, "request body too large\n");
    }
    if (ec == http::error::header_limit) {
      return WriteError(431, "request header fields too large\n");
    }
    WriteError(400, absl::StrCat("bad request: ", ec.message(), "\n"));
  }

  void OnRequest() {
    auto& msg = parser_->get();
    keep_alive_ = msg.keep_alive();
    http10_ = msg.version() < 11;
    head_method_ = msg.method() == http::verb::head;

    HttpServerRequest request;
    beast::string_view method = msg.method_string();
    request.method.assign(method.data(), method.size());
    beast::string_view target = msg.target();
    request.target.assign(target.data(), target.size());
    for (const auto& field : msg) {
      beast::string_view name = field.name_string();
      beast::string_view value = field.value();
      auto& header =
          request.headers.emplace_back(std::string(name.data(), name.size()),
                                       std::string(value.data(), value.size()));
      absl::AsciiStrToLower(&header.first);
    }
    request.body = std::move(msg.body());
    request.remote = remote_;

    if (core_->stopped.load()) return Close();
    phase_ = Phase::kHandler;
    counted_ = true;
    core_->in_flight.fetch_add(1, std::memory_order_relaxed);
    in_handler_ = true;
    try {
      core_->handler(std::move(request),
                     HttpReply(ReplyToken(shared_from_this())));
    } catch (const std::exception& e) {
      core::LogError("http handler threw", {{"error", e.what()}});
    } catch (...) {
      core::LogError("http handler threw");
    }
    in_handler_ = false;
    if (pending_) {
      HttpServerResponse response = std::move(*pending_);
      pending_.reset();
      Respond(std::move(response));
    }
  }

  // On the connection's thread: the handler's answer.
  void Respond(HttpServerResponse response) {
    if (phase_ != Phase::kHandler) {  // closed meanwhile (Stop), or a reply
                                      // answered twice
      FinishInFlight();
      return;
    }
    bool close =
        !keep_alive_ || !core_->accepting.load() || core_->stopped.load();
    WriteResponse(response, close);
  }

  void WriteError(int status, std::string body,
                  core::HttpHeaders headers = {}) {
    keep_alive_ = false;
    head_method_ = false;
    HttpServerResponse response;
    response.status = status;
    response.body = std::move(body);
    response.headers = std::move(headers);
    WriteResponse(response, /*close=*/true);
  }

  void WriteResponse(HttpServerResponse& response, bool close) {
    int status = response.status;
    if (status < 200 || status > 999) {
      core::LogError("http handler answered an invalid status",
                     {{"status", absl::StrCat(status)}});
      status = 500;
      response.content_type = "text/plain; charset=utf-8";
      response.body = "internal error: invalid status\n";
      response.headers.clear();
    }
    const bool no_body = status == 204 || status == 304;
    head_.clear();
    absl::StrAppend(&head_, "HTTP/1.1 ", status, " ", Reason(status),
                    "\r\nServer: corral\r\n");
    if (!response.content_type.empty() && !no_body &&
        !HasLineBreak(response.content_type)) {
      absl::StrAppend(&head_, "Content-Type: ", response.content_type, "\r\n");
    }
    if (!no_body)
      absl::StrAppend(&head_, "Content-Length: ", response.body.size(), "\r\n");
    for (const auto& [name, value] : response.headers) {
      if (!IsToken(name) || HasLineBreak(value) ||
          absl::EqualsIgnoreCase(name, "content-length") ||
          absl::EqualsIgnoreCase(name, "transfer-encoding") ||
          absl::EqualsIgnoreCase(name, "connection") ||
          absl::EqualsIgnoreCase(name, "server") ||
          (absl::EqualsIgnoreCase(name, "content-type") &&
           !response.content_type.empty())) {
        continue;
      }
      absl::StrAppend(&head_, name, ": ", value, "\r\n");
    }
    if (close) {
      head_.append("Connection: close\r\n");
    } else if (http10_) {
      head_.append("Connection: keep-alive\r\n");
    }
    head_.append("\r\n");
    body_ = std::move(response.body);
    if (no_body || head_method_) body_.clear();

    phase_ = Phase::kWriting;
    close_after_write_ = close;
    Lowest().expires_after(core_->body_timeout);
    std::array<asio::const_buffer, 2> buffers = {asio::buffer(head_),
                                                 asio::buffer(body_)};
    asio::async_write(
        stream_, buffers,
        [self = Self()](beast::error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    FinishInFlight();
    if (ec || phase_ != Phase::kWriting) return Close();
    if (close_after_write_) return GracefulClose();
    NextRequest();
  }

  void FinishInFlight() {
    if (counted_) {
      counted_ = false;
      core_->in_flight.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // Says goodbye politely: half-close and drain what the client still sends (so
  // that it reads our last response rather than a reset), or TLS close_notify;
  // bounded by kLinger.
  void GracefulClose() {
    if (phase_ == Phase::kClosed || phase_ == Phase::kClosing) return;
    phase_ = Phase::kClosing;
    buffer_.clear();
    Lowest().expires_after(kLinger);
    if constexpr (kTls) {
      stream_.async_shutdown(
          [self = Self()](beast::error_code) { self->Close(); });
    } else {
      beast::error_code ec;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
      if (ec) return Close();
      Drain();
    }
  }

  void Drain() {
    stream_.async_read_some(buffer_.prepare(kReadSize),
                            [self = Self()](beast::error_code ec, size_t) {
                              if (ec || self->phase_ != Phase::kClosing)
                                return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    Lowest().close();
    ReleaseSlot();
  }

  // At the close, or at destruction when the connection was never closed
  // (server stopped).
  void ReleaseSlot() {
    // The count by thread first: once Connections() has dropped, it has too.
    if (counted_open_) {
      counted_open_ = false;
      core_->open_by_context[context_].fetch_sub(1);
    }
    if (holds_slot_) {
      holds_slot_ = false;
      core_->ReleaseConnection();
    }
  }

  std::shared_ptr<Core> core_;
  const size_t context_;
  const Executor executor_;
  Stream stream_;
  const std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string head_;  // the response head, reused
  std::string body_;  // the response body being written
  std::optional<HttpServerResponse>
      pending_;  // answered inside the handler call
  Phase phase_ = Phase::kStart;
  bool first_ = true;
  bool header_done_ = false;
  bool in_handler_ = false;
  bool counted_ = false;  // the current request is counted in in_flight
  bool keep_alive_ = true;
  bool http10_ = false;
  bool head_method_ = false;
  bool close_after_write_ = false;
  const bool refuse_;
  bool holds_slot_;
  bool counted_open_ = true;  // in core_->open_by_context
};

void Core::Accept() {
  acceptor->async_accept([this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

size_t Core::PickContext() {
  size_t best = next_context;
  for (int i = 1; i < threads; ++i) {
    const size_t k = (next_context + i) % threads;
    if (open_by_context[k].load() < open_by_context[best].load()) best = k;
  }
  next_context = (best + 1) % threads;
  return best;
}

void Core::OnAccept(beast::error_code ec, tcp::socket accepted) {
  if (!acceptor->is_open() || !accepting.load() || stopped.load()) return;
  if (ec) {
    core::LogWarn("http accept failed", {{"error", ec.message()}});
    accept_retry.emplace(accept_executor);
    accept_retry->expires_after(kAcceptRetry);
    accept_retry->async_wait([this](beast::error_code ec) {
      if (ec || !acceptor->is_open() || !accepting.load()) return;
      Accept();
    });
    return;
  }
  // Accepted on the accept thread's context; moved to its io thread's.
  const size_t context = PickContext();
  beast::error_code ec2;
  const tcp::endpoint::protocol_type protocol =
      accepted.local_endpoint(ec2).protocol();
  tcp::socket socket(*contexts[context]);
  if (!ec2) {
    const int fd = accepted.release(ec2);
    if (!ec2) socket.assign(protocol, fd, ec2);
    if (ec2 && fd >= 0) ::close(fd);
  }
  if (ec2) {
    core::LogWarn("http accept: cannot hand the connection to an io thread",
                  {{"error", ec2.message()}});
    return Accept();
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  tcp::endpoint peer = socket.remote_endpoint(ignored);
  std::string remote = ignored ? std::string("unknown") : EndpointString(peer);
  const bool refuse = !TakeConnection();
  std::shared_ptr<SessionBase> session;
  if (tls) {
    session = std::make_shared<Session<TlsStream>>(shared_from_this(),
                                                   std::move(socket), context,
                                                   std::move(remote), refuse);
  } else {
    session = std::make_shared<Session<PlainStream>>(shared_from_this(),
                                                     std::move(socket), context,
                                                     std::move(remote), refuse);
  }
  // Registered first, so that a Stop() that closes the registered sessions
  // cannot miss one that has started.
  Register(session);
  session->Begin();
  Accept();
}

bool Core::TakeConnection() {
  if (connections.load() < options.max_connections) {
    connections.fetch_add(1);
    if (connections_gauge != nullptr) connections_gauge->Add(1);
    return true;
  }
  if (refused_counter != nullptr) refused_counter->Inc();
  ++refused_since_log;
  const Clock::time_point now = Clock::now();
  if (!last_refusal_log || now - *last_refusal_log >= kRefusalLogEvery) {
    core::LogWarn("http connection limit reached: refusing connections",
                  {{"max_connections", absl::StrCat(options.max_connections)},
                   {"refused", absl::StrCat(refused_since_log)}});
    last_refusal_log = now;
    refused_since_log = 0;
  }
  return false;
}

void Core::ReleaseConnection() {
  connections.fetch_sub(1);
  if (connections_gauge != nullptr) connections_gauge->Add(-1);
}

void Core::CloseAcceptor() {
  beast::error_code ignored;
  if (acceptor) acceptor->close(ignored);
  if (accept_retry) accept_retry->cancel();
}

void Core::Register(const std::shared_ptr<SessionBase>& session) {
  std::lock_guard<std::mutex> lock(sessions_mu);
  sessions.emplace(session.get(), session);
}

void Core::Unregister(SessionBase* session) {
  std::lock_guard<std::mutex> lock(sessions_mu);
  sessions.erase(session);
}

void Core::CloseSessions(bool only_idle) {
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    std::lock_guard<std::mutex> lock(sessions_mu);
    live.reserve(sessions.size());
    for (auto& [ptr, weak] : sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->PostClose(only_idle);
}

// "host:port", "[v6]:port", ":port".
absl::Status SplitAddress(absl::string_view address, std::string* host,
                          uint16_t* port) {
  absl::string_view h;
  absl::string_view p;
  if (absl::StartsWith(address, "[")) {
    size_t end = address.find(']');
    if (end == absl::string_view::npos || end + 1 >= address.size() ||
        address[end + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid listen address \"", address, "\": want [host]:port"));
    }
    h = address.substr(1, end - 1);
    p = address.substr(end + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid listen address \"", address, "\": want host:port"));
    }
    h = address.substr(0, colon);
    p = address.substr(colon + 1);
    if (h.find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid listen address \"", address,
                       "\": write IPv6 addresses as [addr]:port"));
    }
  }
  uint32_t n = 0;
  if (p.empty() || !absl::SimpleAtoi(p, &n) || n > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid listen address \"", address, "\": bad port"));
  }
  *host = h.empty() ? "0.0.0.0" : std::string(h);
  *port = static_cast<uint16_t>(n);
  return absl::OkStatus();
}

absl::Status LoadTls(const core::ServerTlsConfig& cfg,
                     std::optional<ssl::context>* out) {
  auto readable = [](const std::string& file,
                     absl::string_view what) -> absl::Status {
    if (::access(file.c_str(), R_OK) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot load TLS ", what, " ", file, ": ", std::strerror(errno)));
    }
    return absl::OkStatus();
  };
  const std::string& key_file =
      cfg.key_file.empty() ? cfg.cert_file : cfg.key_file;
  if (auto s = readable(cfg.cert_file, "certificate"); !s.ok()) return s;
  if (auto s = readable(key_file, "key"); !s.ok()) return s;
  if (!cfg.client_ca_file.empty()) {
    if (auto s = readable(cfg.client_ca_file, "client CA"); !s.ok()) return s;
  }

  ssl::context ctx(ssl::context::tls_server);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                  ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  beast::error_code ec;
  ctx.use_certificate_chain_file(cfg.cert_file, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot load TLS certificate ", cfg.cert_file, ": ", ec.message()));
  }
  ctx.use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load TLS key ", key_file, ": ", ec.message()));
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TLS key ", key_file, " does not match certificate ", cfg.cert_file));
  }
  if (!cfg.client_ca_file.empty()) {
    ctx.load_verify_file(cfg.client_ca_file, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot load TLS client CA ", cfg.client_ca_file, ": ",
                       ec.message()));
    }
    // Tell clients which CAs we accept.
    if (STACK_OF(X509_NAME)* names =
            SSL_load_client_CA_file(cfg.client_ca_file.c_str())) {
      SSL_CTX_set_client_CA_list(ctx.native_handle(), names);
    }
    ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
  out->emplace(std::move(ctx));
  return absl::OkStatus();
}

}  // namespace

struct HttpServer::Impl {
  std::shared_ptr<Core> core;
  std::mutex mu;
  bool started = false;
  bool stopped = false;
  std::vector<std::thread> threads;
  std::vector<asio::executor_work_guard<Executor>> work;
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->core = std::make_shared<Core>(std::move(options), std::move(handler));
}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->started || impl_->stopped) {
    return absl::FailedPreconditionError(
        "http server: Start() called twice or after Stop()");
  }
  Core& core = *impl_->core;
  const std::string& address = core.options.address;
  std::string host;
  uint16_t port = 0;
  if (absl::Status s = SplitAddress(address, &host, &port); !s.ok()) return s;
  auto unavailable = [&](absl::string_view why) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, ": ", why));
  };

  // Candidate endpoints: a literal address, or what the name resolves to (IPv4
  // first).
  std::vector<tcp::endpoint> endpoints;
  beast::error_code ec;
  asio::ip::address literal = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoints.emplace_back(literal, port);
  } else {
    tcp::resolver resolver(*core.contexts.front());
    auto results = resolver.resolve(host, std::to_string(port),
                                    tcp::resolver::passive, ec);
    if (ec) return unavailable(ec.message());
    for (const auto& r : results) endpoints.push_back(r.endpoint());
    std::stable_partition(
        endpoints.begin(), endpoints.end(),
        [](const tcp::endpoint& e) { return e.address().is_v4(); });
    if (endpoints.empty()) return unavailable("no address");
  }

  if (core.options.tls.enabled()) {
    if (absl::Status s = LoadTls(core.options.tls, &core.tls); !s.ok())
      return s;
  }

  std::optional<tcp::acceptor> acceptor;
  for (const tcp::endpoint& endpoint : endpoints) {
    acceptor.emplace(core.accept_executor);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) break;
    beast::error_code ignored;
    acceptor->close(ignored);
  }
  if (ec) return unavailable(ec.message());
  core.port.store(acceptor->local_endpoint(ec).port());
  core.acceptor = std::move(acceptor);
  core.accepting.store(true);
  impl_->started = true;

  for (const auto& context : core.contexts) {
    impl_->work.push_back(asio::make_work_guard(*context));
  }
  for (const auto& context : core.contexts) {
    const char* name =
        context.get() == core.contexts.back().get() ? "http-accept" : "http-io";
    // The thread holds the Core (which owns its io_context): Stop() on an io
    // thread detaches that thread, which returns from run() after its handler.
    impl_->threads.emplace_back([c = impl_->core, ioc = context.get(), name] {
      pthread_setname_np(pthread_self(), name);
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (const std::exception& e) {
          core::LogError("http server: exception on io thread",
                         {{"error", e.what()}});
        } catch (...) {
          core::LogError("http server: exception on io thread");
        }
      }
    });
  }
  asio::post(core.accept_executor, [c = &core] { c->Accept(); });
  return absl::OkStatus();
}

int HttpServer::port() const { return impl_->core->port.load(); }

int64_t HttpServer::InFlight() const { return impl_->core->in_flight.load(); }

int64_t HttpServer::Connections() const {
  return impl_->core->connections.load();
}

void HttpServer::StopAccepting() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Core& core = *impl_->core;
  core.accepting.store(false);
  if (!impl_->started || impl_->stopped) return;
  if (core.accept_executor.running_in_this_thread()) {
    core.CloseAcceptor();
  } else {
    // Wait, so that once we return new connections are refused. The accept
    // thread runs nothing that waits, so this cannot deadlock, also when
    // called from a handler on an io thread.
    std::promise<void> done;
    asio::post(core.accept_executor, [c = &core, &done] {
      c->CloseAcceptor();
      done.set_value();
    });
    done.get_future().wait();
  }
  core.CloseSessions(/*only_idle=*/true);
}

void HttpServer::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    Core& core = *impl_->core;
    core.accepting.store(false);
    core.stopped.store(true);
    if (!impl_->started) return;
    asio::post(core.accept_executor, [c = &core] { c->CloseAcceptor(); });
    core.CloseSessions(/*only_idle=*/false);
    impl_->work.clear();
    for (const auto& context : core.contexts) context->stop();
    threads = std::move(impl_->threads);
  }
  Core& core = *impl_->core;
  bool on_io_thread = false;
  for (std::thread& t : threads) {
    if (t.get_id() == std::this_thread::get_id()) {
      on_io_thread = true;
      t.detach();  // it holds the Core and returns from run() right after this
                   // handler
    } else {
      t.join();
    }
  }
  if (on_io_thread) return;
  // Replies racing with Stop() have either seen `stopped` or finished posting.
  while (core.posting.load() != 0) std::this_thread::yield();
  // Run what is left (the closes posted above, aborted operations) so that no
  // handler (and no connection it holds) stays queued in an io_context.
  for (size_t ran = 1; ran != 0;) {
    ran = 0;
    for (const auto& context : core.contexts) {
      context->restart();
      ran += context->poll();
    }
  }
}

}  // namespace corral::server
