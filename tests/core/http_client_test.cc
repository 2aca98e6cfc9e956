#include "core/http_client.h"

#include <stdlib.h>

#include <atomic>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/fakes/test_certs.h"

namespace corral::core {
namespace {

using fakes::FakeHttpServer;
using fakes::FakeTlsOptions;
using fakes::RecordedRequest;
using fakes::ScriptedResponse;
using fakes::TestCerts;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(10);

std::string MakeTempDir() {
  std::string tmpl = ::testing::TempDir() + "/corral_http_XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

HttpRequest Post(std::string url, std::string body = "hello") {
  HttpRequest request;
  request.method = "POST";
  request.url = std::move(url);
  request.body = std::move(body);
  request.timeout = kWait;
  return request;
}

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }

  FakeHttpServer server_;
  HttpClient client_{HttpClientTls{}, "corral-test/1.0"};
};

TEST_F(HttpClientTest, RoundTripsStatusHeadersAndBody) {
  server_.Script({{.status = 201,
                   .headers = {{"X-Reply", "yes"}, {"Retry-After", "5"}},
                   .body = "created"}});
  HttpRequest request = Post(server_.Url("/path/x?q=1"), R"({"a":1})");
  request.headers = {{"Content-Type", "application/json"}};
  absl::StatusOr<HttpResponse> response = client_.Send(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "created");
  EXPECT_EQ(response->Header("x-reply"), "yes");
  EXPECT_EQ(response->Header("X-Reply"), "yes");  // any case
  EXPECT_EQ(response->Header("retry-after"), "5");
  EXPECT_EQ(response->Header("x-absent"), "");
  for (const auto& [name, value] : response->headers) {
    EXPECT_EQ(name, absl::AsciiStrToLower(name));
  }

  ASSERT_EQ(server_.RequestCount(), 1u);
  RecordedRequest got = server_.Requests()[0];
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.target, "/path/x?q=1");
  EXPECT_EQ(got.body, R"({"a":1})");
  EXPECT_EQ(got.Header("content-type"), "application/json");
  EXPECT_EQ(got.Header("content-length"), "7");
  EXPECT_EQ(got.Header("user-agent"), "corral-test/1.0");
  EXPECT_EQ(got.Header("expect"), "");  // no 100-continue round trip
}

TEST_F(HttpClientTest, NoMadeUpContentType) {
  ASSERT_TRUE(client_.Send(Post(server_.Url())).ok());
  ASSERT_EQ(server_.RequestCount(), 1u);
  EXPECT_EQ(server_.Requests()[0].Header("content-type"), "");
  EXPECT_EQ(server_.Requests()[0].body, "hello");
}

TEST_F(HttpClientTest, PutAndGet) {
  HttpRequest put = Post(server_.Url("/obj"), "payload");
  put.method = "PUT";
  ASSERT_TRUE(client_.Send(put).ok());
  HttpRequest get;
  get.method = "GET";
  get.url = server_.Url("/obj");
  absl::StatusOr<HttpResponse> response = client_.Send(get);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "ok");

  std::vector<RecordedRequest> got = server_.Requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].method, "PUT");
  EXPECT_EQ(got[0].body, "payload");
  EXPECT_EQ(got[1].method, "GET");
  EXPECT_EQ(got[1].body, "");
}

TEST_F(HttpClientTest, SendsCustomHeaders) {
  HttpRequest request = Post(server_.Url());
  request.headers = {{"X-Team", "secops"},
                     {"Authorization", "Bearer abc"},
                     {"X-Empty", ""},
                     {"User-Agent", "override/2"}};
  ASSERT_TRUE(client_.Send(request).ok());
  RecordedRequest got = server_.Requests().at(0);
  EXPECT_EQ(got.Header("x-team"), "secops");
  EXPECT_EQ(got.Header("authorization"), "Bearer abc");
  bool has_empty = false;
  for (const auto& [name, value] : got.headers) {
    if (name == "x-empty") has_empty = value.empty();
  }
  EXPECT_TRUE(has_empty);
  EXPECT_EQ(got.Header("user-agent"), "override/2");
}

TEST_F(HttpClientTest, RejectsHeaderInjection) {
  HttpRequest request = Post(server_.Url());
  request.headers = {{"X-Evil", "a\r\nX-Injected: 1"}};
  EXPECT_EQ(client_.Send(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.headers = {{"Bad Name", "v"}};
  EXPECT_EQ(client_.Send(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.headers.clear();
  request.method = "GE T";
  EXPECT_EQ(client_.Send(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server_.RequestCount(), 0u);
}

TEST_F(HttpClientTest, StatusesAreResponsesNotErrors) {
  server_.Script(
      {{.status = 503, .body = "down"}, {.status = 404, .body = "nope"}});
  absl::StatusOr<HttpResponse> a = client_.Send(Post(server_.Url()));
  absl::StatusOr<HttpResponse> b = client_.Send(Post(server_.Url()));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->status, 503);
  EXPECT_EQ(a->body, "down");
  EXPECT_EQ(b->status, 404);
}

TEST_F(HttpClientTest, DoesNotFollowRedirects) {
  server_.Script(
      {{.status = 302, .headers = {{"Location", "/elsewhere"}}, .body = ""}});
  absl::StatusOr<HttpResponse> response =
      client_.Send(Post(server_.Url("/here")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 302);
  EXPECT_EQ(response->Header("location"), "/elsewhere");
  EXPECT_EQ(server_.RequestCount(), 1u);
}

TEST_F(HttpClientTest, KeepsOnlyTheFirst64KiBOfTheBodyAndTheConnection) {
  server_.Script({{.body = std::string(100 << 10, 'x')}});
  absl::StatusOr<HttpResponse> big = client_.Send(Post(server_.Url()));
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->body.size(), 64u << 10);
  ASSERT_TRUE(client_.Send(Post(server_.Url())).ok());
  EXPECT_EQ(server_.ConnectionCount(), 1u);
}

TEST_F(HttpClientTest, SendsLargeBodies) {
  std::string body(3 << 20, 'b');
  ASSERT_TRUE(client_.Send(Post(server_.Url(), body)).ok());
  EXPECT_EQ(server_.Requests().at(0).body, body);
}

TEST_F(HttpClientTest, ReusesItsConnection) {
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<HttpResponse> response = client_.Send(Post(server_.Url()));
    ASSERT_TRUE(response.ok()) << response.status();
  }
  EXPECT_EQ(server_.RequestCount(), 5u);
  EXPECT_EQ(server_.ConnectionCount(), 1u);
}

TEST_F(HttpClientTest, ReconnectsWhenTheServerClosed) {
  server_.Script({{.close_connection = true}});
  ASSERT_TRUE(client_.Send(Post(server_.Url())).ok());
  ASSERT_TRUE(client_.Send(Post(server_.Url())).ok());
  EXPECT_EQ(server_.RequestCount(), 2u);
  EXPECT_EQ(server_.ConnectionCount(), 2u);
}

TEST_F(HttpClientTest, TimesOut) {
  server_.Script({{.delay = absl::Seconds(5)}});
  HttpRequest request = Post(server_.Url("/services/T000/SECRET"));
  request.timeout = absl::Milliseconds(200);
  absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response = client_.Send(request);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded)
      << response.status();
  EXPECT_THAT(response.status().message(), Not(HasSubstr("SECRET")));
  // The client still works afterwards, on a fresh connection.
  request.timeout = kWait;
  EXPECT_TRUE(client_.Send(request).ok());
}

TEST_F(HttpClientTest, NoTimeLeftIsDeadlineExceeded) {
  HttpRequest request = Post(server_.Url());
  request.timeout = absl::ZeroDuration();
  EXPECT_EQ(client_.Send(request).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(server_.RequestCount(), 0u);
}

TEST_F(HttpClientTest, ConnectionRefusedIsUnavailableAndHidesThePath) {
  const std::string url = server_.Url("/services/T000/SECRET?token=hunter2");
  server_.Stop();
  absl::StatusOr<HttpResponse> response = client_.Send(Post(url));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable)
      << response.status();
  EXPECT_THAT(response.status().message(),
              AllOf(HasSubstr(absl::StrCat("127.0.0.1:", server_.port())),
                    Not(HasSubstr("SECRET")), Not(HasSubstr("T000")),
                    Not(HasSubstr("hunter2"))));
}

TEST_F(HttpClientTest, BadUrlIsInvalidArgument) {
  HttpRequest request = Post("ftp://127.0.0.1/secret-path");
  absl::StatusOr<HttpResponse> response = client_.Send(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument)
      << response.status();
  EXPECT_THAT(response.status().message(), Not(HasSubstr("secret-path")));
  request.url = "http://[::1/x";
  EXPECT_EQ(client_.Send(request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HttpClientPoolTest, LeasesReturnToThePool) {
  FakeHttpServer server;
  ASSERT_TRUE(server.Start().ok());
  HttpClientPool pool(HttpClientTls{}, "pool/1");
  HttpClient* first;
  HttpClient* second;
  {
    HttpClientPool::Lease a = pool.Acquire();
    HttpClientPool::Lease b = pool.Acquire();
    first = &*a;
    second = &*b;
    EXPECT_NE(first, second);  // concurrent leases never share a client
    ASSERT_TRUE(a->Send(Post(server.Url())).ok());
  }
  {
    HttpClientPool::Lease again = pool.Acquire();
    EXPECT_TRUE(&*again == first || &*again == second);
    HttpClientPool::Lease moved =
        std::move(again);  // a moved-from lease returns nothing
    ASSERT_TRUE(moved->Send(Post(server.Url())).ok());
  }
  EXPECT_EQ(server.Requests().at(0).Header("user-agent"), "pool/1");
  EXPECT_LE(server.ConnectionCount(), 2u);
}

TEST(HttpClientPoolTest, ManyThreadsManyRequests) {
  FakeHttpServer server;
  ASSERT_TRUE(server.Start().ok());
  HttpClientPool pool(HttpClientTls{}, "pool/1");
  constexpr int kThreads = 8;
  constexpr int kEach = 250;
  std::atomic<int> failures{0};
  absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        absl::StatusOr<HttpResponse> r =
            pool.Acquire()->Send(Post(server.Url(), absl::StrCat(t, "-", i)));
        if (!r.ok() || r->status != 200) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  absl::Duration took = absl::Now() - start;
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server.RequestCount(), size_t{kThreads * kEach});
  EXPECT_LE(server.ConnectionCount(), size_t{kThreads});
  std::set<std::string> bodies;
  for (const RecordedRequest& r : server.Requests()) bodies.insert(r.body);
  EXPECT_EQ(bodies.size(), size_t{kThreads * kEach});
  std::cout << kThreads * kEach / absl::ToDoubleSeconds(took)
            << " requests/s\n";
}

TEST(PercentEncodeTest, KeepsUnreservedCharactersOnly) {
  EXPECT_EQ(PercentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(PercentEncode("a b+c/d?e=f&g:h$"),
            "a%20b%2Bc%2Fd%3Fe%3Df%26g%3Ah%24");
  EXPECT_EQ(PercentEncode("falco/2026-07-05/x y.json", true),
            "falco/2026-07-05/x%20y.json");
  EXPECT_EQ(PercentEncode("\xC3\xA9\x01"),
            "%C3%A9%01");  // UTF-8 bytes, control
  EXPECT_EQ(PercentEncode(""), "");
}

// The fake itself: things the other tests rely on.
TEST(FakeHttpServerTest, ChunkedBodiesAndWaitForRequests) {
  FakeHttpServer server;
  ASSERT_TRUE(server.Start().ok());
  EXPECT_FALSE(server.WaitForRequests(1, absl::Milliseconds(50)));
  HttpClient client(HttpClientTls{}, "t");
  HttpRequest request = Post(server.Url(), "chunk me");
  request.headers = {{"Transfer-Encoding", "chunked"}};
  std::thread sender([&] { EXPECT_TRUE(client.Send(request).ok()); });
  EXPECT_TRUE(server.WaitForRequests(1, kWait));
  sender.join();
  RecordedRequest got = server.Requests().at(0);
  EXPECT_EQ(got.Header("transfer-encoding"), "chunked");
  EXPECT_EQ(got.body, "chunk me");
  server.ClearRequests();
  EXPECT_EQ(server.RequestCount(), 0u);
}

TEST(FakeHttpServerTest, DefaultResponseAndRestartOnTheSamePort) {
  FakeHttpServer server;
  ASSERT_TRUE(server.Start().ok());
  server.SetDefault({.status = 202, .body = "accepted"});
  HttpClient client(HttpClientTls{}, "t");
  ASSERT_EQ(client.Send(Post(server.Url())).value().status, 202);
  const int port = server.port();
  server.Stop();
  EXPECT_EQ(client.Send(Post(server.Url())).status().code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE(server.Start(port).ok());
  EXPECT_EQ(server.port(), port);
  absl::StatusOr<HttpResponse> response = client.Send(Post(server.Url()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(server.RequestCount(), 2u);
}

TEST(FakeHttpServerTest, DropConnectionAnswersNothing) {
  FakeHttpServer server;
  ASSERT_TRUE(server.Start().ok());
  server.Script({{.drop_connection = true}});
  HttpClient client(HttpClientTls{}, "t");
  absl::StatusOr<HttpResponse> dropped = client.Send(Post(server.Url()));
  EXPECT_EQ(dropped.status().code(), absl::StatusCode::kUnavailable)
      << dropped.status();
  EXPECT_EQ(server.RequestCount(), 1u);  // recorded, then dropped
  absl::StatusOr<HttpResponse> next = client.Send(Post(server.Url()));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->status, 200);
}

TEST(FakeHttpServerTest, StopWhileAResponseIsDelayed) {
  FakeHttpServer server;
  ASSERT_TRUE(server.Start().ok());
  server.SetDefault({.delay = absl::Seconds(30)});
  HttpClient client(HttpClientTls{}, "t");
  absl::StatusOr<HttpResponse> response;
  std::thread sender([&] { response = client.Send(Post(server.Url())); });
  ASSERT_TRUE(server.WaitForRequests(1, kWait));
  absl::Time start = absl::Now();
  server.Stop();
  sender.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable)
      << response.status();
}

class HttpClientTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new TestCerts(GenerateOrDie());
    other_ = new TestCerts(GenerateOrDie());
  }
  static void TearDownTestSuite() {
    delete certs_;
    delete other_;
  }
  static TestCerts GenerateOrDie() {
    absl::StatusOr<TestCerts> certs = fakes::GenerateTestCerts(MakeTempDir());
    EXPECT_TRUE(certs.ok()) << certs.status();
    return certs.value_or(TestCerts{});
  }

  static TestCerts* certs_;
  static TestCerts* other_;  // an unrelated CA
};
TestCerts* HttpClientTlsTest::certs_ = nullptr;
TestCerts* HttpClientTlsTest::other_ = nullptr;

TEST_F(HttpClientTlsTest, VerifiesTheServerWithTheGivenCa) {
  FakeHttpServer server(
      {.cert_file = certs_->server_cert, .key_file = certs_->server_key});
  ASSERT_TRUE(server.Start().ok());
  ASSERT_TRUE(absl::StartsWith(server.Url(), "https://127.0.0.1:"));
  HttpClient client({.ca_file = certs_->ca_cert}, "t");
  absl::StatusOr<HttpResponse> response = client.Send(Post(server.Url("/tls")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  // The DNS name in the certificate works too, and the TLS connection is
  // reused.
  response = client.Send(
      Post(absl::StrCat("https://localhost:", server.port(), "/tls")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(server.RequestCount(), 2u);
  EXPECT_EQ(server.Requests()[0].body, "hello");
}

TEST_F(HttpClientTlsTest, WrongCaIsFailedPrecondition) {
  FakeHttpServer server(
      {.cert_file = certs_->server_cert, .key_file = certs_->server_key});
  ASSERT_TRUE(server.Start().ok());
  HttpClient client({.ca_file = other_->ca_cert}, "t");
  absl::StatusOr<HttpResponse> response =
      client.Send(Post(server.Url("/services/T000/SECRET")));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kFailedPrecondition)
      << response.status();
  EXPECT_THAT(response.status().message(), Not(HasSubstr("SECRET")));
  EXPECT_EQ(server.RequestCount(), 0u);
}

TEST_F(HttpClientTlsTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  FakeHttpServer server(
      {.cert_file = certs_->server_cert, .key_file = certs_->server_key});
  ASSERT_TRUE(server.Start().ok());
  HttpClient client({.ca_file = other_->ca_cert, .insecure_skip_verify = true},
                    "t");
  absl::StatusOr<HttpResponse> response = client.Send(Post(server.Url()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpClientTlsTest, MutualTls) {
  FakeHttpServer server({.cert_file = certs_->server_cert,
                         .key_file = certs_->server_key,
                         .client_ca_file = certs_->ca_cert});
  ASSERT_TRUE(server.Start().ok());

  HttpClient anonymous({.ca_file = certs_->ca_cert}, "t");
  absl::StatusOr<HttpResponse> refused =
      anonymous.Send(Post(server.Url("/services/T000/SECRET")));
  EXPECT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
      << refused.status();
  EXPECT_THAT(refused.status().message(), Not(HasSubstr("SECRET")));

  HttpClient stranger({.ca_file = certs_->ca_cert,
                       .cert_file = other_->client_cert,
                       .key_file = other_->client_key},
                      "t");
  EXPECT_FALSE(stranger.Send(Post(server.Url())).ok());
  EXPECT_EQ(server.RequestCount(), 0u);

  HttpClient known({.ca_file = certs_->ca_cert,
                    .cert_file = certs_->client_cert,
                    .key_file = certs_->client_key},
                   "t");
  absl::StatusOr<HttpResponse> response = known.Send(Post(server.Url()));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(server.RequestCount(), 1u);
}

TEST_F(HttpClientTlsTest, MissingClientKeyFileIsFailedPrecondition) {
  FakeHttpServer server(
      {.cert_file = certs_->server_cert, .key_file = certs_->server_key});
  ASSERT_TRUE(server.Start().ok());
  HttpClient client({.ca_file = certs_->ca_cert,
                     .cert_file = certs_->client_cert,
                     .key_file = "/nonexistent/key.pem"},
                    "t");
  EXPECT_EQ(client.Send(Post(server.Url())).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace corral::core
