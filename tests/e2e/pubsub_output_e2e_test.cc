// End to end: the real corral binary on loopback with a pubsub output, alerts
// posted over HTTP and published to a fake Pub/Sub — over TLS with tokens
// from a fake token endpoint, or in plaintext as the emulator.
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/http_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/e2e/e2e_alerts.h"
#include "tests/fakes/fake_google_token.h"
#include "tests/fakes/fake_pubsub.h"
#include "tests/fakes/tls_pubsub.h"

namespace corral::e2e {
namespace {

using fakes::FakeGoogleTokenServer;
using fakes::FakePubSub;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kWait = absl::Seconds(15);
constexpr char kTopic[] = "projects/test-project/topics/falco-alerts";

std::string AlertJson(absl::string_view marker,
                      absl::string_view priority = "Warning") {
  return absl::StrCat(R"({"rule":"Terminal shell in container","priority":")",
                      priority,
                      R"(","time":"2026-11-02T10:15:31.5Z","output":"e2e )",
                      marker, R"(","hostname":"node-7","source":"syscall",)",
                      R"("output_fields":{"marker":")", marker, R"("}})");
}

// The marker output field of a published message's data.
std::string Marker(const google::pubsub::v1::PubsubMessage& m) {
  boost::json::value alert = boost::json::parse(m.data());
  return std::string(alert.at("output_fields").at("marker").as_string());
}

class PubSubOutputE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/e2e_pubsub_output_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ + "-certs");
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "corral stderr:\n" << corral_->Stderr();
  }

  // One pubsub output; `keys` are its connection keys, indented by four.
  std::string Config(absl::string_view keys) const {
    return absl::StrCat(
        "listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n"
        "spool:\n  dir: ./data\n"
        "outputs:\n"
        "  - name: alerts-topic\n"
        "    type: pubsub\n"
        "    topic: ",
        kTopic,
        "\n"
        "    attributes: {team: secops, cluster: prod-eu}\n",
        keys,
        "    retry: {initial_backoff: 50ms, max_backoff: 200ms}\n"
        "    batch: {max_items: 50, max_wait: 100ms}\n");
  }

  // The fake as the emulator, corral pointed at it by PUBSUB_EMULATOR_HOST.
  void StartWithEmulator() {
    pubsub_ = std::make_unique<FakePubSub>();
    ASSERT_TRUE(pubsub_->Start().ok());
    ASSERT_TRUE(pubsub_->CreateTopic(kTopic).ok());
    ASSERT_TRUE(corral_
                    ->StartWithConfig(Config(""), {{"PUBSUB_EMULATOR_HOST",
                                                    pubsub_->address()}})
                    .ok())
        << corral_->Stderr();
  }

  // The fake over TLS demanding tokens from the fake token endpoint, corral
  // given the CA and a service-account key.
  void StartWithGoogleAuth() {
    absl::StatusOr<fakes::TlsPubSub> tls =
        fakes::StartTlsPubSub(dir_ + "-certs");
    ASSERT_TRUE(tls.ok()) << tls.status();
    tokens_ = std::move(tls->tokens);
    pubsub_ = std::move(tls->pubsub);
    ASSERT_TRUE(pubsub_->CreateTopic(kTopic).ok());
    ASSERT_TRUE(corral_
                    ->StartWithConfig(Config(absl::StrCat(
                        "    endpoint: ", pubsub_->address(), "\n",
                        "    tls: {ca_file: ", tls->ca_file, "}\n",
                        "    credentials_file: ", tls->key_file, "\n")))
                    .ok())
        << corral_->Stderr();
  }

  int Post(std::string body) {
    return PostAlert(client_, *corral_, std::move(body));
  }

  // Posts alerts m0..m{n-1}.
  void PostMarkers(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(Post(AlertJson(absl::StrCat("m", i))), 200) << i;
    }
  }

  // Waits (bounded) until the metric `series` is at least `min`.
  bool WaitForMetricAtLeast(absl::string_view series, double min) {
    const absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline) {
      for (absl::string_view line : absl::StrSplit(corral_->Metrics(), '\n')) {
        double value = 0;
        if (absl::ConsumePrefix(&line, series) &&
            absl::ConsumePrefix(&line, " ") && absl::SimpleAtod(line, &value) &&
            value >= min) {
          return true;
        }
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  // Every marker m0..m{n-1} was published exactly once.
  void ExpectEachPublishedOnce(int n) {
    std::map<std::string, int> count;
    for (const auto& m : pubsub_->Published(kTopic)) ++count[Marker(m)];
    EXPECT_EQ(count.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
      EXPECT_EQ(count[absl::StrCat("m", i)], 1) << "m" << i;
  }

  std::string dir_;
  // Declared before pubsub_, so that it outlives the fake's token check.
  std::unique_ptr<FakeGoogleTokenServer> tokens_;
  std::unique_ptr<FakePubSub> pubsub_;
  std::unique_ptr<CorralProcess> corral_;
  core::HttpClient client_{core::HttpClientTls{}, "corral-e2e"};
};

TEST_F(PubSubOutputE2eTest, AlertsArePublishedOverTlsWithTokens) {
  StartWithGoogleAuth();
  ASSERT_FALSE(HasFatalFailure());
  constexpr int kAlerts = 20;
  PostMarkers(kAlerts);
  ASSERT_TRUE(pubsub_->WaitForPublished(kTopic, kAlerts, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);

  ExpectEachPublishedOnce(kAlerts);
  for (const auto& m : pubsub_->Published(kTopic)) {
    boost::json::object alert = boost::json::parse(m.data()).as_object();
    EXPECT_EQ(alert.at("rule"), "Terminal shell in container");
    EXPECT_EQ(alert.at("time"), "2026-11-02T10:15:31.5Z");
    EXPECT_TRUE(alert.contains("uuid"));
    EXPECT_EQ(m.attributes().at("rule"), "Terminal shell in container");
    EXPECT_EQ(m.attributes().at("priority"), "Warning");
    EXPECT_EQ(m.attributes().at("source"), "syscall");
    EXPECT_EQ(m.attributes().at("hostname"), "node-7");
    EXPECT_EQ(m.attributes().at("team"), "secops");
    EXPECT_EQ(m.attributes().at("cluster"), "prod-eu");
  }
  // Batched: fewer calls than alerts, none over the configured 50.
  size_t total = 0;
  for (size_t n : pubsub_->PublishSizes()) {
    EXPECT_LE(n, 50u);
    total += n;
  }
  EXPECT_EQ(total, static_cast<size_t>(kAlerts));
  ASSERT_FALSE(tokens_->ScopeRequests().empty());
  EXPECT_EQ(tokens_->ScopeRequests()[0],
            std::vector<std::string>{"https://www.googleapis.com/auth/pubsub"});
  EXPECT_THAT(corral_->DeadLetters(), IsEmpty());
}

TEST_F(PubSubOutputE2eTest, ARevokedTokenIsReplacedAtTheNextAttempt) {
  StartWithGoogleAuth();
  ASSERT_FALSE(HasFatalFailure());
  PostMarkers(1);
  ASSERT_TRUE(pubsub_->WaitForPublished(kTopic, 1, kWait));
  // The cached token still has most of an hour to live, but Pub/Sub now
  // answers UNAUTHENTICATED to it: corral drops it and fetches another.
  tokens_->RevokeAll();
  PostMarkers(1);
  ASSERT_TRUE(pubsub_->WaitForPublished(kTopic, 2, kWait));
  EXPECT_EQ(tokens_->TokensIssued(), 2u);
  EXPECT_THAT(corral_->Stderr(),
              HasSubstr("Google access token refused; fetching a new one"));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_THAT(corral_->DeadLetters(), IsEmpty());
}

TEST_F(PubSubOutputE2eTest, EmulatorUnavailableAFewTimesStillDeliversOnce) {
  StartWithEmulator();
  ASSERT_FALSE(HasFatalFailure());
  pubsub_->FailNextPublishes(3, grpc::StatusCode::UNAVAILABLE);
  PostMarkers(5);
  ASSERT_TRUE(pubsub_->WaitForPublished(kTopic, 5, kWait));
  EXPECT_TRUE(corral_->WaitForMetric(
      "corral_outputs_total{output=\"alerts-topic\",status=\"delivered\"} 5",
      kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  ExpectEachPublishedOnce(5);
  EXPECT_GE(pubsub_->PublishCalls(), 4);
  EXPECT_THAT(corral_->Stderr(), HasSubstr("pubsub: UNAVAILABLE"));
  EXPECT_THAT(corral_->DeadLetters(), IsEmpty());
}

TEST_F(PubSubOutputE2eTest, PubSubGoingAwayAndComingBackLosesNothing) {
  StartWithEmulator();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_EQ(Post(AlertJson("before")), 200);
  ASSERT_TRUE(pubsub_->WaitForPublished(kTopic, 1, kWait));

  // Gone: the port stays held, so connections are refused.
  pubsub_->Stop();
  ASSERT_EQ(Post(AlertJson("while-down")), 200);
  EXPECT_TRUE(
      WaitForMetricAtLeast("corral_retries_total{output=\"alerts-topic\"}", 2));
  ASSERT_TRUE(pubsub_->Start(pubsub_->port()).ok());
  ASSERT_TRUE(pubsub_->WaitForPublished(kTopic, 2, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  std::vector<std::string> markers;
  for (const auto& m : pubsub_->Published(kTopic)) markers.push_back(Marker(m));
  EXPECT_EQ(markers, (std::vector<std::string>{"before", "while-down"}));
  EXPECT_THAT(corral_->DeadLetters(), IsEmpty());
}

TEST_F(PubSubOutputE2eTest, PermissionDeniedIsADeadLetterWithTheCode) {
  StartWithGoogleAuth();
  ASSERT_FALSE(HasFatalFailure());
  pubsub_->FailNextPublishes(1, grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_EQ(Post(AlertJson("denied", "Critical")), 200);
  std::vector<boost::json::object> dead = corral_->WaitForDeadLetters(kWait);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].at("output"), "alerts-topic");
  EXPECT_EQ(dead[0].at("reason"),
            "pubsub: PERMISSION_DENIED: User not authorized to perform this "
            "action.");
  EXPECT_EQ(dead[0].at("attempts"), 1);
  EXPECT_EQ(dead[0].at("last_status"),
            static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_EQ(dead[0].at("alert").at("output_fields").at("marker"), "denied");
  EXPECT_TRUE(corral_->WaitForMetric(
      "corral_dead_letters_total{output=\"alerts-topic\"} 1", kWait));
  EXPECT_THAT(pubsub_->Published(kTopic), IsEmpty());
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
}

TEST_F(PubSubOutputE2eTest, FalcosidekickGcpPubsubSectionPublishes) {
  pubsub_ = std::make_unique<FakePubSub>();
  ASSERT_TRUE(pubsub_->Start().ok());
  ASSERT_TRUE(pubsub_->CreateTopic(kTopic).ok());
  ASSERT_TRUE(
      corral_
          ->StartWithConfig(R"(listenaddress: 127.0.0.1
listenport: 0
gcp:
  pubsub:
    projectid: test-project
    topic: falco-alerts
    customattributes: {team: secops}
    minimumpriority: error
)",
                            {{"PUBSUB_EMULATOR_HOST", pubsub_->address()}})
          .ok())
      << corral_->Stderr();
  ASSERT_EQ(Post(AlertJson("below", "Notice")), 200);
  ASSERT_EQ(Post(AlertJson("above", "Critical")), 200);
  ASSERT_TRUE(pubsub_->WaitForPublished(kTopic, 1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  std::vector<google::pubsub::v1::PubsubMessage> got =
      pubsub_->Published(kTopic);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Marker(got[0]), "above");
  EXPECT_EQ(got[0].attributes().at("team"), "secops");
  EXPECT_EQ(got[0].attributes().at("priority"), "Critical");
}

}  // namespace
}  // namespace corral::e2e
