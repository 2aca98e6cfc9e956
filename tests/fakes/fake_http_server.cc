#include "tests/fakes/fake_http_server.h"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <exception>
#include <mutex>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/fakes/held_port.h"

namespace corral::fakes {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr uint64_t kMaxBodyBytes = 64ull << 20;
constexpr uint32_t kMaxHeaderBytes = 1 << 20;
constexpr int kIoThreads = 2;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(absl::string_view s, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
        HexValue(s[i + 2]) >= 0) {
      out.push_back(
          static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> ParseForm(absl::string_view s) {
  std::map<std::string, std::string> out;
  for (absl::string_view pair : absl::StrSplit(s, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    out[PercentDecode(kv.first, true)] = PercentDecode(kv.second, true);
  }
  return out;
}

std::string RecordedRequest::Header(absl::string_view name) const {
  return core::FindHeader(headers, name);
}

struct FakeHttpServer::Impl {
  FakeTlsOptions tls;

  // Lifecycle (Start/Stop) is serialised by lifecycle_mu; the io threads only
  // read these.
  std::mutex lifecycle_mu;
  std::unique_ptr<asio::ssl::context> ssl_ctx;
  std::unique_ptr<asio::io_context> ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  // While stopped, the port stays bound (not listening): connections are
  // refused as from a server that is down, and no other socket on the
  // machine can be given the port before Start() takes it back.
  HeldPort held_port;
  std::vector<std::thread> threads;
  std::atomic<int> port{0};
  std::atomic<size_t> connections{0};

  mutable absl::Mutex mu;
  std::deque<ScriptedResponse> script ABSL_GUARDED_BY(mu);
  ScriptedResponse default_response ABSL_GUARDED_BY(mu);
  std::shared_ptr<const Handler> handler ABSL_GUARDED_BY(mu);
  std::vector<RecordedRequest> requests ABSL_GUARDED_BY(mu);

  // Records a request and picks its answer.
  ScriptedResponse Record(RecordedRequest request) {
    std::shared_ptr<const Handler> answer_with;
    {
      absl::MutexLock lock(&mu);
      if (!script.empty()) {
        requests.push_back(std::move(request));
        ScriptedResponse next = std::move(script.front());
        script.pop_front();
        return next;
      }
      if (handler == nullptr) {
        requests.push_back(std::move(request));
        return default_response;
      }
      requests.push_back(request);
      answer_with = handler;
    }
    // Outside the lock: the handler may call back into the server.
    return (*answer_with)(request);
  }

  // Serves requests on one connection until the peer goes away or a response
  // closes it.
  template <class Stream>
  asio::awaitable<void> Serve(Stream& stream) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxBodyBytes);
      parser.header_limit(kMaxHeaderBytes);
      co_await http::async_read_header(stream, buffer, parser,
                                       asio::use_awaitable);
      if (absl::EqualsIgnoreCase(
              absl::string_view(parser.get()[http::field::expect].data(),
                                parser.get()[http::field::expect].size()),
              "100-continue")) {
        http::response<http::empty_body> go_on{http::status::continue_,
                                               parser.get().version()};
        co_await http::async_write(stream, go_on, asio::use_awaitable);
      }
      co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
      http::request<http::string_body> req = parser.release();

      RecordedRequest rec;
      rec.method = std::string(req.method_string());
      rec.target = std::string(req.target());
      for (const auto& field : req) {
        rec.headers.emplace_back(
            absl::AsciiStrToLower(absl::string_view(
                field.name_string().data(), field.name_string().size())),
            std::string(field.value()));
      }
      rec.body = std::move(req.body());
      rec.received = absl::Now();
      ScriptedResponse answer = Record(std::move(rec));

      if (answer.delay > absl::ZeroDuration()) {
        asio::steady_timer timer(co_await asio::this_coro::executor,
                                 absl::ToChronoNanoseconds(answer.delay));
        co_await timer.async_wait(asio::use_awaitable);
      }
      if (answer.drop_connection) co_return;
      http::response<http::string_body> res;
      res.version(req.version());
      res.result(static_cast<unsigned>(answer.status));
      for (const auto& [name, value] : answer.headers) res.insert(name, value);
      res.body() = std::move(answer.body);
      const bool keep_alive = req.keep_alive() && !answer.close_connection;
      res.keep_alive(keep_alive);
      res.prepare_payload();
      co_await http::async_write(stream, res, asio::use_awaitable);
      if (!keep_alive) co_return;
    }
  }

  asio::awaitable<void> Session(tcp::socket socket) {
    try {
      if (ssl_ctx != nullptr) {
        asio::ssl::stream<tcp::socket> stream(std::move(socket), *ssl_ctx);
        co_await stream.async_handshake(asio::ssl::stream_base::server,
                                        asio::use_awaitable);
        co_await Serve(stream);
      } else {
        co_await Serve(socket);
        boost::system::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_send, ignored);
      }
    } catch (const std::exception&) {
      // The client went away, sent garbage or failed the TLS handshake: drop
      // the connection.
    }
  }

  asio::awaitable<void> AcceptLoop() {
    for (;;) {
      auto [ec, socket] =
          co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || !acceptor->is_open())
        co_return;
      if (ec) continue;
      connections.fetch_add(1);
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      asio::co_spawn(acceptor->get_executor(), Session(std::move(socket)),
                     asio::detached);
    }
  }
};

FakeHttpServer::FakeHttpServer(FakeTlsOptions tls)
    : impl_(std::make_unique<Impl>()) {
  impl_->tls = std::move(tls);
}

FakeHttpServer::~FakeHttpServer() { Stop(); }

absl::Status FakeHttpServer::Start(int port) {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (impl_->ioc != nullptr)
    return absl::FailedPreconditionError("already started");
  try {
    if (!impl_->tls.cert_file.empty()) {
      auto ctx =
          std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      ctx->set_options(asio::ssl::context::default_workarounds |
                       asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3);
      ctx->use_certificate_chain_file(impl_->tls.cert_file);
      ctx->use_private_key_file(impl_->tls.key_file, asio::ssl::context::pem);
      if (!impl_->tls.client_ca_file.empty()) {
        ctx->load_verify_file(impl_->tls.client_ca_file);
        ctx->set_verify_mode(asio::ssl::verify_peer |
                             asio::ssl::verify_fail_if_no_peer_cert);
        // Needed for session resumption when client certificates are verified.
        static const unsigned char kSessionContext[] = "corral-fake";
        SSL_CTX_set_session_id_context(ctx->native_handle(), kSessionContext,
                                       sizeof(kSessionContext) - 1);
      }
      impl_->ssl_ctx = std::move(ctx);
    }
    auto ioc = std::make_unique<asio::io_context>(kIoThreads);
    auto acceptor = std::make_unique<tcp::acceptor>(*ioc);
    tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"),
                           static_cast<unsigned short>(port));
    acceptor->open(endpoint.protocol());
    acceptor->set_option(asio::socket_base::reuse_address(true));
    impl_->held_port.Release();
    acceptor->bind(endpoint);
    acceptor->listen(asio::socket_base::max_listen_connections);
    impl_->port = acceptor->local_endpoint().port();
    impl_->ioc = std::move(ioc);
    impl_->acceptor = std::move(acceptor);
  } catch (const std::exception& e) {
    impl_->ssl_ctx.reset();
    return absl::InternalError(
        absl::StrCat("fake HTTP server on 127.0.0.1:", port, ": ", e.what()));
  }
  asio::co_spawn(*impl_->ioc, impl_->AcceptLoop(), asio::detached);
  for (int i = 0; i < kIoThreads; ++i) {
    impl_->threads.emplace_back([ioc = impl_->ioc.get()] { ioc->run(); });
  }
  return absl::OkStatus();
}

void FakeHttpServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (impl_->ioc == nullptr) return;
  impl_->ioc->stop();
  for (std::thread& t : impl_->threads) t.join();
  impl_->threads.clear();
  // Closing the listener and destroying the io_context destroys every suspended
  // session, which closes its socket.
  boost::system::error_code ignored;
  impl_->acceptor->close(ignored);
  impl_->acceptor.reset();
  impl_->held_port.Hold(impl_->port.load());
  impl_->ioc.reset();
  impl_->ssl_ctx.reset();
}

int FakeHttpServer::port() const { return impl_->port.load(); }

std::string FakeHttpServer::Url(absl::string_view path) const {
  return absl::StrCat(impl_->tls.cert_file.empty() ? "http" : "https",
                      "://127.0.0.1:", port(),
                      absl::StartsWith(path, "/") ? "" : "/", path);
}

void FakeHttpServer::Script(std::vector<ScriptedResponse> responses) {
  absl::MutexLock lock(&impl_->mu);
  for (ScriptedResponse& r : responses) impl_->script.push_back(std::move(r));
}

void FakeHttpServer::SetDefault(ScriptedResponse response) {
  absl::MutexLock lock(&impl_->mu);
  impl_->default_response = std::move(response);
}

void FakeHttpServer::SetHandler(Handler handler) {
  absl::MutexLock lock(&impl_->mu);
  impl_->handler =
      handler ? std::make_shared<const Handler>(std::move(handler)) : nullptr;
}

std::vector<RecordedRequest> FakeHttpServer::Requests() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->requests;
}

size_t FakeHttpServer::RequestCount() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->requests.size();
}

bool FakeHttpServer::WaitForRequests(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&impl_->mu);
  auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(impl_->mu) {
    return impl_->requests.size() >= n;
  };
  return impl_->mu.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

void FakeHttpServer::ClearRequests() {
  absl::MutexLock lock(&impl_->mu);
  impl_->requests.clear();
}

size_t FakeHttpServer::ConnectionCount() const {
  return impl_->connections.load();
}

}  // namespace corral::fakes
