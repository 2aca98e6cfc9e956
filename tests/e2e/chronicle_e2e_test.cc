// End to end: the real corral binary on loopback with a chronicle output, a
// fake Google SecOps (all three ingestion APIs) and a fake token endpoint
// behind it.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "core/http_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/e2e/e2e_alerts.h"
#include "tests/fakes/fake_chronicle.h"
#include "tests/fakes/fake_google_token.h"

namespace corral::e2e {
namespace {

using fakes::FakeChronicle;
using fakes::FakeGoogleTokenServer;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(15);
constexpr char kInstance[] = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

std::string ReadFile(const std::string& path) {
  return core::ReadFileToString(path).value_or("");
}

class ChronicleE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tokens_.Start().ok());
    ASSERT_TRUE(chronicle_.Start().ok());
    chronicle_.SetTokenCheck([this](absl::string_view authorization) {
      return tokens_.IsValidToken(authorization);
    });
    const std::string name =
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = absl::StrCat(::testing::TempDir(), "/e2e_chronicle_", name);
    key_file_ = absl::StrCat(::testing::TempDir(), "/e2e_chronicle_key_", name,
                             ".json");
    ASSERT_TRUE(tokens_.WriteServiceAccountKey(key_file_).ok());
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "corral stderr:\n" << corral_->Stderr();
  }

  // `output` is the chronicle output's type-specific keys, indented by four.
  std::string Config(absl::string_view output, absl::string_view batch =
                                                   "{max_items: 20, max_wait: "
                                                   "200ms}") const {
    return absl::StrCat(
        "listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n"
        "spool:\n  dir: ./data\n"
        "outputs:\n"
        "  - name: secops\n"
        "    type: chronicle\n",
        output,
        "    retry: {initial_backoff: 50ms, max_backoff: 200ms}\n"
        "    batch: ",
        batch, "\n");
  }
  std::string ChronicleKeys() const {
    return absl::StrCat("    project: test-project\n    region: us\n",
                        "    instance: ", kInstance, "\n",
                        "    endpoint: ", chronicle_.Endpoint(), "\n",
                        "    credentials_file: ", key_file_, "\n");
  }

  int Post(core::HttpClient& client, std::string body) {
    return PostAlert(client, *corral_, std::move(body));
  }

  // Posts `n` alerts "m0".."m{n-1}" from 4 threads at once.
  void PostMany(int n) { ASSERT_EQ(PostMarkersConcurrently(*corral_, n), n); }

  // Every marker m0..m{n-1} was imported exactly once.
  void ExpectEachImportedOnce(int n) {
    std::map<std::string, int> count;
    for (const FakeChronicle::Log& log : chronicle_.Logs()) {
      boost::json::value alert = boost::json::parse(log.alert_json);
      ++count[std::string(alert.at("output_fields").at("marker").as_string())];
    }
    EXPECT_EQ(count.size(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i)
      EXPECT_EQ(count[absl::StrCat("m", i)], 1) << "m" << i;
  }

  std::string DeadLetters() {
    return ReadFile(dir_ + "/data/dead-letter.jsonl");
  }

  FakeGoogleTokenServer tokens_;
  FakeChronicle chronicle_;
  std::string dir_;
  std::string key_file_;
  std::unique_ptr<CorralProcess> corral_;
};

TEST_F(ChronicleE2eTest, ChronicleApiImportsBatchesEachAlertOnce) {
  ASSERT_TRUE(corral_->StartWithConfig(Config(ChronicleKeys())).ok())
      << corral_->Stderr();
  constexpr int kAlerts = 200;
  PostMany(kAlerts);
  ASSERT_TRUE(chronicle_.WaitForLogs(kAlerts, kWait))
      << chronicle_.Logs().size() << " " << chronicle_.LastRejection();
  absl::SleepFor(absl::Milliseconds(300));  // duplicates would arrive by now
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);

  EXPECT_EQ(chronicle_.Rejected(), 0u) << chronicle_.LastRejection();
  ExpectEachImportedOnce(kAlerts);
  // Many logs per request, never more than batch.max_items.
  const std::vector<size_t> sizes = chronicle_.RequestSizes();
  EXPECT_LT(sizes.size(), static_cast<size_t>(kAlerts));
  for (size_t s : sizes) EXPECT_LE(s, 20u);
  for (const fakes::RecordedRequest& r : chronicle_.Requests()) {
    EXPECT_EQ(r.target,
              absl::StrCat("/v1beta/projects/test-project/locations/us/"
                           "instances/",
                           kInstance, "/logTypes/FALCO_IDS/logs:import"));
  }
  for (const FakeChronicle::Log& log : chronicle_.Logs()) {
    EXPECT_EQ(log.entry_time, absl::FromUnixMillis(1793614531500));
    EXPECT_GE(log.collection_time, log.entry_time);
  }
  ASSERT_FALSE(tokens_.ScopeRequests().empty());
  EXPECT_EQ(tokens_.ScopeRequests()[0],
            std::vector<std::string>{
                "https://www.googleapis.com/auth/cloud-platform"});
  EXPECT_EQ(DeadLetters(), "");
}

TEST_F(ChronicleE2eTest, ServiceUnavailableThenSuccessDeliversOnce) {
  chronicle_.FailNext(1, 503);
  ASSERT_TRUE(corral_->StartWithConfig(Config(ChronicleKeys())).ok())
      << corral_->Stderr();
  core::HttpClient client(core::HttpClientTls{}, "corral-e2e");
  ASSERT_EQ(Post(client, MarkerAlertJson("m0")), 200);
  ASSERT_TRUE(chronicle_.WaitForLogs(1, kWait));
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(chronicle_.Requests().size(), 2u);
  ExpectEachImportedOnce(1);
  EXPECT_EQ(DeadLetters(), "");
}

TEST_F(ChronicleE2eTest, LegacyApiStaysUnderOneMegabyte) {
  const std::string keys =
      absl::StrCat("    api: legacy\n    instance: ", kInstance,
                   "\n    endpoint: ", chronicle_.Endpoint(),
                   "\n    credentials_file: ", key_file_, "\n");
  // Batches as large as the queue allows, so the output has to split them.
  ASSERT_TRUE(
      corral_
          ->StartWithConfig(Config(
              keys, "{max_items: 1000, max_bytes: 8MiB, max_wait: 500ms}"))
          .ok())
      << corral_->Stderr();
  constexpr int kAlerts = 120;
  std::vector<std::thread> posters;
  std::atomic<int> accepted{0};
  const std::string padding(20000, 'p');
  for (int t = 0; t < 4; ++t) {
    posters.emplace_back([&, t] {
      core::HttpClient client(core::HttpClientTls{}, "corral-e2e");
      for (int i = t; i < kAlerts; i += 4) {
        const std::string marker = absl::StrCat("m", i);
        const std::string body = absl::StrCat(
            R"({"rule":"Big","priority":"Error","time":"2026-11-02T10:15:31Z",)",
            R"("output":")", padding, R"(","output_fields":{"marker":")",
            marker, R"("}})");
        if (Post(client, body) == 200) ++accepted;
      }
    });
  }
  for (std::thread& t : posters) t.join();
  ASSERT_EQ(accepted.load(), kAlerts);
  ASSERT_TRUE(chronicle_.WaitForLogs(kAlerts, kWait))
      << chronicle_.LastRejection();
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(chronicle_.Rejected(), 0u) << chronicle_.LastRejection();
  ExpectEachImportedOnce(kAlerts);
  size_t largest = 0;
  for (const fakes::RecordedRequest& r : chronicle_.Requests()) {
    EXPECT_LE(r.body.size(), 1u << 20);
    largest = std::max(largest, r.body.size());
  }
  // Requests are packed close to the limit, not one alert each.
  EXPECT_GT(largest, 512u << 10);
  for (const FakeChronicle::Log& log : chronicle_.Logs())
    EXPECT_EQ(log.customer_id, kInstance);
  EXPECT_EQ(tokens_.ScopeRequests().at(0),
            std::vector<std::string>{
                "https://www.googleapis.com/auth/malachite-ingestion"});
}

TEST_F(ChronicleE2eTest, WebhookFeedDeliversWithItsKeys) {
  const std::string keys = absl::StrCat(
      "    api: webhook\n    feed_url: ", chronicle_.FeedUrl(),
      "\n    api_key: AIzaFakeFeedKey\n    secret: fake-feed-secret\n");
  ASSERT_TRUE(corral_->StartWithConfig(Config(keys)).ok()) << corral_->Stderr();
  constexpr int kAlerts = 50;
  PostMany(kAlerts);
  ASSERT_TRUE(chronicle_.WaitForLogs(kAlerts, kWait))
      << chronicle_.LastRejection();
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  ExpectEachImportedOnce(kAlerts);
  for (size_t s : chronicle_.RequestSizes()) EXPECT_LE(s, 20u);
  EXPECT_EQ(tokens_.TokensIssued(), 0u);
  EXPECT_THAT(corral_->Stderr(), Not(HasSubstr("fake-feed-secret")));
}

TEST_F(ChronicleE2eTest, WrongFeedSecretIsADeadLetterWithoutTheSecret) {
  const std::string keys =
      absl::StrCat("    api: webhook\n    feed_url: ", chronicle_.FeedUrl(),
                   "\n    api_key: AIzaFakeFeedKey\n    secret: wr0ngS3cr3t\n");
  ASSERT_TRUE(corral_->StartWithConfig(Config(keys)).ok()) << corral_->Stderr();
  core::HttpClient client(core::HttpClientTls{}, "corral-e2e");
  ASSERT_EQ(Post(client, MarkerAlertJson("lost")), 200);
  std::string dead;
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline && dead.empty()) {
    absl::SleepFor(absl::Milliseconds(50));
    dead = DeadLetters();
  }
  EXPECT_THAT(dead, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(dead, Not(HasSubstr("wr0ngS3cr3t")));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(chronicle_.Requests().size(), 1u);  // 403 is not retried
  EXPECT_THAT(corral_->Stderr(), Not(HasSubstr("wr0ngS3cr3t")));
}

TEST_F(ChronicleE2eTest, CheckConfigMasksTheFeedSecrets) {
  const std::string keys = absl::StrCat(
      "    api: webhook\n    feed_url: ", chronicle_.FeedUrl(),
      "\n    api_key: AIzaFakeFeedKey\n    secret: fake-feed-secret\n");
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ + "/corral.yaml") << Config(keys);
  ASSERT_TRUE(
      corral_->Start({"check-config", "-c", dir_ + "/corral.yaml"}).ok());
  EXPECT_EQ(corral_->Wait(kWait).value_or(-1), 0) << corral_->Stderr();
  EXPECT_THAT(corral_->Stdout(), HasSubstr("type: chronicle"));
  EXPECT_THAT(corral_->Stdout(), Not(HasSubstr("AIzaFakeFeedKey")));
  EXPECT_THAT(corral_->Stdout(), Not(HasSubstr("fake-feed-secret")));
}

}  // namespace
}  // namespace corral::e2e
