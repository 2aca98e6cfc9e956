// End to end: the real corral binary's limits (connections, timeouts, sizes)
// and authentication (bearer token, mutual TLS) on its HTTP port, against
// hostile or mistaken clients on loopback.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "core/http_client.h"
#include "corral/v1/alerts.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/e2e/e2e_alerts.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/fakes/test_certs.h"

namespace corral::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr absl::Duration kWait = absl::Seconds(15);

// A client that connects and then sends a request head one byte per Drip(),
// never finishing it: a slow-loris attacker.
class SlowLoris {
 public:
  explicit SlowLoris(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      closed_ = true;
    }
  }
  ~SlowLoris() {
    if (fd_ >= 0) ::close(fd_);
  }
  SlowLoris(const SlowLoris&) = delete;
  SlowLoris& operator=(const SlowLoris&) = delete;

  // Reads what the server sent, then sends the next byte; false once the
  // server has closed the connection.
  bool Drip() {
    ReadAvailable();
    if (closed_) return false;
    static constexpr absl::string_view kHead =
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ";
    const char byte = sent_ < kHead.size() ? kHead[sent_] : 'p';
    if (::send(fd_, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
      closed_ = true;
    }
    ++sent_;
    return !closed_;
  }
  bool closed() const { return closed_; }
  // What the server answered before closing ("" when it just closed).
  const std::string& received() const { return received_; }

 private:
  void ReadAvailable() {
    while (!closed_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) return;
      char buf[1024];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0) {
        closed_ = true;
        return;
      }
      received_.append(buf, static_cast<size_t>(n));
    }
  }

  const int fd_;
  bool closed_ = false;
  size_t sent_ = 0;
  std::string received_;
};

class LimitsAndAuthE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/limits_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure() && corral_) {
      std::cerr << "corral stderr:\n" << corral_->Stderr();
    }
  }

  // One webhook output to the receiver; `listen_extra` is more YAML lines for
  // the listen block.
  std::string Config(absl::string_view listen_extra) const {
    return absl::StrCat("listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n",
                        listen_extra,
                        "spool:\n  dir: ./data\n"
                        "outputs:\n"
                        "  - name: hook\n"
                        "    type: webhook\n"
                        "    url: ",
                        receiver_.Url("/alerts"), "\n");
  }

  // POST / with these extra headers; the status, 0 when nothing answered.
  core::HttpResponse Post(std::string body, core::HttpHeaders headers = {}) {
    core::HttpRequest request;
    request.url = corral_->HttpUrl("/");
    request.body = std::move(body);
    request.headers = std::move(headers);
    request.headers.emplace_back("Content-Type", "application/json");
    absl::StatusOr<core::HttpResponse> response = client_.Send(request);
    return response.ok() ? *response : core::HttpResponse{};
  }

  // A fresh test PKI beside the test's directory.
  absl::StatusOr<fakes::TestCerts> Certs() const {
    const std::string certs_dir = dir_ + "-certs";
    std::filesystem::create_directories(certs_dir);
    return fakes::GenerateTestCerts(certs_dir);
  }
  // The listen.tls lines for the server certificate (and, when `mutual`,
  // the client CA).
  static std::string TlsKeys(const fakes::TestCerts& certs, bool mutual) {
    return absl::StrCat(
        "  tls:\n    cert_file: ", certs.server_cert,
        "\n    key_file: ", certs.server_key, "\n",
        mutual ? absl::StrCat("    client_ca_file: ", certs.ca_cert, "\n")
               : "");
  }

  // POST / of an alert with `marker` over `scheme` with these TLS settings.
  absl::StatusOr<core::HttpResponse> PostOver(core::HttpClientTls tls,
                                              absl::string_view scheme,
                                              absl::string_view marker) {
    core::HttpClient client(std::move(tls), "corral-e2e");
    core::HttpRequest request;
    request.url =
        absl::StrCat(scheme, "://127.0.0.1:", corral_->http_port(), "/");
    request.body = MarkerAlertJson(marker);
    request.headers.emplace_back("Content-Type", "application/json");
    return client.Send(request);
  }

  // corral.v1.Alerts/Publish of an alert with `marker`, over these channel
  // credentials, with `token` as the bearer token when not empty.
  grpc::Status PublishOver(std::shared_ptr<grpc::ChannelCredentials> creds,
                           absl::string_view marker,
                           absl::string_view token = "") {
    auto stub = v1::Alerts::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", corral_->grpc_port()), creds));
    v1::Alert alert;
    alert.set_rule("Write below etc");
    alert.set_priority(v1::PRIORITY_ERROR);
    alert.mutable_time()->set_seconds(1796040000);
    alert.set_output("file opened for writing");
    (*alert.mutable_output_fields())["marker"].set_string_value(
        std::string(marker));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    if (!token.empty()) {
      context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    }
    v1::PublishResponse response;
    return stub->Publish(&context, alert, &response);
  }

  fakes::FakeHttpServer receiver_;
  std::string dir_;
  std::unique_ptr<CorralProcess> corral_;
  core::HttpClient client_{core::HttpClientTls{}, "corral-e2e"};
};

TEST_F(
    LimitsAndAuthE2eTest,
    SlowLorisOnEveryConnectionIsRefusedOverTheLimitAndCutAtTheHeaderTimeout) {
  constexpr int kMax = 10;
  constexpr int kAttackers = kMax + 4;
  ASSERT_TRUE(corral_
                  ->StartWithConfig(Config(absl::StrCat(
                      "  max_connections: ", kMax,
                      "\n  header_timeout: 2s\n  idle_timeout: 2s\n")))
                  .ok())
      << corral_->Stderr();
  std::vector<std::unique_ptr<SlowLoris>> attackers;
  for (int i = 0; i < kAttackers; ++i) {
    attackers.push_back(std::make_unique<SlowLoris>(corral_->http_port()));
    attackers.back()->Drip();
  }
  // Every connection is taken: an honest client is refused too, plainly.
  core::HttpResponse refused = Post(MarkerAlertJson("refused"));
  EXPECT_EQ(refused.status, 503);
  EXPECT_THAT(refused.body,
              HasSubstr(absl::StrCat("too many connections: ", kMax,
                                     " are open (max_connections)")));

  // A byte every 100ms keeps none of them alive past the 2s header timeout.
  const absl::Time deadline = absl::Now() + kWait;
  bool any_open = true;
  while (any_open && absl::Now() < deadline) {
    any_open = false;
    for (auto& attacker : attackers) any_open = attacker->Drip() || any_open;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_FALSE(any_open) << "a slow-loris connection was never closed";
  int answered_503 = 0;
  int cut_silently = 0;
  for (const auto& attacker : attackers) {
    if (attacker->received().empty()) {
      ++cut_silently;
    } else {
      EXPECT_THAT(attacker->received(), StartsWith("HTTP/1.1 503 "));
      ++answered_503;
    }
  }
  EXPECT_EQ(cut_silently, kMax);  // held a slot until the header timeout
  EXPECT_EQ(answered_503, kAttackers - kMax);

  // Their slots are free again: the honest client is served.
  ASSERT_EQ(Post(MarkerAlertJson("served")).status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  EXPECT_EQ(Markers(receiver_.Requests()), std::set<std::string>{"served"});
  EXPECT_EQ(
      corral_->MetricValue("corral_http_connections_refused_total").value_or(0),
      kAttackers - kMax + 1);
  // Only the honest client's and the metrics requests' are left.
  EXPECT_LT(corral_->MetricValue("corral_http_connections").value_or(kMax),
            kMax);
  EXPECT_THAT(corral_->Stderr(),
              HasSubstr("http connection limit reached: refusing connections"));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
}

TEST_F(LimitsAndAuthE2eTest, OversizedBodiesAndHeadsAre413And431AndNotTaken) {
  ASSERT_TRUE(corral_
                  ->StartWithConfig(Config(
                      "  max_body_bytes: 4KiB\n  max_header_bytes: 2KiB\n"))
                  .ok())
      << corral_->Stderr();
  core::HttpResponse big_body =
      Post(MarkerAlertJson(absl::StrCat("big-", std::string(5000, 'b'))));
  EXPECT_EQ(big_body.status, 413);
  EXPECT_THAT(big_body.body, HasSubstr("too large"));
  core::HttpResponse big_head = Post(MarkerAlertJson("big-head"),
                                     {{"X-Padding", std::string(3000, 'h')}});
  EXPECT_EQ(big_head.status, 431);
  // The server goes on; only the alert within the limits is delivered.
  ASSERT_EQ(Post(MarkerAlertJson("fits")).status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(Markers(receiver_.Requests()), std::set<std::string>{"fits"});
}

TEST_F(LimitsAndAuthE2eTest,
       WrongTokensAreRefusedOnBothPortsAndNoTokenIsEverShown) {
  constexpr char kToken[] = "e2e-token-9f3b7c41d2";
  constexpr char kWrong[] = "e2e-wrong-4d21aa7e05";
  const std::map<std::string, std::string> env = {{"CORRAL_E2E_TOKEN", kToken}};
  ASSERT_TRUE(
      corral_
          ->StartWithConfig(Config("  auth_token: ${CORRAL_E2E_TOKEN}\n"), env)
          .ok())
      << corral_->Stderr();

  // HTTP: 401 for no token, a wrong one, a near miss or another scheme.
  for (const core::HttpHeaders& headers : std::vector<core::HttpHeaders>{
           {},
           {{"Authorization", absl::StrCat("Bearer ", kWrong)}},
           {{"Authorization", absl::StrCat("Bearer ", kToken, "x")}},
           {{"Authorization", absl::StrCat("Basic ", kToken)}}}) {
    core::HttpResponse r = Post(MarkerAlertJson("nope"), headers);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.Header("www-authenticate"), "Bearer");
  }
  EXPECT_EQ(Post(MarkerAlertJson("http"),
                 {{"Authorization", absl::StrCat("Bearer ", kToken)}})
                .status,
            200);

  // gRPC: UNAUTHENTICATED for a wrong token; the right one publishes.
  grpc::Status wrong =
      PublishOver(grpc::InsecureChannelCredentials(), "nope", kWrong);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(wrong.error_message(), Not(HasSubstr(kWrong)));
  EXPECT_TRUE(
      PublishOver(grpc::InsecureChannelCredentials(), "grpc", kToken).ok());
  ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));
  EXPECT_EQ(Markers(receiver_.Requests()),
            (std::set<std::string>{"http", "grpc"}));
  const std::string metrics = corral_->Metrics();

  // check-config on the same file, with the same environment.
  CorralProcess check(dir_ + "-check");
  ASSERT_TRUE(
      check.Start({"check-config", "-c", dir_ + "/corral.yaml"}, env).ok());
  ASSERT_EQ(check.Wait(kWait).value_or(-1), 0) << check.Stderr();
  EXPECT_THAT(check.Stdout(), HasSubstr("auth_token:"));
  EXPECT_THAT(check.Stdout(), HasSubstr("***"));

  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  const std::string everything = absl::StrCat(
      corral_->Stderr(), corral_->Stdout(), metrics, check.Stdout(),
      check.Stderr(),
      core::ReadFileToString(dir_ + "/data/dead-letter.jsonl").value_or(""));
  EXPECT_THAT(everything, Not(HasSubstr(kToken)));
  EXPECT_THAT(everything, Not(HasSubstr(kWrong)));
}

TEST_F(LimitsAndAuthE2eTest, TlsServesBothPortsAndRefusesPlaintext) {
  absl::StatusOr<fakes::TestCerts> certs = Certs();
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_TRUE(corral_->StartWithConfig(Config(TlsKeys(*certs, false))).ok())
      << corral_->Stderr();
  absl::StatusOr<core::HttpResponse> https =
      PostOver({.ca_file = certs->ca_cert}, "https", "https");
  ASSERT_TRUE(https.ok()) << https.status();
  EXPECT_EQ(https->status, 200);
  EXPECT_FALSE(PostOver({}, "http", "plain").ok());

  grpc::SslCredentialsOptions tls;
  tls.pem_root_certs = core::ReadFileToString(certs->ca_cert).value_or("");
  EXPECT_TRUE(PublishOver(grpc::SslCredentials(tls), "grpcs").ok());
  EXPECT_EQ(
      PublishOver(grpc::InsecureChannelCredentials(), "plain").error_code(),
      grpc::StatusCode::UNAVAILABLE);

  ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(Markers(receiver_.Requests()),
            (std::set<std::string>{"https", "grpcs"}));
}

TEST_F(LimitsAndAuthE2eTest, MutualTlsOnTheHttpPortNeedsAClientCertificate) {
  absl::StatusOr<fakes::TestCerts> certs = Certs();
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_TRUE(corral_->StartWithConfig(Config(TlsKeys(*certs, true))).ok())
      << corral_->Stderr();
  absl::StatusOr<core::HttpResponse> with_cert =
      PostOver({.ca_file = certs->ca_cert,
                .cert_file = certs->client_cert,
                .key_file = certs->client_key},
               "https", "mtls");
  ASSERT_TRUE(with_cert.ok()) << with_cert.status();
  EXPECT_EQ(with_cert->status, 200);

  EXPECT_FALSE(PostOver({.ca_file = certs->ca_cert}, "https", "no-cert").ok());
  EXPECT_FALSE(PostOver({}, "http", "plain").ok());

  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(Markers(receiver_.Requests()), std::set<std::string>{"mtls"});
}

}  // namespace
}  // namespace corral::e2e
