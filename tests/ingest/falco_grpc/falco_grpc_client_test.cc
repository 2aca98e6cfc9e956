// The Falco gRPC client against a fake Falco serving real gRPC on loopback
// and on a unix socket.
#include "ingest/falco_grpc/falco_grpc_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/priority.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_falco_grpc.h"
#include "tests/fakes/test_certs.h"
#include "tests/ingest/falco_grpc/falco_priorities.h"

namespace corral::ingest::falco_grpc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kWait = absl::Seconds(20);
const absl::Time kAlertTime = absl::FromUnixSeconds(1783277459);

// An intake that refuses (ResourceExhausted) while told to and accepts
// otherwise, recording what it accepted. Thread-safe.
class ScriptedIntake : public core::Intake {
 public:
  void Submit(core::Alert alert, core::IntakeDone done) override {
    absl::StatusOr<uint64_t> answer;
    {
      absl::MutexLock lock(&mu_);
      if (refusing_) {
        ++refused_;
        answer = absl::ResourceExhaustedError("the spool is full");
      } else {
        accepted_.push_back(std::move(alert));
        answer = accepted_.size();
      }
    }
    std::move(done)(answer);
  }
  void SetRefusing(bool refusing) {
    absl::MutexLock lock(&mu_);
    refusing_ = refusing;
  }
  std::vector<core::Alert> accepted() const {
    absl::MutexLock lock(&mu_);
    return accepted_;
  }
  int refused() const {
    absl::MutexLock lock(&mu_);
    return refused_;
  }
  std::vector<std::string> rules() const {
    std::vector<std::string> out;
    for (const core::Alert& a : accepted()) out.push_back(a.rule);
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  bool refusing_ ABSL_GUARDED_BY(mu_) = false;
  int refused_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<core::Alert> accepted_ ABSL_GUARDED_BY(mu_);
};

// Captures what this process writes to stderr (every thread's log lines)
// while it lives.
class StderrCapture {
 public:
  explicit StderrCapture(std::string path) : path_(std::move(path)) {
    const int file = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(file, STDERR_FILENO);
    ::close(file);
  }
  ~StderrCapture() { Restore(); }
  std::string Text() const {
    std::ifstream in(path_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void Restore() {
    if (saved_ < 0) return;
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }

 private:
  std::string path_;
  int saved_ = -1;
};

class FalcoGrpcClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/falco_grpc_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    // Clients stop before the fakes they talk to.
    if (client_) client_->Stop(absl::Now());
    client_.reset();
  }

  // A client for `config` (plaintext TCP to `fake_` unless the config says
  // otherwise), with short backoffs.
  void StartClient(FalcoGrpcConfig config, FalcoGrpcClientOptions tuning = {}) {
    if (config.name.empty()) config.name = "node-a";
    if (config.address.empty()) {
      config.address = fake_->address();
      config.unix_socket = absl::StartsWith(config.address, "unix://");
      config.plaintext = !config.unix_socket;
    }
    config.poll_interval = absl::Milliseconds(20);
    config.path = "ingest.falco_grpc[0]";
    tuning.initial_backoff = absl::Milliseconds(20);
    if (tuning.max_backoff == FalcoGrpcClientOptions{}.max_backoff) {
      tuning.max_backoff = absl::Milliseconds(200);
    }
    tuning.initial_refusal_backoff = absl::Milliseconds(10);
    tuning.max_refusal_backoff = absl::Milliseconds(50);
    absl::StatusOr<std::unique_ptr<FalcoGrpcClient>> client =
        FalcoGrpcClient::Create(
            std::move(config), &intake_,
            [this](absl::string_view id, absl::string_view reason,
                   absl::string_view data) {
              absl::MutexLock lock(&letters_mu_);
              letters_.push_back(absl::StrCat(id, "|", reason, "|", data));
              return absl::OkStatus();
            },
            &metrics_, "corral-host", std::move(tuning));
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
    client_->Start();
  }

  uint64_t Counter(absl::string_view name) {
    return metrics_.AddCounter(name, "", {"connection"})
        ->With({"node-a"})
        ->Value();
  }
  uint64_t StreamEnds(absl::string_view code) {
    return metrics_
        .AddCounter("corral_falco_grpc_stream_ends_total", "",
                    {"connection", "code"})
        ->With({"node-a", std::string(code)})
        ->Value();
  }
  double Connected() {
    return metrics_.AddGauge("corral_falco_grpc_connected", "", {"connection"})
        ->With({"node-a"})
        ->Value();
  }
  std::vector<std::string> Letters() {
    absl::MutexLock lock(&letters_mu_);
    return letters_;
  }
  bool WaitFor(const std::function<bool()>& cond) {
    return fake_->WaitFor(cond, kWait);
  }
  bool WaitForAccepted(size_t n) {
    return WaitFor([&] { return intake_.accepted().size() >= n; });
  }
  void Push(absl::string_view rule,
            falco::schema::priority priority = falco::schema::WARNING) {
    fake_->Push(fakes::MakeFalcoResponse(rule, priority, kAlertTime,
                                         {{"proc.name", "bash"}}));
  }
  absl::StatusOr<fakes::TestCerts> Certs() {
    return fakes::GenerateTestCerts(dir_);
  }
  // Replaces the fake with one serving TLS with `certs`' server certificate,
  // and demanding a client certificate signed by their CA when `mutual`.
  absl::Status StartTlsFake(const fakes::TestCerts& certs, bool mutual) {
    fake_ = std::make_unique<fakes::FakeFalcoGrpc>(
        fakes::FakeTlsOptions{.cert_file = certs.server_cert,
                              .key_file = certs.server_key,
                              .client_ca_file = mutual ? certs.ca_cert : ""});
    return fake_->Start();
  }

  std::string dir_;
  core::MetricsRegistry metrics_;
  ScriptedIntake intake_;
  absl::Mutex letters_mu_;
  std::vector<std::string> letters_ ABSL_GUARDED_BY(letters_mu_);
  std::unique_ptr<fakes::FakeFalcoGrpc> fake_ =
      std::make_unique<fakes::FakeFalcoGrpc>();
  std::unique_ptr<FalcoGrpcClient> client_;
};

TEST_F(FalcoGrpcClientTest, AlertsArriveInOrderWithTheirPriorities) {
  ASSERT_TRUE(fake_->Start().ok());
  const auto& all = FalcoPriorities();
  std::vector<std::string> rules;
  for (size_t i = 0; i < all.size(); ++i) {
    rules.push_back(absl::StrCat("rule ", i));
    Push(rules.back(), all[i].first);
  }
  StartClient({});
  ASSERT_TRUE(WaitForAccepted(all.size()));
  std::vector<core::Alert> got = intake_.accepted();
  ASSERT_EQ(got.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(got[i].rule, rules[i]);
    EXPECT_EQ(got[i].priority, all[i].second) << i;
    EXPECT_EQ(got[i].time, kAlertTime);
    EXPECT_EQ(got[i].hostname, "falco-node");
    EXPECT_EQ(got[i].output_fields_json, R"({"proc.name":"bash"})");
  }
  // Later alerts come with the next poll, on the same stream.
  Push("later");
  ASSERT_TRUE(WaitForAccepted(all.size() + 1));
  EXPECT_EQ(intake_.accepted().back().rule, "later");
  EXPECT_EQ(fake_->SubStreams(), 1);
  // Polling goes on, counted on both sides.
  EXPECT_TRUE(WaitFor([&] {
    return fake_->SubRequests() >= 5 &&
           Counter("corral_falco_grpc_requests_total") >= 5;
  }));
  EXPECT_EQ(Counter("corral_falco_grpc_received_total"), all.size() + 1);
  EXPECT_EQ(Counter("corral_falco_grpc_accepted_total"), all.size() + 1);
  EXPECT_EQ(Connected(), 1);
  EXPECT_EQ(Counter("corral_falco_grpc_reconnects_total"), 0u);
  EXPECT_THAT(Letters(), IsEmpty());
}

TEST_F(FalcoGrpcClientTest, FalcoRestartingIsSurvivedWithoutDuplicates) {
  ASSERT_TRUE(fake_->Start().ok());
  StartClient({});
  for (int i = 1; i <= 3; ++i) Push(absl::StrCat("before ", i));
  ASSERT_TRUE(WaitForAccepted(3));

  const int port = fake_->port();
  fake_->Stop();
  ASSERT_TRUE(WaitFor([&] { return Connected() == 0; }));
  // Queued while Falco is down (the fake keeps its queue).
  Push("during");
  ASSERT_TRUE(fake_->Start(port).ok());
  for (int i = 1; i <= 3; ++i) Push(absl::StrCat("after ", i));
  ASSERT_TRUE(WaitForAccepted(7));
  EXPECT_THAT(intake_.rules(),
              ElementsAre("before 1", "before 2", "before 3", "during",
                          "after 1", "after 2", "after 3"));
  EXPECT_TRUE(WaitFor([&] { return Connected() == 1; }));
  EXPECT_GE(Counter("corral_falco_grpc_reconnects_total"), 1u);
  EXPECT_GE(fake_->SubStreams(), 2);
  EXPECT_EQ(fake_->Queued(), 0u);
  EXPECT_TRUE(WaitFor([&] { return fake_->Sent() == 7; }));
}

TEST_F(FalcoGrpcClientTest, ReadsFalcosUnixSocket) {
  ASSERT_TRUE(fake_->StartUnix(dir_ + "/falco.sock").ok());
  Push("over the socket", falco::schema::CRITICAL);
  StartClient({});
  EXPECT_EQ(client_->security(), "unix socket");
  ASSERT_TRUE(WaitForAccepted(1));
  EXPECT_EQ(intake_.accepted()[0].rule, "over the socket");
  EXPECT_EQ(intake_.accepted()[0].priority, core::Priority::kCritical);

  // A restart on the same socket path.
  fake_->Stop();
  ASSERT_TRUE(WaitFor([&] { return Connected() == 0; }));
  ASSERT_TRUE(fake_->StartUnix(dir_ + "/falco.sock").ok());
  Push("after restart");
  ASSERT_TRUE(WaitForAccepted(2));
  EXPECT_THAT(intake_.rules(), ElementsAre("over the socket", "after restart"));
}

TEST_F(FalcoGrpcClientTest, HostnameComesFromTheMachineForASocket) {
  ASSERT_TRUE(fake_->StartUnix(dir_ + "/falco.sock").ok());
  falco::outputs::response r =
      fakes::MakeFalcoResponse("old falco", falco::schema::NOTICE, kAlertTime);
  r.clear_hostname();
  fake_->Push(r);
  StartClient({});
  ASSERT_TRUE(WaitForAccepted(1));
  EXPECT_EQ(intake_.accepted()[0].hostname, "corral-host");
}

TEST_F(FalcoGrpcClientTest, UnimplementedMeansFalco044AndIsRetriedSlowly) {
  fake_->SetUnimplemented(true);
  ASSERT_TRUE(fake_->Start().ok());
  Push("waiting");
  StderrCapture capture(dir_ + "/stderr.txt");
  StartClient({},
              FalcoGrpcClientOptions{.max_backoff = absl::Milliseconds(300)});
  ASSERT_TRUE(WaitFor([&] { return StreamEnds("UNIMPLEMENTED") >= 3; }));
  capture.Restore();
  const std::string log = capture.Text();
  EXPECT_THAT(log, HasSubstr("level=error msg=\"the peer has no Falco gRPC "
                             "output (UNIMPLEMENTED): it is probably Falco "
                             "0.44 or later"));
  EXPECT_THAT(log, HasSubstr("connection=node-a"));
  // One line, however often it is retried.
  EXPECT_EQ(log.find("UNIMPLEMENTED"), log.rfind("UNIMPLEMENTED")) << log;
  EXPECT_EQ(fake_->SubRequests(), 0);

  // Falco downgraded: the next attempt reads from it.
  const int port = fake_->port();
  fake_->Stop();
  fake_->SetUnimplemented(false);
  ASSERT_TRUE(fake_->Start(port).ok());
  ASSERT_TRUE(WaitForAccepted(1));
  EXPECT_EQ(intake_.accepted()[0].rule, "waiting");
}

TEST_F(FalcoGrpcClientTest, MutualTls) {
  absl::StatusOr<fakes::TestCerts> certs = Certs();
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_TRUE(StartTlsFake(*certs, /*mutual=*/true).ok());
  Push("over mutual TLS");
  StartClient({.address = fake_->address(),
               .ca_file = certs->ca_cert,
               .cert_file = certs->client_cert,
               .key_file = certs->client_key});
  EXPECT_EQ(client_->security(), "mutual TLS");
  ASSERT_TRUE(WaitForAccepted(1));
  EXPECT_EQ(intake_.accepted()[0].rule, "over mutual TLS");
  // The hostname Falco sent wins over the address's host.
  EXPECT_EQ(intake_.accepted()[0].hostname, "falco-node");
}

TEST_F(FalcoGrpcClientTest, ServerNameIsCheckedInsteadOfTheAddress) {
  absl::StatusOr<fakes::TestCerts> certs = Certs();
  ASSERT_TRUE(certs.ok()) << certs.status();
  // Falco's certificate is for 127.0.0.1 and localhost.
  ASSERT_TRUE(StartTlsFake(*certs, /*mutual=*/false).ok());
  Push("via localhost");
  StartClient({.address = fake_->address(),
               .ca_file = certs->ca_cert,
               .server_name = "falco.example"});
  ASSERT_TRUE(WaitFor([&] { return StreamEnds("UNAVAILABLE") >= 2; }));
  EXPECT_EQ(fake_->SubStreams(), 0);
  client_->Stop(absl::Now());

  StartClient({.address = fake_->address(),
               .ca_file = certs->ca_cert,
               .server_name = "localhost"});
  ASSERT_TRUE(WaitForAccepted(1));
  EXPECT_EQ(intake_.accepted()[0].rule, "via localhost");
}

TEST_F(FalcoGrpcClientTest, FalcoRefusesAClientWithoutCertificate) {
  absl::StatusOr<fakes::TestCerts> certs = Certs();
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_TRUE(StartTlsFake(*certs, /*mutual=*/true).ok());
  Push("never read");
  StartClient({.address = fake_->address(), .ca_file = certs->ca_cert});
  EXPECT_EQ(client_->security(), "TLS");
  ASSERT_TRUE(WaitFor([&] { return StreamEnds("UNAVAILABLE") >= 3; }));
  EXPECT_EQ(fake_->SubStreams(), 0);
  EXPECT_EQ(fake_->Queued(), 1u);
  EXPECT_THAT(intake_.accepted(), IsEmpty());
  EXPECT_EQ(Connected(), 0);
}

TEST_F(FalcoGrpcClientTest, CertificateFilesAreReadAtCreate) {
  FalcoGrpcConfig config;
  config.name = "node-b";
  config.address = "127.0.0.1:5060";
  config.ca_file = dir_ + "/missing-ca.pem";
  config.path = "ingest.falco_grpc[1]";
  absl::StatusOr<std::unique_ptr<FalcoGrpcClient>> client =
      FalcoGrpcClient::Create(config, &intake_, nullptr, &metrics_, "h");
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.status().message(),
              HasSubstr("ingest.falco_grpc[1].tls.ca_file: cannot read " +
                        dir_ + "/missing-ca.pem"));
}

TEST_F(FalcoGrpcClientTest, RefusalsStopPollingUntilTheIntakeTakesAlertsAgain) {
  ASSERT_TRUE(fake_->Start().ok());
  intake_.SetRefusing(true);
  Push("first");
  StartClient({});
  ASSERT_TRUE(WaitFor([&] { return intake_.refused() >= 3; }));
  const int64_t requests = fake_->SubRequests();
  Push("second");
  ASSERT_TRUE(WaitFor([&] { return intake_.refused() >= 8; }));
  // Held by corral, retried, and nothing more asked of Falco meanwhile:
  // "second" waits in Falco's queue.
  EXPECT_EQ(fake_->SubRequests(), requests);
  EXPECT_EQ(fake_->Queued(), 1u);
  EXPECT_EQ(Counter("corral_falco_grpc_received_total"), 1u);
  EXPECT_GE(Counter("corral_falco_grpc_refused_total"), 8u);

  intake_.SetRefusing(false);
  ASSERT_TRUE(WaitForAccepted(2));
  EXPECT_THAT(intake_.rules(), ElementsAre("first", "second"));
  EXPECT_THAT(Letters(), IsEmpty());
}

TEST_F(FalcoGrpcClientTest, StopDeadLettersWhatTheIntakeNeverAccepted) {
  ASSERT_TRUE(fake_->Start().ok());
  intake_.SetRefusing(true);
  Push("held 1", falco::schema::ERROR);
  Push("held 2", falco::schema::ERROR);
  StartClient({});
  ASSERT_TRUE(WaitFor([&] {
    return Counter("corral_falco_grpc_received_total") == 2 &&
           intake_.refused() >= 1;
  }));
  client_->Stop(absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(client_->abandoned(), 2u);
  std::vector<std::string> letters = Letters();
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_THAT(letters[0], HasSubstr("|corral stopped before the intake "
                                    "accepted the alert|"));
  EXPECT_THAT(letters[0], HasSubstr(R"("rule":"held 1")"));
  EXPECT_THAT(letters[1], HasSubstr(R"("rule":"held 2")"));
  EXPECT_THAT(letters[1], HasSubstr(R"("priority":"Error")"));
  EXPECT_EQ(Counter("corral_falco_grpc_dead_lettered_total"), 2u);
  EXPECT_THAT(intake_.accepted(), IsEmpty());
}

TEST_F(FalcoGrpcClientTest, StopHalfClosesAndFalcoEndsTheStream) {
  ASSERT_TRUE(fake_->Start().ok());
  StartClient({}, FalcoGrpcClientOptions{.stop_grace = absl::Seconds(15)});
  Push("one");
  ASSERT_TRUE(WaitForAccepted(1));
  const absl::Time before = absl::Now();
  client_->Stop(absl::Now() + absl::Seconds(15));
  // The fake ended the stream (OK) on the half-close: no waiting out the
  // grace period, no cancellation.
  EXPECT_LT(absl::Now() - before, absl::Seconds(5));
  EXPECT_EQ(StreamEnds("OK"), 1u);
  EXPECT_EQ(StreamEnds("CANCELLED"), 0u);
  EXPECT_TRUE(WaitFor([&] { return fake_->OpenSubStreams() == 0; }));
  EXPECT_EQ(client_->abandoned(), 0u);
}

TEST_F(FalcoGrpcClientTest, ResponsesThatAreNoAlertsAreDeadLettered) {
  ASSERT_TRUE(fake_->Start().ok());
  falco::outputs::response bad =
      fakes::MakeFalcoResponse("bad", falco::schema::DEBUG, kAlertTime);
  bad.set_priority(static_cast<falco::schema::priority>(9));
  fake_->Push(bad);
  Push("good");
  StartClient({});
  ASSERT_TRUE(WaitForAccepted(1));
  ASSERT_TRUE(WaitFor([&] { return Letters().size() == 1; }));
  const std::string letter = Letters()[0];
  EXPECT_THAT(letter, HasSubstr("|not an alert: priority 9 is not in "
                                "falco.schema.priority|"));
  EXPECT_THAT(letter, HasSubstr(R"("rule":"bad")"));
  EXPECT_THAT(intake_.rules(), ElementsAre("good"));
}

}  // namespace
}  // namespace corral::ingest::falco_grpc
