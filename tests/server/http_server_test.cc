#include "server/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/metrics.h"
#include "tests/server/http_server_test_certs.h"

namespace corral::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Response = http::response<http::string_body>;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr auto kDeadline = std::chrono::seconds(5);

// ---------------------------------------------------------------------------------------------
// Test clients: Beast over a private io_context; every operation has a
// deadline.

template <class Stream>
class Client {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Args>
  explicit Client(Args&&... args)
      : stream_(ioc_, std::forward<Args>(args)...) {}

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  beast::error_code Connect(int port) {
    beast::error_code result = asio::error::would_block;
    Lowest().expires_after(kDeadline);
    Lowest().async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
        [&](beast::error_code ec) { result = ec; });
    Run();
    if constexpr (kTls) {
      if (result) return result;
      SSL_set_tlsext_host_name(stream_.native_handle(), "localhost");
      stream_.set_verify_callback(ssl::host_name_verification("localhost"));
      result = asio::error::would_block;
      Lowest().expires_after(kDeadline);
      stream_.async_handshake(ssl::stream_base::client,
                              [&](beast::error_code ec) { result = ec; });
      Run();
    }
    return result;
  }

  beast::error_code Write(absl::string_view data) {
    beast::error_code result = asio::error::would_block;
    Lowest().expires_after(kDeadline);
    asio::async_write(stream_, asio::buffer(data.data(), data.size()),
                      [&](beast::error_code ec, size_t) { result = ec; });
    Run();
    return result;
  }

  absl::StatusOr<Response> Read(bool head_request = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    if (head_request) parser.skip(true);
    beast::error_code result = asio::error::would_block;
    Lowest().expires_after(kDeadline);
    http::async_read(stream_, buffer_, parser,
                     [&](beast::error_code ec, size_t) { result = ec; });
    Run();
    if (result) return absl::UnavailableError(result.message());
    return parser.release();
  }

  absl::StatusOr<Response> RoundTrip(absl::string_view request) {
    if (beast::error_code ec = Write(request))
      return absl::UnavailableError(ec.message());
    return Read();
  }

  // Whether the server closes the connection within `d` (anything it still
  // sends is skipped).
  bool ClosedWithin(std::chrono::milliseconds d) {
    Lowest().expires_after(d);
    for (;;) {
      char byte;
      beast::error_code result = asio::error::would_block;
      stream_.async_read_some(
          asio::buffer(&byte, 1),
          [&](beast::error_code ec, size_t) { result = ec; });
      Run();
      if (result) return result != beast::error::timeout;
    }
  }

 private:
  void Run() {
    ioc_.restart();
    ioc_.run();
  }

  asio::io_context ioc_;
  Stream stream_;
  beast::flat_buffer buffer_;
};

using PlainClient = Client<beast::tcp_stream>;
using TlsClient = Client<beast::ssl_stream<beast::tcp_stream>>;

std::string Request(absl::string_view method, absl::string_view target,
                    absl::string_view body = "",
                    absl::string_view extra_headers = "") {
  std::string request = absl::StrCat(
      method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n", extra_headers);
  if (method != "GET" && method != "HEAD") {
    absl::StrAppend(&request, "Content-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&request, "\r\n", body);
  return request;
}

// Polls `pred` until it holds or the deadline passes.
template <class Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout = kDeadline) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

HttpServerResponse Text(int status, std::string body) {
  HttpServerResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

// Replies with "<method> <target> <body>".
void Echo(HttpServerRequest request, HttpReply reply) {
  std::move(reply)(Text(200, absl::StrCat(request.method, " ", request.target,
                                          " ", request.body)));
}

// Runs jobs (typically: answering replies) on its own thread.
class Worker {
 public:
  Worker() : thread_([this] { Loop(); }) {}
  ~Worker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Post(absl::AnyInvocable<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void Loop() {
    for (;;) {
      absl::AnyInvocable<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return done_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::AnyInvocable<void()>> jobs_;
  bool done_ = false;
  std::thread thread_;
};

// Echoes every other request inline and the rest from `worker`'s thread.
void EchoInlineOrLater(std::atomic<int>& handled, Worker& worker,
                       HttpServerRequest request, HttpReply reply) {
  if (handled.fetch_add(1) % 2 == 0)
    return Echo(std::move(request), std::move(reply));
  worker.Post(
      [request = std::move(request), reply = std::move(reply)]() mutable {
        Echo(std::move(request), std::move(reply));
      });
}

// Hands the test the replies the handler receives.
class ReplySlots {
 public:
  void Put(HttpServerRequest request, HttpReply reply) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      slots_.push_back({std::move(request), std::move(reply)});
    }
    cv_.notify_all();
  }
  // Waits (bounded) for the next held request.
  std::optional<std::pair<HttpServerRequest, HttpReply>> Take() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, kDeadline, [&] { return !slots_.empty(); }))
      return std::nullopt;
    auto slot = std::move(slots_.front());
    slots_.pop_front();
    return slot;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<HttpServerRequest, HttpReply>> slots_;
};

HttpServerOptions TestOptions() {
  HttpServerOptions options;
  options.address = "127.0.0.1:0";
  options.io_threads = 2;
  return options;
}

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options,
                                        HttpHandler handler) {
  auto server =
      std::make_unique<HttpServer>(std::move(options), std::move(handler));
  absl::Status status = server->Start();
  EXPECT_TRUE(status.ok()) << status;
  if (!status.ok()) return nullptr;
  EXPECT_GT(server->port(), 0);
  return server;
}

// An echo server that counts the requests reaching its handler.
std::unique_ptr<HttpServer> StartCountingEchoServer(HttpServerOptions options,
                                                    std::atomic<int>& calls) {
  return StartServer(std::move(options),
                     [&calls](HttpServerRequest request, HttpReply reply) {
                       ++calls;
                       Echo(std::move(request), std::move(reply));
                     });
}

// ---------------------------------------------------------------------------------------------

TEST(HttpServerTest, GetAndPostReachTheHandler) {
  std::mutex mu;
  std::vector<HttpServerRequest> seen;
  auto server = StartServer(
      TestOptions(), [&](HttpServerRequest request, HttpReply reply) {
        HttpServerResponse response;
        response.status = request.method == "POST" ? 201 : 200;
        response.content_type = "application/json";
        response.body = R"({"ok":true})";
        response.headers = {{"X-Reply", "yes"}};
        {
          std::lock_guard<std::mutex> lock(mu);
          seen.push_back(std::move(request));
        }
        std::move(reply)(std::move(response));
      });
  ASSERT_NE(server, nullptr);

  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  auto get =
      client.RoundTrip(Request("GET", "/a?b=1", "", "X-Test: Hello\r\n"));
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->result_int(), 200);
  EXPECT_EQ(get->reason(), "OK");
  EXPECT_EQ((*get)[http::field::content_type], "application/json");
  EXPECT_EQ((*get)[http::field::server], "corral");
  EXPECT_EQ((*get)[http::field::content_length], "11");
  EXPECT_EQ((*get)["X-Reply"], "yes");
  EXPECT_EQ(get->body(), R"({"ok":true})");
  EXPECT_TRUE(get->keep_alive());

  auto post = client.RoundTrip(Request("POST", "/", R"({"rule":"x"})"));
  ASSERT_TRUE(post.ok()) << post.status();
  EXPECT_EQ(post->result_int(), 201);
  EXPECT_EQ(post->reason(), "Created");

  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/a?b=1");
  EXPECT_EQ(seen[0].Header("x-test"), "Hello");
  EXPECT_EQ(seen[0].Header("X-TEST"), "Hello");
  EXPECT_EQ(seen[0].Header("host"), "127.0.0.1");
  EXPECT_EQ(seen[0].Header("absent"), "");
  EXPECT_THAT(seen[0].headers,
              ::testing::Contains(std::pair<std::string, std::string>(
                  "x-test", "Hello")));  // names lower-cased
  EXPECT_EQ(seen[0].body, "");
  EXPECT_THAT(seen[0].remote, StartsWith("127.0.0.1:"));
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(seen[1].target, "/");
  EXPECT_EQ(seen[1].body, R"({"rule":"x"})");
  EXPECT_EQ(seen[1].Header("content-length"), "12");
  EXPECT_EQ(seen[1].remote, seen[0].remote);  // same keep-alive connection
}

TEST(HttpServerTest, AsynchronousReplyFromAnotherThread) {
  ReplySlots slots;
  auto server = StartServer(TestOptions(),
                            [&](HttpServerRequest request, HttpReply reply) {
                              slots.Put(std::move(request), std::move(reply));
                            });
  ASSERT_NE(server, nullptr);
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  ASSERT_FALSE(client.Write(Request("POST", "/slow", "payload")));

  auto slot = slots.Take();
  ASSERT_TRUE(slot.has_value());
  EXPECT_EQ(slot->first.body, "payload");
  EXPECT_EQ(server->InFlight(), 1);
  std::thread replier([reply = std::move(slot->second)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::move(reply)(Text(202, "later"));
  });
  auto response = client.Read();
  replier.join();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->result_int(), 202);
  EXPECT_EQ(response->body(), "later");
  EXPECT_TRUE(WaitFor([&] { return server->InFlight() == 0; }));

  // The connection is still usable.
  ASSERT_FALSE(client.Write(Request("GET", "/again")));
  slot = slots.Take();
  ASSERT_TRUE(slot.has_value());
  std::move(slot->second)(Text(200, "again"));
  response = client.Read();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body(), "again");
}

TEST(HttpServerTest, ManyRequestsOnOneKeepAliveConnection) {
  std::atomic<int> calls{0};
  auto server = StartServer(TestOptions(),
                            [&](HttpServerRequest request, HttpReply reply) {
                              ++calls;
                              Echo(std::move(request), std::move(reply));
                            });
  ASSERT_NE(server, nullptr);
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  for (int i = 0; i < 200; ++i) {
    std::string body = absl::StrCat("alert-", i);
    auto response = client.RoundTrip(Request("POST", "/", body));
    ASSERT_TRUE(response.ok()) << i << ": " << response.status();
    ASSERT_EQ(response->body(), absl::StrCat("POST / ", body));
  }
  // HEAD: a Content-Length but no body, and the connection goes on.
  ASSERT_FALSE(client.Write(Request("HEAD", "/head")));
  auto head = client.Read(/*head_request=*/true);
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ((*head)[http::field::content_length], "11");  // "HEAD /head "
  EXPECT_EQ(head->body(), "");
  auto last = client.RoundTrip(Request("GET", "/last"));
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->body(), "GET /last ");
  EXPECT_EQ(calls.load(), 202);
}

TEST(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Worker worker;
  std::mutex mu;
  std::mt19937 rng(42);
  auto server = StartServer(
      TestOptions(), [&](HttpServerRequest request, HttpReply reply) {
        int delay_ms;
        {
          std::lock_guard<std::mutex> lock(mu);
          delay_ms = static_cast<int>(rng() % 20);
        }
        worker.Post([request = std::move(request), reply = std::move(reply),
                     delay_ms]() mutable {
          std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
          std::move(reply)(Text(200, request.target));
        });
      });
  ASSERT_NE(server, nullptr);
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  std::string all;
  for (int i = 0; i < 10; ++i) {
    all += Request(i % 2 == 0 ? "GET" : "POST", absl::StrCat("/p", i),
                   i % 2 ? "body" : "");
  }
  ASSERT_FALSE(client.Write(all));  // one write: ten requests
  for (int i = 0; i < 10; ++i) {
    auto response = client.Read();
    ASSERT_TRUE(response.ok()) << i << ": " << response.status();
    EXPECT_EQ(response->body(), absl::StrCat("/p", i));
  }
}

TEST(HttpServerTest, ConnectionCloseAndHttp10) {
  auto server = StartServer(TestOptions(), Echo);
  ASSERT_NE(server, nullptr);
  {
    PlainClient client;
    ASSERT_FALSE(client.Connect(server->port()));
    auto response =
        client.RoundTrip(Request("GET", "/bye", "", "Connection: close\r\n"));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->result_int(), 200);
    EXPECT_EQ((*response)[http::field::connection], "close");
    EXPECT_TRUE(client.ClosedWithin(std::chrono::seconds(3)));
  }
  {  // HTTP/1.0 without keep-alive: one request per connection.
    PlainClient client;
    ASSERT_FALSE(client.Connect(server->port()));
    auto response = client.RoundTrip("GET /ten HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->body(), "GET /ten ");
    EXPECT_EQ((*response)[http::field::connection], "close");
    EXPECT_TRUE(client.ClosedWithin(std::chrono::seconds(3)));
  }
  {  // HTTP/1.0 asking for keep-alive gets it.
    PlainClient client;
    ASSERT_FALSE(client.Connect(server->port()));
    for (int i = 0; i < 3; ++i) {
      auto response = client.RoundTrip(
          "GET /ka HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      ASSERT_TRUE(response.ok()) << response.status();
      EXPECT_EQ((*response)[http::field::connection], "keep-alive");
      EXPECT_EQ(response->body(), "GET /ka ");
    }
  }
}

TEST(HttpServerTest, ExpectContinue) {
  auto server = StartServer(TestOptions(), Echo);
  ASSERT_NE(server, nullptr);
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  ASSERT_FALSE(
      client.Write("POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: "
                   "5\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = client.Read();
  ASSERT_TRUE(interim.ok()) << interim.status();
  EXPECT_EQ(interim->result_int(), 100);
  ASSERT_FALSE(client.Write("hello"));
  auto response = client.Read();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body(), "POST /c hello");
}

TEST(HttpServerTest, BodyOverTheLimitWithContentLengthIs413WithoutReadingIt) {
  std::atomic<int> calls{0};
  HttpServerOptions options = TestOptions();
  options.max_body_bytes = 1024;
  auto server = StartCountingEchoServer(options, calls);
  ASSERT_NE(server, nullptr);
  {  // At the limit: fine.
    PlainClient client;
    ASSERT_FALSE(client.Connect(server->port()));
    auto response =
        client.RoundTrip(Request("POST", "/", std::string(1024, 'a')));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->result_int(), 200);
  }
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  // Only the head: the answer must come without the body being sent.
  ASSERT_FALSE(client.Write(
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"));
  auto response = client.Read();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->result_int(), 413);
  EXPECT_EQ(response->reason(), "Payload Too Large");
  EXPECT_THAT(response->body(), HasSubstr("too large"));
  EXPECT_EQ((*response)[http::field::connection], "close");
  EXPECT_TRUE(client.ClosedWithin(std::chrono::seconds(3)));
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServerTest, ChunkedBodyOverTheLimitIs413) {
  std::atomic<int> calls{0};
  HttpServerOptions options = TestOptions();
  options.max_body_bytes = 1024;
  auto server = StartCountingEchoServer(options, calls);
  ASSERT_NE(server, nullptr);
  {  // Chunked under the limit: fine.
    PlainClient client;
    ASSERT_FALSE(client.Connect(server->port()));
    auto response = client.RoundTrip(
        "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->body(), "POST /c abcde");
  }
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  std::string chunk(600, 'x');
  std::string request =
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i)
    absl::StrAppend(&request, "258\r\n", chunk, "\r\n");  // 0x258 = 600
  absl::StrAppend(&request, "0\r\n\r\n");
  ASSERT_FALSE(client.Write(request));
  auto response = client.Read();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->result_int(), 413);
  EXPECT_EQ((*response)[http::field::connection], "close");
  EXPECT_TRUE(client.ClosedWithin(std::chrono::seconds(3)));
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServerTest, HugeHeaderIs431) {
  std::atomic<int> calls{0};
  HttpServerOptions options = TestOptions();
  options.max_header_bytes = 1024;
  auto server = StartCountingEchoServer(options, calls);
  ASSERT_NE(server, nullptr);
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  auto response = client.RoundTrip(Request(
      "GET", "/", "", absl::StrCat("X-Big: ", std::string(4000, 'h'), "\r\n")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->result_int(), 431);
  EXPECT_EQ((*response)[http::field::connection], "close");
  EXPECT_TRUE(client.ClosedWithin(std::chrono::seconds(3)));
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServerTest, GarbageIs400) {
  std::atomic<int> calls{0};
  auto server = StartServer(TestOptions(),
                            [&](HttpServerRequest request, HttpReply reply) {
                              ++calls;
                              Echo(std::move(request), std::move(reply));
                            });
  ASSERT_NE(server, nullptr);
  for (absl::string_view garbage :
       {absl::string_view("THIS IS NOT HTTP\r\n\r\n"),
        absl::string_view("GET / HTTP/1.1\r\nHost x\r\n\r\n"),
        absl::string_view("POST / HTTP/1.1\r\nContent-Length: banana\r\n\r\n"),
        absl::string_view("\x01\x02\x03\xff\r\n\r\n", 8)}) {
    PlainClient client;
    ASSERT_FALSE(client.Connect(server->port()));
    auto response = client.RoundTrip(garbage);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->result_int(), 400) << garbage;
    EXPECT_EQ((*response)[http::field::connection], "close");
    EXPECT_TRUE(client.ClosedWithin(std::chrono::seconds(3)));
  }
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServerTest, SlowLorisIsDisconnected) {
  HttpServerOptions options = TestOptions();
  options.header_timeout = absl::Milliseconds(300);
  auto server = StartServer(options, Echo);
  ASSERT_NE(server, nullptr);
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  int fd = client.Lowest().socket().native_handle();
  // A head that would take 10 s at one byte every 50 ms.
  std::string head = Request(
      "GET", "/", "", absl::StrCat("X-Pad: ", std::string(200, 'p'), "\r\n"));
  auto start = std::chrono::steady_clock::now();
  bool closed = false;
  size_t sent = 0;
  for (; sent < head.size() && !closed; ++sent) {
    if (::send(fd, &head[sent], 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    // The pacing wait doubles as the check for the server hanging up.
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char buf[512];
      ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) closed = true;
    }
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(closed);
  EXPECT_LT(sent, head.size());
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  HttpServerOptions options = TestOptions();
  options.idle_timeout = absl::Milliseconds(300);
  auto server = StartServer(options, Echo);
  ASSERT_NE(server, nullptr);
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  // Requests more often than the idle timeout keep it open.
  for (int i = 0; i < 5; ++i) {
    auto response = client.RoundTrip(Request("GET", "/"));
    ASSERT_TRUE(response.ok()) << i << ": " << response.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.ClosedWithin(std::chrono::seconds(3)));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

// The answer a connection over max_connections gets, read after sending a
// request that must not reach the handler.
void ExpectRefusedOverTheLimit(absl::StatusOr<Response> response,
                               int max_connections) {
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->result_int(), 503);
  EXPECT_THAT(response->body(),
              HasSubstr(absl::StrCat("too many connections: ", max_connections,
                                     " are open (max_connections)")));
  EXPECT_EQ((*response)[http::field::retry_after], "1");
  EXPECT_EQ((*response)[http::field::connection], "close");
}

TEST(HttpServerTest, AConnectionOverMaxConnectionsIs503UntilOneCloses) {
  core::MetricsRegistry metrics;
  std::atomic<int> calls{0};
  HttpServerOptions options = TestOptions();
  options.max_connections = 2;
  options.metrics = &metrics;
  auto server = StartCountingEchoServer(options, calls);
  ASSERT_NE(server, nullptr);
  std::vector<std::unique_ptr<PlainClient>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<PlainClient>());
    ASSERT_FALSE(held.back()->Connect(server->port()));
    ASSERT_TRUE(held.back()->RoundTrip(Request("GET", "/held")).ok());
  }
  EXPECT_EQ(server->Connections(), 2);
  EXPECT_THAT(metrics.Render(), HasSubstr("corral_http_connections 2\n"));

  PlainClient over;
  ASSERT_FALSE(over.Connect(server->port()));  // TCP still connects
  ExpectRefusedOverTheLimit(over.RoundTrip(Request("POST", "/", "alert")), 2);
  EXPECT_TRUE(over.ClosedWithin(std::chrono::seconds(3)));
  EXPECT_EQ(calls.load(), 2);  // the refused request never reached the handler
  EXPECT_EQ(server->Connections(), 2);
  EXPECT_THAT(metrics.Render(),
              HasSubstr("corral_http_connections_refused_total 1\n"));

  // The held connections keep working; once one closes, a new one is served.
  EXPECT_TRUE(held.front()->RoundTrip(Request("GET", "/still")).ok());
  held.pop_back();
  EXPECT_TRUE(WaitFor([&] { return server->Connections() == 1; }));
  PlainClient next;
  ASSERT_FALSE(next.Connect(server->port()));
  auto response = next.RoundTrip(Request("GET", "/next"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body(), "GET /next ");
  EXPECT_EQ(server->Connections(), 2);
  EXPECT_THAT(metrics.Render(),
              HasSubstr("corral_http_connections_refused_total 1\n"));
}

TEST(HttpServerTest, ConnectionsClosedByTheHeaderTimeoutFreeTheirSlots) {
  HttpServerOptions options = TestOptions();
  options.max_connections = 3;
  options.header_timeout = absl::Milliseconds(200);
  auto server = StartServer(options, Echo);
  ASSERT_NE(server, nullptr);
  // Every slot taken by a client that sends half a head and stops.
  std::vector<std::unique_ptr<PlainClient>> loris;
  for (int i = 0; i < 3; ++i) {
    loris.push_back(std::make_unique<PlainClient>());
    ASSERT_FALSE(loris.back()->Connect(server->port()));
    ASSERT_FALSE(loris.back()->Write("GET / HTTP/1.1\r\nX-Slow: "));
  }
  EXPECT_TRUE(WaitFor([&] { return server->Connections() == 3; }));
  for (auto& client : loris) {
    EXPECT_TRUE(client->ClosedWithin(std::chrono::seconds(3)));
  }
  EXPECT_TRUE(WaitFor([&] { return server->Connections() == 0; }));
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  auto response = client.RoundTrip(Request("GET", "/after"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->result_int(), 200);
}

TEST(HttpServerTest, PortZeroGivesARealPortAndHostForms) {
  for (const char* address :
       {"127.0.0.1:0", "localhost:0", "0.0.0.0:0", ":0"}) {
    HttpServerOptions options = TestOptions();
    options.address = address;
    auto server = StartServer(options, Echo);
    ASSERT_NE(server, nullptr) << address;
    PlainClient client;
    ASSERT_FALSE(client.Connect(server->port())) << address;
    auto response = client.RoundTrip(Request("GET", "/x"));
    ASSERT_TRUE(response.ok()) << address << ": " << response.status();
    EXPECT_EQ(response->body(), "GET /x ");
  }
  // IPv6 loopback, where the machine has it.
  asio::io_context ioc;
  tcp::acceptor probe(ioc);
  beast::error_code ec;
  probe.open(tcp::v6(), ec);
  if (!ec) probe.bind(tcp::endpoint(asio::ip::make_address("::1"), 0), ec);
  if (ec) GTEST_SKIP() << "no IPv6 loopback: " << ec.message();
  probe.close();
  HttpServerOptions options = TestOptions();
  options.address = "[::1]:0";
  auto server = StartServer(options, Echo);
  ASSERT_NE(server, nullptr);
  asio::io_context client_ioc;
  beast::tcp_stream stream(client_ioc);
  stream.expires_after(kDeadline);
  stream.connect(tcp::endpoint(asio::ip::make_address("::1"), server->port()),
                 ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST(HttpServerTest, TakenPortAndBadAddressesAreErrors) {
  auto first = StartServer(TestOptions(), Echo);
  ASSERT_NE(first, nullptr);
  HttpServerOptions options = TestOptions();
  options.address = absl::StrCat("127.0.0.1:", first->port());
  HttpServer second(options, Echo);
  absl::Status status = second.Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(status.message(),
            absl::StrCat("cannot listen on 127.0.0.1:", first->port(),
                         ": Address already in use"));

  for (const char* bad :
       {"nonsense", "127.0.0.1:99999", "127.0.0.1:", "::1:80", "[::1:80"}) {
    options.address = bad;
    HttpServer server(options, Echo);
    status = server.Start();
    EXPECT_FALSE(status.ok()) << bad;
    EXPECT_THAT(std::string(status.message()), HasSubstr(bad));
  }
  // The first server is unaffected.
  PlainClient client;
  ASSERT_FALSE(client.Connect(first->port()));
  EXPECT_TRUE(client.RoundTrip(Request("GET", "/")).ok());
}

TEST(HttpServerTest, StopAcceptingRefusesNewConnectionsAndFinishesInFlight) {
  ReplySlots slots;
  auto server = StartServer(
      TestOptions(), [&](HttpServerRequest request, HttpReply reply) {
        if (request.target == "/fast")
          return Echo(std::move(request), std::move(reply));
        slots.Put(std::move(request), std::move(reply));
      });
  ASSERT_NE(server, nullptr);
  const int port = server->port();

  PlainClient idle;  // a keep-alive connection with nothing to do
  ASSERT_FALSE(idle.Connect(port));
  ASSERT_TRUE(idle.RoundTrip(Request("GET", "/fast")).ok());

  PlainClient busy;
  ASSERT_FALSE(busy.Connect(port));
  ASSERT_FALSE(busy.Write(Request("POST", "/slow", "x")));
  auto slot = slots.Take();
  ASSERT_TRUE(slot.has_value());
  // The /fast answer can reach the client before its write completion runs
  // on the server: the counter comes down a moment later.
  EXPECT_TRUE(WaitFor([&] { return server->InFlight() == 1; }));

  server->StopAccepting();

  PlainClient late;
  EXPECT_TRUE(late.Connect(port));  // refused
  EXPECT_TRUE(idle.ClosedWithin(std::chrono::seconds(3)));

  std::thread replier([reply = std::move(slot->second)]() mutable {
    std::move(reply)(Text(200, "done"));
  });
  auto response = busy.Read();
  replier.join();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body(), "done");
  EXPECT_EQ((*response)[http::field::connection], "close");
  EXPECT_TRUE(busy.ClosedWithin(std::chrono::seconds(3)));
  EXPECT_TRUE(WaitFor([&] { return server->InFlight() == 0; }));
  server->Stop();
  server->Stop();  // idempotent
}

TEST(HttpServerTest, StopAcceptingFromAHandlerRefusesConnectionsOnceItReturns) {
  HttpServer* self = nullptr;
  std::atomic<bool> refused_after_return{false};
  int port = 0;
  auto server = StartServer(
      TestOptions(), [&](HttpServerRequest request, HttpReply reply) {
        self->StopAccepting();
        // Once StopAccepting returned, on an io thread too, nobody gets in.
        PlainClient late;
        refused_after_return = static_cast<bool>(late.Connect(port));
        Echo(std::move(request), std::move(reply));
      });
  ASSERT_NE(server, nullptr);
  self = server.get();
  port = server->port();
  PlainClient client;
  ASSERT_FALSE(client.Connect(port));
  auto response = client.RoundTrip(Request("POST", "/", "last"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body(), "POST / last");
  EXPECT_TRUE(refused_after_return.load());
  server->Stop();
}

TEST(HttpServerTest, DroppedReplyAnswers500) {
  Worker worker;
  auto server = StartServer(
      TestOptions(), [&](HttpServerRequest request, HttpReply reply) {
        if (request.target == "/later") {
          // Dropped on another thread, after the handler returned.
          worker.Post([reply = std::move(reply)]() mutable {
            HttpReply dropped = std::move(reply);
          });
        }
        // else: dropped right here.
      });
  ASSERT_NE(server, nullptr);
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  for (const char* target : {"/now", "/later", "/now"}) {
    auto response = client.RoundTrip(Request("GET", target));
    ASSERT_TRUE(response.ok()) << target << ": " << response.status();
    EXPECT_EQ(response->result_int(), 500) << target;
  }
  EXPECT_TRUE(WaitFor([&] { return server->InFlight() == 0; }));
}

TEST(HttpServerTest, ReplyAfterStopIsHarmless) {
  ReplySlots slots;
  auto server = StartServer(TestOptions(),
                            [&](HttpServerRequest request, HttpReply reply) {
                              slots.Put(std::move(request), std::move(reply));
                            });
  ASSERT_NE(server, nullptr);
  PlainClient client;
  ASSERT_FALSE(client.Connect(server->port()));
  ASSERT_FALSE(client.Write(Request("GET", "/held")));
  auto slot = slots.Take();
  ASSERT_TRUE(slot.has_value());
  server->Stop();
  EXPECT_TRUE(client.ClosedWithin(std::chrono::seconds(3)));
  server.reset();
  std::move(slot->second)(Text(200, "too late"));  // no crash, no effect
}

TEST(HttpServerTest, ConcurrentClients) {
  constexpr int kClients = 32;
  constexpr int kRequests = 200;
  Worker worker;
  std::atomic<int> handled{0};
  auto server = StartServer(TestOptions(), [&](HttpServerRequest request,
                                               HttpReply reply) {
    EchoInlineOrLater(handled, worker, std::move(request), std::move(reply));
  });
  ASSERT_NE(server, nullptr);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      PlainClient client;
      if (client.Connect(server->port())) return;
      for (int i = 0; i < kRequests; ++i) {
        std::string body = absl::StrCat(c, "-", i);
        auto response = client.RoundTrip(Request("POST", "/", body));
        if (!response.ok() || response->body() != absl::StrCat("POST / ", body))
          return;
        ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_EQ(handled.load(), kClients * kRequests);
  EXPECT_TRUE(WaitFor([&] { return server->InFlight() == 0; }));
}

TEST(HttpServerTest, ConnectionsAreSpreadOverTheIoThreadsAndEachStaysOnOne) {
  constexpr int kThreads = 3;
  constexpr int kClients = 2 * kThreads;
  constexpr int kRequests = 20;
  HttpServerOptions options = TestOptions();
  options.io_threads = kThreads;
  Worker worker;
  std::mutex mu;
  // The io thread that ran the handler, by the client named in the body.
  std::map<std::string, std::set<std::thread::id>> threads_by_client;
  std::atomic<int> handled{0};
  auto server = StartServer(std::move(options), [&](HttpServerRequest request,
                                                    HttpReply reply) {
    {
      std::lock_guard<std::mutex> lock(mu);
      std::string client = request.body.substr(0, request.body.find('-'));
      threads_by_client[client].insert(std::this_thread::get_id());
    }
    // Half the answers from another thread: the connection must still
    // carry on on its own io thread.
    EchoInlineOrLater(handled, worker, std::move(request), std::move(reply));
  });
  ASSERT_NE(server, nullptr);
  // Connected one after the other, so that the assignment is deterministic.
  std::vector<PlainClient> clients(kClients);
  for (auto& client : clients) {
    ASSERT_FALSE(client.Connect(server->port()));
    auto response = client.RoundTrip(Request("POST", "/", "warm-up"));
    ASSERT_TRUE(response.ok());
  }
  std::atomic<int> ok{0};
  std::vector<std::thread> senders;
  for (int c = 0; c < kClients; ++c) {
    senders.emplace_back([&, c] {
      for (int i = 0; i < kRequests; ++i) {
        std::string body = absl::StrCat(c, "-", i);
        auto response = clients[c].RoundTrip(Request("POST", "/", body));
        if (!response.ok() || response->body() != absl::StrCat("POST / ", body))
          return;
        ++ok;
      }
    });
  }
  for (auto& t : senders) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
  std::set<std::thread::id> all;
  for (const auto& [client, threads] : threads_by_client) {
    if (client == "warm") continue;
    EXPECT_EQ(threads.size(), 1u) << "client " << client;
    all.insert(threads.begin(), threads.end());
  }
  EXPECT_EQ(threads_by_client.size(), kClients + 1u);
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads));
}

TEST(HttpServerTest, ANewConnectionGoesToTheIoThreadWithFewestOpen) {
  std::mutex mu;
  std::map<std::string, std::thread::id> thread_of;  // by body
  auto server = StartServer(
      TestOptions(), [&](HttpServerRequest request, HttpReply reply) {
        {
          std::lock_guard<std::mutex> lock(mu);
          thread_of[request.body] = std::this_thread::get_id();
        }
        Echo(std::move(request), std::move(reply));
      });
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  PlainClient stays;
  ASSERT_FALSE(stays.Connect(port));
  ASSERT_TRUE(stays.RoundTrip(Request("POST", "/", "stays")).ok());
  {
    // A short-lived connection (a health probe, say) takes the other thread
    // and leaves.
    PlainClient probe;
    ASSERT_FALSE(probe.Connect(port));
    ASSERT_TRUE(probe.RoundTrip(Request("POST", "/", "probe")).ok());
  }
  ASSERT_TRUE(WaitFor([&] { return server->Connections() == 1; }));
  PlainClient next;
  ASSERT_FALSE(next.Connect(port));
  ASSERT_TRUE(next.RoundTrip(Request("POST", "/", "next")).ok());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_NE(thread_of["probe"], thread_of["stays"]);
  EXPECT_NE(thread_of["next"], thread_of["stays"]);
}

// --- TLS
// -------------------------------------------------------------------------------------

class HttpServerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(testing_certs::MakePki(&pki_)); }

  ssl::context ClientContext(bool with_certificate) {
    ssl::context ctx(ssl::context::tls_client);
    ctx.load_verify_file(pki_.ca_cert);
    ctx.set_verify_mode(ssl::verify_peer);
    if (with_certificate) {
      ctx.use_certificate_chain_file(pki_.client_cert);
      ctx.use_private_key_file(pki_.client_key, ssl::context::pem);
    }
    return ctx;
  }

  HttpServerOptions TlsOptions(bool mutual) {
    HttpServerOptions options = TestOptions();
    options.tls.cert_file = pki_.server_cert;
    options.tls.key_file = pki_.server_key;
    if (mutual) options.tls.client_ca_file = pki_.ca_cert;
    return options;
  }

  testing_certs::Pki pki_;
};

TEST_F(HttpServerTlsTest, HttpsRequestWorks) {
  auto server = StartServer(TlsOptions(false), Echo);
  ASSERT_NE(server, nullptr);
  ssl::context ctx = ClientContext(false);
  TlsClient client(ctx);
  ASSERT_FALSE(client.Connect(server->port()));
  for (int i = 0; i < 3; ++i) {
    auto response = client.RoundTrip(Request("POST", "/tls", "secret"));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->body(), "POST /tls secret");
  }
  auto last =
      client.RoundTrip(Request("GET", "/bye", "", "Connection: close\r\n"));
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_TRUE(client.ClosedWithin(std::chrono::seconds(3)));

  // Plain HTTP on the TLS port gets nothing useful.
  PlainClient plain;
  ASSERT_FALSE(plain.Connect(server->port()));
  EXPECT_FALSE(plain.RoundTrip(Request("GET", "/")).ok());
}

TEST_F(HttpServerTlsTest, MutualTls) {
  auto server = StartServer(TlsOptions(true), Echo);
  ASSERT_NE(server, nullptr);
  {
    ssl::context ctx = ClientContext(true);
    TlsClient client(ctx);
    ASSERT_FALSE(client.Connect(server->port()));
    auto response = client.RoundTrip(Request("GET", "/mtls"));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->body(), "GET /mtls ");
  }
  {
    ssl::context ctx = ClientContext(false);
    TlsClient client(ctx);
    // With TLS 1.3 the client may only learn of the refusal when it reads.
    if (!client.Connect(server->port())) {
      EXPECT_FALSE(client.RoundTrip(Request("GET", "/mtls")).ok());
    }
  }
}

TEST_F(HttpServerTlsTest, AConnectionOverMaxConnectionsIs503OverTls) {
  HttpServerOptions options = TlsOptions(false);
  options.max_connections = 1;
  auto server = StartServer(options, Echo);
  ASSERT_NE(server, nullptr);
  ssl::context ctx = ClientContext(false);
  TlsClient held(ctx);
  ASSERT_FALSE(held.Connect(server->port()));
  ASSERT_TRUE(held.RoundTrip(Request("GET", "/held")).ok());
  TlsClient over(ctx);
  ASSERT_FALSE(over.Connect(server->port()));
  ExpectRefusedOverTheLimit(over.RoundTrip(Request("GET", "/")), 1);
  EXPECT_TRUE(over.ClosedWithin(std::chrono::seconds(3)));
  EXPECT_EQ(server->Connections(), 1);
}

TEST_F(HttpServerTlsTest, UnreadableFilesAreNamed) {
  HttpServerOptions options = TlsOptions(false);
  options.tls.cert_file = pki_.dir + "/missing.pem";
  HttpServer server(options, Echo);
  absl::Status status = server.Start();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("missing.pem"));

  options = TlsOptions(false);
  options.tls.key_file = pki_.client_key;  // does not match the certificate
  HttpServer mismatched(options, Echo);
  status = mismatched.Start();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("client.key"));

  options = TlsOptions(true);
  options.tls.client_ca_file = pki_.dir + "/no-ca.pem";
  HttpServer no_ca(options, Echo);
  status = no_ca.Start();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("no-ca.pem"));
}

}  // namespace
}  // namespace corral::server
