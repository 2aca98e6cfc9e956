// End to end: the real corral binary on loopback with a gcs output, a fake
// Cloud Storage and a fake Google token endpoint behind it.
#include <signal.h>

#include <boost/json.hpp>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/http_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/e2e/e2e_alerts.h"
#include "tests/fakes/fake_gcs.h"
#include "tests/fakes/fake_google_token.h"

namespace corral::e2e {
namespace {

using fakes::FakeGcs;
using fakes::FakeGoogleTokenServer;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr absl::Duration kWait = absl::Seconds(15);
constexpr char kBucket[] = "falco-alerts";
constexpr char kRetries[] = "corral_retries_total{output=\"archive\"}";

class GcsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tokens_.Start().ok());
    ASSERT_TRUE(gcs_.Start().ok());
    gcs_.AddBucket(kBucket);
    gcs_.SetTokenCheck([this](absl::string_view authorization) {
      return tokens_.IsValidToken(authorization);
    });
    const std::string name =
        ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = absl::StrCat(::testing::TempDir(), "/e2e_gcs_", name);
    key_file_ =
        absl::StrCat(::testing::TempDir(), "/e2e_gcs_key_", name, ".json");
    ASSERT_TRUE(tokens_.WriteServiceAccountKey(key_file_).ok());
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "corral stderr:\n" << corral_->Stderr();
  }

  std::string Config(absl::string_view extra = "") const {
    return absl::StrCat(
        "listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n"
        "spool:\n  dir: ./data\n"
        "outputs:\n"
        "  - name: archive\n"
        "    type: gcs\n"
        "    bucket: ",
        kBucket, "\n    prefix: falco/alerts\n    endpoint: ", gcs_.Endpoint(),
        "\n    credentials_file: ", key_file_, "\n",
        "    retry: {initial_backoff: 50ms, max_backoff: 200ms}\n", extra);
  }

  int Post(absl::string_view marker) {
    return PostAlert(client_, *corral_, MarkerAlertJson(marker));
  }

  std::map<std::string, int> MarkersStored() {
    std::map<std::string, int> count;
    for (const FakeGcs::Object& o : gcs_.Objects()) {
      CountMarkers(o.body, count);
    }
    return count;
  }

  FakeGoogleTokenServer tokens_;
  FakeGcs gcs_;
  std::string dir_;
  std::string key_file_;
  std::unique_ptr<CorralProcess> corral_;
  core::HttpClient client_{core::HttpClientTls{}, "corral-e2e"};
};

TEST_F(GcsE2eTest, AlertsLandAsObjectsUnderTheirKeys) {
  ASSERT_TRUE(corral_->StartWithConfig(Config()).ok()) << corral_->Stderr();
  for (int i = 0; i < 10; ++i) ASSERT_EQ(Post(absl::StrCat("m", i)), 200);
  ASSERT_TRUE(gcs_.WaitForObjects(10, kWait)) << gcs_.LastRejection();
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);

  EXPECT_EQ(gcs_.Rejected(), 0u) << gcs_.LastRejection();
  static const std::regex kName(
      R"(^falco/alerts/2026-11-02/2026-11-02T10:15:31\.5Z-(\d+)\.json$)");
  for (const FakeGcs::Object& o : gcs_.Objects()) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(o.name, m, kName)) << o.name;
    EXPECT_EQ(o.content_type, "application/json");
    EXPECT_EQ(std::to_string(boost::json::parse(o.body).at("seq").as_int64()),
              m[1].str());
  }
  std::map<std::string, int> stored = MarkersStored();
  EXPECT_EQ(stored.size(), 10u);
  for (const auto& [marker, n] : stored) EXPECT_EQ(n, 1) << marker;
  ASSERT_FALSE(tokens_.ScopeRequests().empty());
  EXPECT_EQ(tokens_.ScopeRequests()[0],
            std::vector<std::string>{
                "https://www.googleapis.com/auth/devstorage.read_write"});
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(GcsE2eTest, NdjsonBatches) {
  ASSERT_TRUE(corral_
                  ->StartWithConfig(
                      Config("    format: ndjson_batch\n"
                             "    batch: {max_items: 5, max_wait: 300ms}\n"))
                  .ok())
      << corral_->Stderr();
  for (int i = 0; i < 12; ++i) ASSERT_EQ(Post(absl::StrCat("m", i)), 200);
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline && MarkersStored().size() < 12)
    absl::SleepFor(absl::Milliseconds(50));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(MarkersStored().size(), 12u);
  EXPECT_LT(gcs_.Objects().size(), 12u);
  for (const FakeGcs::Object& o : gcs_.Objects()) {
    EXPECT_THAT(o.name, StartsWith("falco/alerts/2026-11-02/"));
    EXPECT_THAT(o.name, ::testing::EndsWith(".ndjson"));
    EXPECT_EQ(o.content_type, "application/x-ndjson");
  }
}

TEST_F(GcsE2eTest, ServiceUnavailableIsRetriedAndDeliveredOnce) {
  gcs_.FailNext(3, 503);
  ASSERT_TRUE(corral_->StartWithConfig(Config()).ok()) << corral_->Stderr();
  ASSERT_EQ(Post("slow"), 200);
  ASSERT_TRUE(gcs_.WaitForObjects(1, kWait));
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_TRUE(corral_->WaitForMetricAtLeast(kRetries, 3, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(gcs_.Requests().size(), 4u);
  EXPECT_EQ(MarkersStored()["slow"], 1);
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(GcsE2eTest, AStoreThatWentAwayGetsTheAlertWhenItIsBack) {
  ASSERT_TRUE(corral_->StartWithConfig(Config()).ok()) << corral_->Stderr();
  const int port = gcs_.port();
  gcs_.Stop();
  ASSERT_EQ(Post("outage"), 200);
  ASSERT_TRUE(corral_->WaitForMetricAtLeast(kRetries, 2, kWait))
      << corral_->Metrics();
  ASSERT_TRUE(gcs_.Start(port).ok());
  ASSERT_TRUE(gcs_.WaitForObjects(1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(MarkersStored()["outage"], 1);
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(GcsE2eTest, ForbiddenIsADeadLetterWithGooglesReason) {
  gcs_.DenyBucket(kBucket);
  ASSERT_TRUE(corral_->StartWithConfig(Config()).ok()) << corral_->Stderr();
  ASSERT_EQ(Post("denied"), 200);
  std::vector<boost::json::object> dead = corral_->WaitForDeadLetters(kWait);
  ASSERT_EQ(dead.size(), 1u);
  const std::string reason(dead[0].at("reason").as_string());
  EXPECT_THAT(reason, StartsWith("gcs: HTTP 403: forbidden: "));
  EXPECT_THAT(reason, HasSubstr("storage.objects.create"));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(gcs_.Requests().size(), 1u);  // permanent: not retried
  EXPECT_THAT(corral_->Stderr(), Not(HasSubstr(tokens_.LastToken())));
}

}  // namespace
}  // namespace corral::e2e
