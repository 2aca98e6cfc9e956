#include "outputs/chronicle/chronicle_output.h"

#include <yaml-cpp/yaml.h>

#include <atomic>
#include <boost/json.hpp>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/alert_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outputs/registry.h"
#include "tests/fakes/fake_chronicle.h"
#include "tests/fakes/fake_google_token.h"
#include "tests/outputs/canned_response.h"
#include "tests/outputs/make_output.h"

namespace corral::outputs {
namespace {

using fakes::FakeChronicle;
using fakes::FakeGoogleTokenServer;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1783277500);

TEST(ChronicleClassifyTest, TooManyRequestsWaitsAtLeastThirtySeconds) {
  SendResult none = ClassifyChronicleResponse(
      Response(429, fakes::GoogleErrorBody(429, "Quota exceeded")), kNow);
  EXPECT_EQ(none.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(none.retry_after, absl::Seconds(30));
  EXPECT_EQ(none.status, 429);
  EXPECT_THAT(none.reason,
              HasSubstr("chronicle: HTTP 429: RESOURCE_EXHAUSTED: Quota"));

  SendResult short_wait = ClassifyChronicleResponse(
      Response(429, "", {{"retry-after", "1"}}), kNow);
  EXPECT_EQ(short_wait.retry_after, absl::Seconds(30));

  SendResult long_wait = ClassifyChronicleResponse(
      Response(429, "", {{"retry-after", "120"}}), kNow);
  EXPECT_EQ(long_wait.retry_after, absl::Seconds(120));
}

TEST(ChronicleClassifyTest, ServerErrorsAndTransportErrorsRetry) {
  for (int status : {500, 502, 503, 504, 408}) {
    SendResult r = ClassifyChronicleResponse(
        Response(status, fakes::GoogleErrorBody(status, "try later")), kNow);
    EXPECT_EQ(r.kind, SendResult::Kind::kRetry) << status;
    EXPECT_EQ(r.retry_after, absl::ZeroDuration()) << status;
  }
  SendResult down = ClassifyChronicleResponse(
      absl::UnavailableError("connection refused"), kNow);
  EXPECT_EQ(down.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(down.reason, HasSubstr("chronicle: connection refused"));
}

TEST(ChronicleClassifyTest, UnauthenticatedRetriesPermissionDeniedIsPermanent) {
  SendResult expired = ClassifyChronicleResponse(
      Response(401, fakes::GoogleErrorBody(401, "token expired")), kNow);
  EXPECT_EQ(expired.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(expired.status, 401);

  SendResult denied = ClassifyChronicleResponse(
      Response(403, fakes::GoogleErrorBody(
                        403, "Permission 'chronicle.logs.import' denied")),
      kNow);
  EXPECT_EQ(denied.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(denied.reason,
            "chronicle: HTTP 403: PERMISSION_DENIED: Permission "
            "'chronicle.logs.import' denied");
}

TEST(ChronicleClassifyTest, OtherClientErrorsArePermanentWithGoogleMessage) {
  SendResult bad = ClassifyChronicleResponse(
      Response(400, fakes::GoogleErrorBody(400, "invalid log type: FOO")),
      kNow);
  EXPECT_EQ(bad.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(bad.reason,
            "chronicle: HTTP 400: INVALID_ARGUMENT: invalid log type: FOO");
  SendResult plain =
      ClassifyChronicleResponse(Response(404, "<html>not here</html>"), kNow);
  EXPECT_EQ(plain.kind, SendResult::Kind::kPermanent);
  EXPECT_THAT(plain.reason, HasSubstr("HTTP 404: <html>not here"));
  EXPECT_TRUE(ClassifyChronicleResponse(Response(200, "{}"), kNow).delivered());
}

core::AlertPtr Alert(uint64_t seq, size_t output_bytes = 20) {
  auto alert = std::make_shared<core::Alert>();
  alert->uuid = absl::StrCat("uuid-", seq);
  alert->seq = seq;
  alert->time = absl::Now() - absl::Seconds(5);
  alert->priority = core::Priority::kError;
  alert->rule = "Terminal shell in container";
  alert->output = std::string(output_bytes, 'x');
  alert->source = "syscall";
  alert->output_fields_json = R"({"proc.name":"bash"})";
  return alert;
}

class ChronicleOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tokens_.Start().ok());
    ASSERT_TRUE(chronicle_.Start().ok());
    chronicle_.SetTokenCheck([this](absl::string_view authorization) {
      return tokens_.IsValidToken(authorization);
    });
    key_file_ = absl::StrCat(
        ::testing::TempDir(), "/chronicle_sa_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
        ".json");
    ASSERT_TRUE(tokens_.WriteServiceAccountKey(key_file_).ok());
  }

  std::unique_ptr<Output> Make(const std::string& yaml,
                               std::string* errors = nullptr) {
    auto output =
        CreateBuiltinOutput(OutputCommon("chronicle", "chronicle", yaml, 500));
    if (!output.ok()) {
      if (errors != nullptr) *errors = std::string(output.status().message());
      return nullptr;
    }
    return std::move(*output);
  }

  std::string ChronicleYaml() const {
    return absl::StrCat(
        "{project: test-project, region: us, instance: "
        "0a1b2c3d-4e5f-6789-abcd-ef0123456789, endpoint: '",
        chronicle_.Endpoint(), "', credentials_file: '", key_file_, "'}");
  }

  FakeGoogleTokenServer tokens_;
  FakeChronicle chronicle_;
  std::string key_file_;
};

TEST_F(ChronicleOutputTest, ImportsABatchInOneRequestWithABearerToken) {
  std::unique_ptr<Output> output = Make(ChronicleYaml());
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  EXPECT_EQ(output->MaxBatchItems(), 500);
  std::vector<core::AlertPtr> batch = {Alert(1), Alert(2), Alert(3)};
  SendResult r = output->Send(batch, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.delivered()) << r.reason;
  EXPECT_EQ(chronicle_.RequestSizes(), std::vector<size_t>{3});
  std::vector<FakeChronicle::Log> logs = chronicle_.Logs();
  ASSERT_EQ(logs.size(), 3u);
  EXPECT_EQ(logs[0].log_type, "FALCO_IDS");
  EXPECT_EQ(logs[0].alert_json, core::EncodeFalcoAlert(*batch[0]));
  EXPECT_EQ(logs[0].entry_time, batch[0]->time);
  EXPECT_GE(logs[0].collection_time, logs[0].entry_time);
  ASSERT_EQ(tokens_.ScopeRequests().size(), 1u);
  EXPECT_EQ(tokens_.ScopeRequests()[0],
            std::vector<std::string>{kChronicleScope});
}

TEST_F(ChronicleOutputTest, LegacyUsesItsScopeAndCustomerId) {
  std::unique_ptr<Output> output = Make(absl::StrCat(
      "{api: legacy, instance: cust-42, endpoint: '", chronicle_.Endpoint(),
      "', credentials_file: '", key_file_, "'}"));
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  std::vector<core::AlertPtr> batch = {Alert(1), Alert(2)};
  SendResult r = output->Send(batch, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.delivered()) << r.reason;
  std::vector<FakeChronicle::Log> logs = chronicle_.Logs();
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_EQ(logs[1].customer_id, "cust-42");
  EXPECT_EQ(logs[1].alert_json, core::EncodeFalcoAlert(*batch[1]));
  EXPECT_EQ(tokens_.ScopeRequests().at(0),
            std::vector<std::string>{kLegacyIngestionScope});
}

TEST_F(ChronicleOutputTest, LegacyBatchesOverOneMegabyteAreSplit) {
  std::unique_ptr<Output> output = Make(absl::StrCat(
      "{api: legacy, instance: cust-42, endpoint: '", chronicle_.Endpoint(),
      "', credentials_file: '", key_file_, "'}"));
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  std::vector<core::AlertPtr> batch;
  for (uint64_t i = 0; i < 60; ++i) batch.push_back(Alert(i, 50000));
  SendResult r = output->Send(batch, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.delivered()) << r.reason;
  EXPECT_EQ(chronicle_.Rejected(), 0u) << chronicle_.LastRejection();
  EXPECT_GE(chronicle_.RequestSizes().size(), 3u);
  for (const fakes::RecordedRequest& req : chronicle_.Requests())
    EXPECT_LE(req.body.size(), 1u << 20);
  EXPECT_EQ(chronicle_.Logs().size(), 60u);
}

TEST_F(ChronicleOutputTest, ARetriedSplitBatchImportsEachAlertOnce) {
  std::unique_ptr<Output> output = Make(absl::StrCat(
      "{api: legacy, instance: cust-42, endpoint: '", chronicle_.Endpoint(),
      "', credentials_file: '", key_file_, "'}"));
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  std::vector<core::AlertPtr> batch;
  for (uint64_t i = 0; i < 30; ++i) batch.push_back(Alert(i, 50000));
  // The second request of the batch is refused (401, as for a token revoked
  // in between); the others pass.
  std::atomic<int> checks{0};
  chronicle_.SetTokenCheck([this, &checks](absl::string_view authorization) {
    return ++checks != 2 && tokens_.IsValidToken(authorization);
  });
  SendResult first = output->Send(batch, absl::Now() + absl::Seconds(10));
  ASSERT_EQ(first.kind, SendResult::Kind::kRetry) << first.reason;
  EXPECT_EQ(first.status, 401);
  const size_t imported = chronicle_.Logs().size();
  EXPECT_GT(imported, 0u);
  EXPECT_LT(imported, batch.size());

  // The queue sends the same batch again.
  SendResult second = output->Send(batch, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(second.delivered()) << second.reason;
  std::multiset<std::string> seen;
  for (const FakeChronicle::Log& log : chronicle_.Logs())
    seen.insert(log.alert_json);
  EXPECT_EQ(seen.size(), batch.size());
  for (const core::AlertPtr& alert : batch)
    EXPECT_EQ(seen.count(core::EncodeFalcoAlert(*alert)), 1u) << alert->seq;
}

TEST_F(ChronicleOutputTest, WebhookFeedSendsBothKeys) {
  std::unique_ptr<Output> output = Make(
      absl::StrCat("{api: webhook, feed_url: '", chronicle_.FeedUrl(),
                   "', api_key: AIzaFakeFeedKey, secret: fake-feed-secret}"));
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  std::vector<core::AlertPtr> batch = {Alert(1), Alert(2)};
  SendResult r = output->Send(batch, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.delivered()) << r.reason;
  EXPECT_EQ(chronicle_.Logs().size(), 2u);
  EXPECT_EQ(tokens_.TokensIssued(), 0u);
}

TEST_F(ChronicleOutputTest, WrongFeedSecretIsPermanentAndNotInTheReason) {
  std::unique_ptr<Output> output =
      Make(absl::StrCat("{api: webhook, feed_url: '", chronicle_.FeedUrl(),
                        "', api_key: AIzaFakeFeedKey, secret: wrong-s3cret}"));
  ASSERT_NE(output, nullptr);
  std::vector<core::AlertPtr> batch = {Alert(1)};
  SendResult r = output->Send(batch, absl::Now() + absl::Seconds(10));
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.reason, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(r.reason, Not(HasSubstr("wrong-s3cret")));
}

TEST_F(ChronicleOutputTest, TokenFailuresRetry) {
  std::unique_ptr<Output> output = Make(ChronicleYaml());
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  tokens_.FailNext(1, 503);
  std::vector<core::AlertPtr> batch = {Alert(1)};
  SendResult r = output->Send(batch, absl::Now() + absl::Seconds(10));
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(r.reason, HasSubstr("chronicle: access token from service "
                                  "account"));
  EXPECT_EQ(chronicle_.Requests().size(), 0u);
  EXPECT_TRUE(output->Send(batch, absl::Now() + absl::Seconds(10)).delivered());
}

TEST_F(ChronicleOutputTest, MissingKeyFileFailsStart) {
  std::unique_ptr<Output> output = Make(
      "{project: p, region: us, instance: i, credentials_file: "
      "/nonexistent/key.json}");
  ASSERT_NE(output, nullptr);
  absl::Status s = output->Start();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("chronicle credentials"));
}

TEST_F(ChronicleOutputTest, RegistryRejectsUnknownKeys) {
  std::string errors;
  EXPECT_EQ(Make("{project: p, region: us, instance: i, colour: red}", &errors),
            nullptr);
  EXPECT_THAT(errors, HasSubstr("colour: unknown key"));
}

}  // namespace
}  // namespace corral::outputs
