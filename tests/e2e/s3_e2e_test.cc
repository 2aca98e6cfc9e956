// End to end: the real corral binary on loopback with an s3 output and a fake
// S3 (Signature V4 checked, scripted failures, outages) behind it.
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/http_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/e2e/e2e_alerts.h"
#include "tests/fakes/fake_s3.h"

namespace corral::e2e {
namespace {

using fakes::FakeS3;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(15);
constexpr char kBucket[] = "falco-alerts";
constexpr char kKeyId[] = "AKIAE2ES3FAKEKEY";
constexpr char kSecret[] = "e2eS3cr3tKeyThatMustNeverBeLogged00000000";
constexpr char kRetries[] = "corral_retries_total{output=\"archive\"}";

class S3E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(s3_.Start().ok());
    s3_.AddBucket(kBucket);
    s3_.AddCredentials(kKeyId, kSecret);
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/e2e_s3_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "corral stderr:\n" << corral_->Stderr();
  }

  // An s3 output named "archive" on the fake; `extra` are more keys, each
  // line indented by four.
  std::string Config(absl::string_view extra = "",
                     bool with_keys = true) const {
    return absl::StrCat(
        "listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n"
        "spool:\n  dir: ./data\n"
        "outputs:\n"
        "  - name: archive\n"
        "    type: s3\n"
        "    bucket: ",
        kBucket, "\n    prefix: falco\n    endpoint: ", s3_.Endpoint(), "\n",
        with_keys ? absl::StrCat("    access_key_id: ", kKeyId,
                                 "\n    secret_access_key: ", kSecret, "\n")
                  : "",
        "    retry: {initial_backoff: 50ms, max_backoff: 200ms}\n", extra);
  }

  int Post(absl::string_view marker) {
    return PostAlert(client_, *corral_, MarkerAlertJson(marker));
  }

  // Posts `n` alerts "m0".."m{n-1}" from 4 threads at once.
  void PostMany(int n) { ASSERT_EQ(PostMarkersConcurrently(*corral_, n), n); }

  // The alerts in the stored objects, by marker.
  std::map<std::string, int> MarkersStored() {
    std::map<std::string, int> count;
    for (const FakeS3::Object& o : s3_.Objects()) {
      CountMarkers(o.body, count);
    }
    return count;
  }

  FakeS3 s3_;
  std::string dir_;
  std::unique_ptr<CorralProcess> corral_;
  core::HttpClient client_{core::HttpClientTls{}, "corral-e2e"};
};

TEST_F(S3E2eTest, EachAlertLandsAsItsOwnObjectUnderItsKey) {
  ASSERT_TRUE(corral_->StartWithConfig(Config()).ok()) << corral_->Stderr();
  constexpr int kAlerts = 40;
  PostMany(kAlerts);
  ASSERT_TRUE(s3_.WaitForObjects(kAlerts, kWait)) << s3_.LastRejection();
  absl::SleepFor(absl::Milliseconds(300));  // duplicates would arrive by now
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);

  EXPECT_EQ(s3_.Rejected(), 0u) << s3_.LastRejection();
  EXPECT_EQ(s3_.Puts(), static_cast<size_t>(kAlerts));
  // All alerts have the same time: the seq keeps their objects apart, and
  // is the one in the object.
  static const std::regex kKey(
      R"(^falco/2026-11-02/2026-11-02T10:15:31\.5Z-(\d+)\.json$)");
  for (const FakeS3::Object& o : s3_.Objects()) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(o.key, m, kKey)) << o.key;
    EXPECT_EQ(o.content_type, "application/json");
    boost::json::value alert = boost::json::parse(o.body);
    EXPECT_EQ(std::to_string(alert.at("seq").as_int64()), m[1].str()) << o.key;
    EXPECT_EQ(alert.at("rule"), "Terminal shell in container");
  }
  std::map<std::string, int> stored = MarkersStored();
  EXPECT_EQ(stored.size(), static_cast<size_t>(kAlerts));
  for (const auto& [marker, n] : stored) EXPECT_EQ(n, 1) << marker;
  EXPECT_TRUE(corral_->DeadLetters().empty());
  EXPECT_THAT(corral_->Stderr(), Not(HasSubstr(kSecret)));
}

TEST_F(S3E2eTest, NdjsonBatchesAreNamedByTheirSeqs) {
  ASSERT_TRUE(corral_
                  ->StartWithConfig(
                      Config("    format: ndjson_batch\n"
                             "    batch: {max_items: 10, max_wait: 200ms}\n"))
                  .ok())
      << corral_->Stderr();
  constexpr int kAlerts = 50;
  PostMany(kAlerts);
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline && MarkersStored().size() < kAlerts)
    absl::SleepFor(absl::Milliseconds(50));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);

  std::map<std::string, int> stored = MarkersStored();
  EXPECT_EQ(stored.size(), static_cast<size_t>(kAlerts));
  for (const auto& [marker, n] : stored) EXPECT_EQ(n, 1) << marker;
  static const std::regex kKey(R"(^falco/2026-11-02/(\d+)-(\d+)\.ndjson$)");
  EXPECT_LT(s3_.Objects().size(), static_cast<size_t>(kAlerts));
  for (const FakeS3::Object& o : s3_.Objects()) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(o.key, m, kKey)) << o.key;
    EXPECT_EQ(o.content_type, "application/x-ndjson");
    std::vector<absl::string_view> lines =
        absl::StrSplit(o.body, '\n', absl::SkipEmpty());
    ASSERT_FALSE(lines.empty());
    EXPECT_LE(lines.size(), 10u);
    auto seq = [](absl::string_view line) {
      return std::to_string(
          boost::json::parse(boost::json::string_view(line.data(), line.size()))
              .at("seq")
              .as_int64());
    };
    EXPECT_EQ(seq(lines.front()), m[1].str()) << o.key;
    EXPECT_EQ(seq(lines.back()), m[2].str()) << o.key;
  }
}

TEST_F(S3E2eTest, SlowDownIsRetriedAndDeliveredOnce) {
  s3_.FailNext(3, 503, "SlowDown");
  ASSERT_TRUE(corral_->StartWithConfig(Config()).ok()) << corral_->Stderr();
  ASSERT_EQ(Post("slow"), 200);
  ASSERT_TRUE(s3_.WaitForObjects(1, kWait));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_TRUE(corral_->WaitForMetricAtLeast(kRetries, 3, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(s3_.Requests().size(), 4u);
  EXPECT_EQ(s3_.Puts(), 1u);
  EXPECT_EQ(MarkersStored()["slow"], 1);
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(S3E2eTest, AStoreThatWentAwayGetsTheAlertWhenItIsBack) {
  ASSERT_TRUE(corral_->StartWithConfig(Config()).ok()) << corral_->Stderr();
  const int port = s3_.port();
  s3_.Stop();  // connections refused from now on
  ASSERT_EQ(Post("outage"), 200);
  ASSERT_TRUE(corral_->WaitForMetricAtLeast(kRetries, 2, kWait))
      << corral_->Metrics();
  ASSERT_TRUE(s3_.Start(port).ok());
  ASSERT_TRUE(s3_.WaitForObjects(1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(MarkersStored()["outage"], 1);
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(S3E2eTest, AccessDeniedIsADeadLetterWithS3sErrorCode) {
  s3_.DenyAccess(kKeyId);
  ASSERT_TRUE(corral_->StartWithConfig(Config()).ok()) << corral_->Stderr();
  ASSERT_EQ(Post("denied"), 200);
  std::vector<boost::json::object> dead = corral_->WaitForDeadLetters(kWait);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].at("reason"), "s3: HTTP 403: AccessDenied: Access Denied");
  EXPECT_THAT(boost::json::serialize(dead[0]), Not(HasSubstr(kSecret)));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(s3_.Requests().size(), 1u);  // permanent: not retried
  EXPECT_TRUE(s3_.Objects().empty());
  EXPECT_THAT(corral_->Stderr(), HasSubstr("AccessDenied"));
  EXPECT_THAT(corral_->Stderr(), Not(HasSubstr(kSecret)));
}

TEST_F(S3E2eTest, TemporaryCredentialsFromTheEnvironment) {
  s3_.AddCredentials("ASIAE2ETEMPORARY", "temp-secret", "FwoGZXIvYXdzE2E");
  ASSERT_TRUE(corral_
                  ->StartWithConfig(Config("", /*with_keys=*/false),
                                    {{"AWS_ACCESS_KEY_ID", "ASIAE2ETEMPORARY"},
                                     {"AWS_SECRET_ACCESS_KEY", "temp-secret"},
                                     {"AWS_SESSION_TOKEN", "FwoGZXIvYXdzE2E"}})
                  .ok())
      << corral_->Stderr();
  ASSERT_EQ(Post("temporary"), 200);
  ASSERT_TRUE(s3_.WaitForObjects(1, kWait)) << s3_.LastRejection();
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(s3_.Requests().at(0).Header("x-amz-security-token"),
            "FwoGZXIvYXdzE2E");
  EXPECT_EQ(MarkersStored()["temporary"], 1);
}

TEST_F(S3E2eTest, FalcosidekickAwsS3VariablesAddAnOutputThatDelivers) {
  ASSERT_TRUE(corral_
                  ->StartWithConfig(
                      "listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n"
                      "spool:\n  dir: ./data\n"
                      "outputs: []\n",
                      {{"AWS_S3_BUCKET", kBucket},
                       {"AWS_S3_ENDPOINT", s3_.Endpoint()},
                       {"AWS_S3_MINIMUMPRIORITY", "warning"},
                       {"AWS_ACCESSKEYID", kKeyId},
                       {"AWS_SECRETACCESSKEY", kSecret}})
                  .ok())
      << corral_->Stderr();
  ASSERT_EQ(Post("falcosidekick"), 200);
  ASSERT_TRUE(s3_.WaitForObjects(1, kWait)) << s3_.LastRejection();
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  // Falcosidekick's default prefix, and path style on an endpoint.
  EXPECT_THAT(
      s3_.Objects().at(0).key,
      ::testing::StartsWith("falco/2026-11-02/2026-11-02T10:15:31.5Z-"));
  EXPECT_THAT(s3_.Requests().at(0).target,
              ::testing::StartsWith("/falco-alerts/falco/"));
  EXPECT_EQ(MarkersStored()["falcosidekick"], 1);
}

TEST_F(S3E2eTest, CheckConfigMasksTheKeys) {
  std::filesystem::create_directories(dir_);
  std::ofstream(dir_ + "/corral.yaml")
      << Config("    session_token: FwoGZXIvYXdzSeCrEt\n");
  ASSERT_TRUE(
      corral_->Start({"check-config", "-c", dir_ + "/corral.yaml"}).ok());
  EXPECT_EQ(corral_->Wait(kWait).value_or(-1), 0) << corral_->Stderr();
  EXPECT_THAT(corral_->Stdout(), HasSubstr("type: s3"));
  EXPECT_THAT(corral_->Stdout(), HasSubstr(kBucket));
  for (const char* secret : {kKeyId, kSecret, "FwoGZXIvYXdzSeCrEt"})
    EXPECT_THAT(corral_->Stdout(), Not(HasSubstr(secret)));
}

}  // namespace
}  // namespace corral::e2e
