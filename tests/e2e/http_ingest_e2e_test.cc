// End to end: the real corral binary on loopback, a fake webhook receiver
// behind it.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "core/file_util.h"
#include "core/http_client.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/e2e/e2e_alerts.h"
#include "tests/fakes/fake_http_server.h"

namespace corral::e2e {
namespace {

using fakes::FakeHttpServer;
using fakes::ScriptedResponse;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(15);

std::string ReadFile(const std::string& path) {
  return core::ReadFileToString(path).value_or("");
}

std::vector<std::string> FalcoFixtures() {
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::directory_iterator(
           std::string(CORRAL_FIXTURES_DIR) + "/falco")) {
    if (e.path().extension() == ".json") paths.push_back(e.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

// A valid alert with a marker in its output fields.
std::string AlertJson(absl::string_view priority, absl::string_view marker) {
  return absl::StrCat(
      R"({"rule":"Test e2e","priority":")", priority,
      R"(","time":"2026-11-02T10:15:31.5Z","output":"e2e","output_fields":{"marker":")",
      marker, R"("}})");
}

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/e2e_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "corral stderr:\n" << corral_->Stderr();
  }

  // The config for one webhook output to the fake receiver at `path`, with
  // fast retries; `listen_extra` and `output_extra` are more YAML lines for
  // the listen block and the output.
  std::string WebhookConfig(absl::string_view path = "/alerts",
                            absl::string_view listen_extra = "",
                            absl::string_view output_extra = "") const {
    return absl::StrCat(
        "listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n", listen_extra,
        "spool:\n  dir: ./data\n"
        "outputs:\n"
        "  - name: hook\n"
        "    type: webhook\n"
        "    url: ",
        receiver_.Url(path),
        "\n"
        "    retry: {initial_backoff: 50ms, max_backoff: 200ms}\n",
        output_extra);
  }

  core::HttpResponse Post(absl::string_view path, std::string body,
                          core::HttpHeaders headers = {}) {
    core::HttpRequest request;
    request.method = "POST";
    request.url = corral_->HttpUrl(path);
    request.body = std::move(body);
    request.headers = std::move(headers);
    request.headers.emplace_back("Content-Type", "application/json");
    absl::StatusOr<core::HttpResponse> response = client_.Send(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : core::HttpResponse{};
  }

  core::HttpResponse Get(absl::string_view path) {
    core::HttpRequest request;
    request.method = "GET";
    request.url = corral_->HttpUrl(path);
    absl::StatusOr<core::HttpResponse> response = client_.Send(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : core::HttpResponse{};
  }

  // Polls /metrics until it contains `line` (bounded); returns the last body.
  // Destinations see a request before corral has read their answer, so a
  // counter may trail the receiver by a moment.
  std::string WaitForMetric(absl::string_view line) {
    const absl::Time deadline = absl::Now() + kWait;
    std::string body;
    while (absl::Now() < deadline) {
      body = Get("/metrics").body;
      if (absl::StrContains(body, line)) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return body;
  }

  FakeHttpServer receiver_;
  std::string dir_;
  std::unique_ptr<CorralProcess> corral_;
  core::HttpClient client_{core::HttpClientTls{}, "corral-e2e"};
};

TEST_F(E2eTest, DeliversEveryFalcoFixtureWithFieldsIntact) {
  ASSERT_TRUE(corral_->StartWithConfig(WebhookConfig()).ok())
      << corral_->Stderr();
  std::vector<std::string> fixtures = FalcoFixtures();
  ASSERT_GE(fixtures.size(), 3u);
  for (const std::string& path : fixtures) {
    EXPECT_EQ(Post("/", ReadFile(path)).status, 200) << path;
  }
  ASSERT_TRUE(receiver_.WaitForRequests(fixtures.size(), kWait));
  std::vector<fakes::RecordedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), fixtures.size());
  for (size_t i = 0; i < fixtures.size(); ++i) {
    SCOPED_TRACE(fixtures[i]);
    boost::json::object sent =
        boost::json::parse(ReadFile(fixtures[i])).as_object();
    // One worker delivers in order, so the i-th request carries the i-th alert.
    boost::json::object delivered = boost::json::parse(got[i].body).as_object();
    for (const auto& [key, value] : sent)
      EXPECT_EQ(delivered.at(key), value) << key;
    EXPECT_EQ(delivered.at("uuid").as_string().size(), 36u);
    EXPECT_EQ(delivered.at("seq").as_int64(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(got[i].method, "POST");
    EXPECT_EQ(got[i].target, "/alerts");
    EXPECT_THAT(got[i].Header("user-agent"), HasSubstr("corral/"));
    EXPECT_THAT(got[i].Header("content-type"), HasSubstr("application/json"));
  }
}

TEST_F(E2eTest, RefusesEveryInvalidExampleAndDeliversNoneOfThem) {
  ASSERT_TRUE(corral_->StartWithConfig(WebhookConfig()).ok())
      << corral_->Stderr();
  std::istringstream lines(ReadFile(std::string(CORRAL_FIXTURES_DIR) +
                                    "/falco/invalid_examples.ndjson"));
  std::string line;
  int refused = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    core::HttpResponse r = Post("/", line);
    EXPECT_EQ(r.status, 400) << line;
    EXPECT_THAT(r.body, HasSubstr("invalid alert: ")) << line;
    ++refused;
  }
  EXPECT_GE(refused, 6);
  // A valid alert after them is the only thing that arrives.
  ASSERT_EQ(Post("/", AlertJson("Warning", "sentinel")).status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  ASSERT_EQ(receiver_.RequestCount(), 1u);
  EXPECT_THAT(receiver_.Requests()[0].body, HasSubstr("sentinel"));
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(E2eTest, RetriesTwo503sThenDeliversOnce) {
  receiver_.Script(
      {{.status = 503, .body = "busy"}, {.status = 503, .body = "busy"}, {}});
  ASSERT_TRUE(corral_->StartWithConfig(WebhookConfig()).ok())
      << corral_->Stderr();
  ASSERT_EQ(Post("/", AlertJson("Warning", "flaky")).status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(3, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(receiver_.RequestCount(),
            3u);  // two refusals, one delivery, nothing more
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(E2eTest, HonoursRetryAfterOn429) {
  receiver_.Script(
      {{.status = 429, .headers = {{"Retry-After", "1"}}, .body = "slow down"},
       {}});
  ASSERT_TRUE(corral_->StartWithConfig(WebhookConfig()).ok())
      << corral_->Stderr();
  ASSERT_EQ(Post("/", AlertJson("Warning", "limited")).status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));
  std::vector<fakes::RecordedRequest> got = receiver_.Requests();
  EXPECT_GE(got[1].received - got[0].received, absl::Seconds(1));
}

TEST_F(E2eTest, A400IsNotRetriedAndBecomesOneDeadLetter) {
  receiver_.SetDefault({.status = 400, .body = "invalid_payload"});
  ASSERT_TRUE(corral_->StartWithConfig(WebhookConfig()).ok())
      << corral_->Stderr();
  ASSERT_EQ(Post("/", AlertJson("Warning", "rejected")).status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  // Shutting down drains the queue, so the dead letter is written by the time
  // corral exits.
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(receiver_.RequestCount(), 1u);
  std::vector<boost::json::object> dead = corral_->DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].at("output").as_string(), "hook");
  EXPECT_EQ(dead[0].at("last_status").as_int64(), 400);
  EXPECT_EQ(dead[0].at("attempts").as_int64(), 1);
  EXPECT_THAT(std::string(dead[0].at("reason").as_string()),
              HasSubstr("invalid_payload"));
  EXPECT_EQ(dead[0].at("alert").at("output_fields").at("marker").as_string(),
            "rejected");
}

TEST_F(E2eTest, RetriesConnectionRefusedUntilTheReceiverComesUp) {
  const int port = receiver_.port();
  receiver_.Stop();
  ASSERT_TRUE(corral_->StartWithConfig(WebhookConfig()).ok())
      << corral_->Stderr();
  ASSERT_EQ(Post("/", AlertJson("Warning", "patient")).status, 200);
  // Wait until corral has retried at least once against the closed port.
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline &&
         Get("/metrics").body.find("corral_retries_total{output=\"hook\"} 0") !=
             std::string::npos) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(Get("/metrics").body,
              Not(HasSubstr("corral_retries_total{output=\"hook\"} 0\n")));
  ASSERT_TRUE(receiver_.Start(port).ok());
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  EXPECT_THAT(receiver_.Requests()[0].body, HasSubstr("patient"));
}

TEST_F(E2eTest, LogsAndMetricsNeverShowTheWebhookSecret) {
  // Slack-style URL with the secret in its path, and a bearer header: the
  // destination refuses, corral retries and finally dead-letters.
  receiver_.Script({{.status = 503, .body = "down"}});
  receiver_.SetDefault({.status = 403, .body = "invalid_token"});
  ASSERT_TRUE(corral_
                  ->StartWithConfig(WebhookConfig(
                      "/services/T000/B000/SECRET1",
                      "  auth_token: ingest-token-SECRET3\n",
                      "    headers: {Authorization: \"Bearer SECRET2\"}\n"))
                  .ok())
      << corral_->Stderr();
  ASSERT_EQ(Post("/", AlertJson("Warning", "x"),
                 {{"Authorization", "Bearer ingest-token-SECRET3"}})
                .status,
            200);
  ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));
  EXPECT_EQ(receiver_.Requests()[0].Header("authorization"), "Bearer SECRET2");
  std::string metrics = Get("/metrics").body;
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  ASSERT_EQ(corral_->DeadLetters().size(), 1u);
  std::string everything = corral_->Stderr() + corral_->Stdout() + metrics +
                           ReadFile(dir_ + "/data/dead-letter.jsonl");
  EXPECT_THAT(everything, HasSubstr("delivery failed, will retry"));
  EXPECT_THAT(everything, Not(HasSubstr("SECRET")));
}

TEST_F(E2eTest, MinPriorityFiltersPerOutput) {
  FakeHttpServer urgent;
  ASSERT_TRUE(urgent.Start().ok());
  std::string config = WebhookConfig() + absl::StrCat(R"(  - name: urgent
    type: webhook
    url: )",
                                                      urgent.Url("/urgent"), R"(
    min_priority: critical
)");
  ASSERT_TRUE(corral_->StartWithConfig(config).ok()) << corral_->Stderr();
  for (absl::string_view p :
       {"Debug", "Warning", "Critical", "Emergency", "notice"}) {
    ASSERT_EQ(Post("/", AlertJson(p, p)).status, 200);
  }
  // The test alert (priority debug) reaches every output, as /test promises.
  ASSERT_EQ(Post("/test", "").status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(6, kWait));
  ASSERT_TRUE(urgent.WaitForRequests(3, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(receiver_.RequestCount(), 6u);
  std::vector<fakes::RecordedRequest> got = urgent.Requests();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_THAT(got[0].body, HasSubstr("\"Critical\""));
  EXPECT_THAT(got[1].body, HasSubstr("\"Emergency\""));
  EXPECT_THAT(got[2].body, HasSubstr("\"Test rule\""));
}

TEST_F(E2eTest, WithHttpAlertsOffTheOtherRoutesAreStillServed) {
  ASSERT_TRUE(corral_
                  ->StartWithConfig(WebhookConfig() +
                                    "ingest:\n  http: {enabled: false}\n")
                  .ok())
      << corral_->Stderr();
  core::HttpResponse refused = Post("/", AlertJson("Warning", "off"));
  EXPECT_EQ(refused.status, 404);
  EXPECT_THAT(refused.body, HasSubstr("ingest.http.enabled: false"));
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_EQ(Get("/ping").body, "pong\n");
  ASSERT_EQ(Post("/test", "").status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  ASSERT_EQ(receiver_.RequestCount(), 1u);
  EXPECT_THAT(receiver_.Requests()[0].body, HasSubstr("\"Test rule\""));
}

TEST_F(E2eTest, ServesHealthPingMetricsTestAndGrpcHealth) {
  ASSERT_TRUE(corral_->StartWithConfig(WebhookConfig()).ok())
      << corral_->Stderr();
  core::HttpResponse health = Get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "{\"status\":\"ok\"}\n");
  core::HttpResponse ping = Get("/ping");
  EXPECT_EQ(ping.status, 200);
  EXPECT_EQ(ping.body, "pong\n");
  EXPECT_EQ(Get("/nope").status, 404);
  EXPECT_EQ(Get("/").status, 405);

  ASSERT_EQ(Post("/test", "").status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  EXPECT_THAT(receiver_.Requests()[0].body,
              HasSubstr("\"rule\":\"Test rule\""));
  ASSERT_EQ(Post("/", "{").status, 400);

  WaitForMetric(
      "corral_outputs_total{output=\"hook\",status=\"delivered\"} 1\n");
  core::HttpResponse metrics = Get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.Header("content-type"),
              HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(
      metrics.body,
      HasSubstr(
          "corral_inputs_total{source=\"http\",status=\"accepted\"} 1\n"));
  EXPECT_THAT(
      metrics.body,
      HasSubstr("corral_inputs_total{source=\"http\",status=\"invalid\"} 1\n"));
  EXPECT_THAT(
      metrics.body,
      HasSubstr(
          "corral_outputs_total{output=\"hook\",status=\"delivered\"} 1\n"));
  EXPECT_THAT(metrics.body,
              HasSubstr("corral_queue_depth{output=\"hook\"} 0\n"));
  EXPECT_THAT(
      metrics.body,
      HasSubstr("corral_delivery_latency_seconds_count{output=\"hook\"} 1\n"));

  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", corral_->grpc_port()),
                          grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(E2eTest, SigtermDrainsInFlightDeliveriesAndExitsZero) {
  // The receiver is slow: the alert is still being delivered when SIGTERM
  // arrives, and corral must wait for it.
  receiver_.SetDefault({.delay = absl::Milliseconds(1500)});
  ASSERT_TRUE(corral_->StartWithConfig(WebhookConfig()).ok())
      << corral_->Stderr();
  ASSERT_EQ(Post("/", AlertJson("Warning", "in-flight")).status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  corral_->Signal(SIGTERM);

  // While draining: unhealthy, and new alerts are refused, not half-taken.
  const absl::Time deadline = absl::Now() + kWait;
  int health = 200;
  while (absl::Now() < deadline && (health = Get("/healthz").status) == 200) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(health, 503);
  core::HttpResponse refused = Post("/", AlertJson("Warning", "too-late"));
  EXPECT_EQ(refused.status, 503);
  EXPECT_THAT(refused.body, HasSubstr("shutting down"));

  absl::StatusOr<int> code = corral_->Wait(kWait);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(receiver_.RequestCount(), 1u);
  EXPECT_THAT(corral_->Stderr(), HasSubstr("msg=stopped undelivered=0"));
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(E2eTest, RestartDeliversWhatWasAcceptedWhileTheReceiverWasDown) {
  const int port = receiver_.port();
  receiver_.Stop();
  const std::string config =
      WebhookConfig("/alerts", "  drain_timeout: 300ms\n");
  ASSERT_TRUE(corral_->StartWithConfig(config).ok()) << corral_->Stderr();
  std::set<std::string> accepted;
  for (int i = 0; i < 30; ++i) {
    std::string marker = absl::StrCat("m", i);
    ASSERT_EQ(Post("/", AlertJson("Warning", marker)).status, 200);
    accepted.insert(marker);
  }
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_THAT(corral_->Stderr(),
              HasSubstr("stopped before every alert was delivered"));

  ASSERT_TRUE(receiver_.Start(port).ok());
  corral_ = std::make_unique<CorralProcess>(dir_, /*keep=*/true);
  ASSERT_TRUE(corral_->StartWithConfig(config).ok()) << corral_->Stderr();
  EXPECT_THAT(corral_->Stderr(), HasSubstr("replayed=30"));
  ASSERT_TRUE(receiver_.WaitForRequests(30, kWait));
  EXPECT_EQ(Markers(receiver_.Requests()), accepted);
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(E2eTest, AFullSpoolRefusesWith503AndRecoversOnceDeliveriesFreeRoom) {
  const int port = receiver_.port();
  receiver_.Stop();
  std::string config = WebhookConfig();
  // A small spool that lets go of delivered alerts at once.
  absl::StrReplaceAll(
      {{"spool:\n  dir: ./data\n",
        "spool:\n  dir: ./data\n  max_bytes: 64KiB\n  retain: 0s\n"}},
      &config);
  ASSERT_TRUE(corral_->StartWithConfig(config).ok()) << corral_->Stderr();
  std::set<std::string> accepted;
  core::HttpResponse refused;
  for (int i = 0; i < 1000; ++i) {
    std::string marker = absl::StrCat("f", i);
    core::HttpResponse r = Post("/", AlertJson("Warning", marker));
    if (r.status != 200) {
      refused = r;
      break;
    }
    accepted.insert(marker);
  }
  ASSERT_EQ(refused.status, 503) << "the spool never filled";
  EXPECT_THAT(refused.body, HasSubstr("spool"));
  EXPECT_GT(accepted.size(), 10u);

  // The receiver returns: everything accepted arrives, and intake resumes.
  ASSERT_TRUE(receiver_.Start(port).ok());
  ASSERT_TRUE(receiver_.WaitForRequests(accepted.size(), kWait));
  EXPECT_EQ(Markers(receiver_.Requests()), accepted);
  const absl::Time deadline = absl::Now() + kWait;
  int status = 503;
  while (absl::Now() < deadline &&
         (status = Post("/", AlertJson("Warning", "after")).status) != 200) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(status, 200);
}

TEST_F(E2eTest, RestartWithAChangedOutputList) {
  // First run: "hook" is down, "kept" works.
  FakeHttpServer kept;
  ASSERT_TRUE(kept.Start().ok());
  const int hook_port = receiver_.port();
  receiver_.Stop();
  auto output = [](absl::string_view name, const std::string& url) {
    return absl::StrCat(
        "  - name: ", name, "\n    type: webhook\n    url: ", url,
        "\n    retry: {initial_backoff: 50ms, max_backoff: 200ms}\n");
  };
  const std::string head =
      "listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n  drain_timeout: "
      "300ms\nspool:\n  dir: ./data\noutputs:\n";
  ASSERT_TRUE(corral_
                  ->StartWithConfig(head + output("hook", receiver_.Url("/h")) +
                                    output("kept", kept.Url("/k")))
                  .ok())
      << corral_->Stderr();
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Post("/", AlertJson("Warning", absl::StrCat("old", i))).status,
              200);
  }
  ASSERT_TRUE(kept.WaitForRequests(5, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);

  // Second run: "hook" removed, "added" new. Nobody gets the old alerts again:
  // "kept" had them, "added" starts at the head, "hook" is gone.
  ASSERT_TRUE(receiver_.Start(hook_port).ok());
  FakeHttpServer added;
  ASSERT_TRUE(added.Start().ok());
  corral_ = std::make_unique<CorralProcess>(dir_, /*keep=*/true);
  ASSERT_TRUE(corral_
                  ->StartWithConfig(head + output("kept", kept.Url("/k")) +
                                    output("added", added.Url("/a")))
                  .ok())
      << corral_->Stderr();
  EXPECT_THAT(corral_->Stderr(), HasSubstr("replayed=0"));
  ASSERT_EQ(Post("/", AlertJson("Warning", "new")).status, 200);
  ASSERT_TRUE(kept.WaitForRequests(6, kWait));
  ASSERT_TRUE(added.WaitForRequests(1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(Markers(added.Requests()), std::set<std::string>{"new"});
  EXPECT_EQ(kept.RequestCount(), 6u);
  EXPECT_EQ(receiver_.RequestCount(), 0u);
}

TEST_F(E2eTest, SigkillNeverLosesAnAlertThatGotA200) {
  const int port = receiver_.port();
  receiver_.Stop();
  const std::string config = WebhookConfig();
  absl::Mutex mu;
  std::set<std::string> accepted;
  absl::BitGen gen;
  for (int round = 0; round < 3; ++round) {
    corral_ = std::make_unique<CorralProcess>(dir_, /*keep=*/round > 0);
    ASSERT_TRUE(corral_->StartWithConfig(config).ok()) << corral_->Stderr();
    const std::string url = corral_->HttpUrl("/");
    std::vector<std::thread> senders;
    for (int t = 0; t < 4; ++t) {
      senders.emplace_back([&, t] {
        core::HttpClient client(core::HttpClientTls{}, "kill-test");
        for (int i = 0; i < 500; ++i) {
          std::string marker = absl::StrCat("r", round, "t", t, "i", i);
          core::HttpRequest request;
          request.url = url;
          request.body = AlertJson("Warning", marker);
          request.timeout = absl::Seconds(5);
          absl::StatusOr<core::HttpResponse> r = client.Send(request);
          if (!r.ok()) return;  // corral is gone
          if (r->status == 200) {
            absl::MutexLock lock(&mu);
            accepted.insert(marker);
          }
        }
      });
    }
    absl::SleepFor(absl::Milliseconds(absl::Uniform(gen, 30, 300)));
    EXPECT_EQ(corral_->Stop(SIGKILL, kWait).value_or(0), -SIGKILL);
    for (auto& sender : senders) sender.join();
  }
  ASSERT_GT(accepted.size(), 0u);
  RecordProperty("accepted", static_cast<int>(accepted.size()));

  // The receiver comes up; one more start delivers everything ever accepted.
  ASSERT_TRUE(receiver_.Start(port).ok());
  corral_ = std::make_unique<CorralProcess>(dir_, /*keep=*/true);
  ASSERT_TRUE(corral_->StartWithConfig(config).ok()) << corral_->Stderr();
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::set<std::string> missing = accepted;
  while (absl::Now() < deadline && !missing.empty()) {
    for (const std::string& m : Markers(receiver_.Requests())) missing.erase(m);
    if (!missing.empty()) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(missing.empty())
      << missing.size() << " of " << accepted.size()
      << " accepted alerts never arrived, e.g. " << *missing.begin();
}

TEST_F(E2eTest, RulesTestCommandFiresTheUpstreamRuleOnTheSample) {
  const std::string fixtures = CORRAL_FIXTURES_DIR;
  ASSERT_TRUE(
      corral_
          ->Start({"rules", "test", "--rules",
                   fixtures + "/gcpaudit/upstream_gcp_auditlog_rules.yaml",
                   "--input",
                   fixtures + "/gcpaudit/compute_instances_insert.json"})
          .ok());
  EXPECT_EQ(corral_->Wait(kWait).value_or(-1), 0);
  boost::json::object alert = boost::json::parse(corral_->Stdout()).as_object();
  EXPECT_EQ(alert.at("rule").as_string(), "GCP VM modified");
  EXPECT_EQ(alert.at("source").as_string(), "gcp_auditlog");
}

TEST_F(E2eTest, FalcosidekickStyleConfigDeliversAnAlert) {
  ASSERT_TRUE(corral_
                  ->StartWithConfig(absl::StrCat(R"(listenaddress: 127.0.0.1
listenport: 0
customfields:
  cluster: prod-eu
webhook:
  address: )",
                                                 receiver_.Url("/fsk"), R"(
  minimumpriority: warning
  customheaders:
    X-Team: secops
)"))
                  .ok())
      << corral_->Stderr();
  ASSERT_EQ(Post("/", AlertJson("Notice", "below")).status, 200);
  ASSERT_EQ(Post("/", AlertJson("Error", "above")).status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  std::vector<fakes::RecordedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].target, "/fsk");
  EXPECT_EQ(got[0].Header("x-team"), "secops");
  boost::json::object alert = boost::json::parse(got[0].body).as_object();
  EXPECT_EQ(alert.at("output_fields").at("marker").as_string(), "above");
  EXPECT_EQ(alert.at("output_fields").at("cluster").as_string(), "prod-eu");
}

TEST_F(E2eTest,
       FalcosidekickEnvironmentVariablesAddAWebhookAndMoveTheListener) {
  // Only gRPC is pinned (to an ephemeral port); HTTP and the webhook come from
  // the environment.
  ASSERT_TRUE(
      corral_
          ->StartWithConfig(R"(listen:
  grpc: 127.0.0.1:0
outputs:
  - name: console
    type: stdout
)",
                            {{"LISTENADDRESS", "127.0.0.1"},
                             {"LISTENPORT", "0"},
                             {"WEBHOOK_ADDRESS", receiver_.Url("/env")}})
          .ok())
      << corral_->Stderr();
  ASSERT_EQ(Post("/", AlertJson("Warning", "from-env")).status, 200);
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  EXPECT_EQ(receiver_.Requests()[0].target, "/env");
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_THAT(corral_->Stdout(),
              HasSubstr("from-env"));  // the stdout output got it too
}

TEST_F(E2eTest, CheckConfigReportsEveryErrorWithLineAndKey) {
  std::ofstream(dir_ + "/bad.yaml") << R"(listen:
  http: 127.0.0.1:0
  colour: blue
outputs:
  - name: hook
    type: webhook
    min_priority: urgent
  - name: hook
    type: carrier-pigeon
)";
  ASSERT_TRUE(corral_->Start({"check-config", "-c", dir_ + "/bad.yaml"}).ok());
  absl::StatusOr<int> code = corral_->Wait(kWait);
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 1);
  std::string out = corral_->Stdout() + corral_->Stderr();
  EXPECT_THAT(out, HasSubstr("bad.yaml:3:3: listen.colour: unknown key"));
  EXPECT_THAT(out, HasSubstr("bad.yaml:7:19: outputs[0].min_priority: "
                             "unknown priority \"urgent\""));
  EXPECT_THAT(out,
              HasSubstr("outputs[1].name: duplicate output name \"hook\""));
}

TEST_F(E2eTest, CheckConfigRejectsAnUnknownOutputTypeAndAMissingUrl) {
  std::ofstream(dir_ + "/bad.yaml") << R"(outputs:
  - name: pigeon
    type: carrier-pigeon
  - name: hook
    type: webhook
)";
  ASSERT_TRUE(corral_->Start({"check-config", "-c", dir_ + "/bad.yaml"}).ok());
  EXPECT_EQ(corral_->Wait(kWait).value_or(-1), 1);
  std::string out = corral_->Stdout();
  EXPECT_THAT(out, HasSubstr("unknown output type \"carrier-pigeon\""));
  EXPECT_THAT(out, HasSubstr("outputs[1].url: is required"));
}

TEST_F(E2eTest, CheckConfigPrintsTheEffectiveConfigWithSecretsMasked) {
  std::ofstream(dir_ + "/good.yaml") << R"(listen:
  auth_token: s3cr3t-token
outputs:
  - name: hook
    type: webhook
    url: https://hooks.example.com/services/T000/B000/XXXXSECRET
    headers: {Authorization: Bearer hunter2}
)";
  ASSERT_TRUE(corral_->Start({"check-config", "-c", dir_ + "/good.yaml"}).ok());
  EXPECT_EQ(corral_->Wait(kWait).value_or(-1), 0);
  std::string out = corral_->Stdout();
  EXPECT_THAT(out, HasSubstr("hooks.example.com"));
  EXPECT_THAT(out, Not(HasSubstr("s3cr3t-token")));
  EXPECT_THAT(out, Not(HasSubstr("XXXXSECRET")));
  EXPECT_THAT(out, Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace corral::e2e
