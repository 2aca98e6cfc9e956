#include "outputs/gcs/gcs_output.h"

#include <yaml-cpp/yaml.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/alert_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outputs/registry.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_gcs.h"
#include "tests/fakes/fake_google_token.h"
#include "tests/outputs/canned_response.h"
#include "tests/outputs/fixed_alert.h"
#include "tests/outputs/make_output.h"

namespace corral::outputs {
namespace {

using fakes::FakeGcs;
using fakes::FakeGoogleTokenServer;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kBucket[] = "falco-alerts";
const absl::Time kNow = absl::FromUnixSeconds(1783277500);

TEST(GcsUploadUrlTest, EncodesTheWholeName) {
  GcsConfig config;
  config.bucket = kBucket;
  config.store.endpoint = kGcsDefaultEndpoint;
  EXPECT_EQ(GcsUploadUrl(config, "falco/2026-07-05/a b+c:d.json"),
            "https://storage.googleapis.com/upload/storage/v1/b/falco-alerts/"
            "o?uploadType=media&name=falco%2F2026-07-05%2Fa%20b%2Bc%3Ad.json");
}

TEST(GcsClassifyTest, JsonErrorsNameTheReasonAndMessage) {
  SendResult denied = ClassifyGcsResponse(
      Response(403, fakes::GcsErrorBody(403, "forbidden",
                                        "sa@p.iam.gserviceaccount.com does "
                                        "not have storage.objects.create "
                                        "access")),
      kNow);
  EXPECT_EQ(denied.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(denied.reason,
            "gcs: HTTP 403: forbidden: sa@p.iam.gserviceaccount.com does not "
            "have storage.objects.create access");
  SendResult missing = ClassifyGcsResponse(
      Response(404, fakes::GcsErrorBody(404, "notFound", "No such bucket")),
      kNow);
  EXPECT_EQ(missing.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(missing.reason, "gcs: HTTP 404: notFound: No such bucket");
}

TEST(GcsClassifyTest, UnauthenticatedAndServerErrorsRetry) {
  SendResult expired =
      ClassifyGcsResponse(Response(401, fakes::GcsErrorBody(401, "authError",
                                                            "Invalid "
                                                            "Credentials")),
                          kNow);
  EXPECT_EQ(expired.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(expired.reason, "gcs: HTTP 401: authError: Invalid Credentials");
  for (int status : {429, 500, 503}) {
    SendResult r = ClassifyGcsResponse(
        Response(status, fakes::GcsErrorBody(status, "backendError", "x")),
        kNow);
    EXPECT_EQ(r.kind, SendResult::Kind::kRetry) << status;
  }
  SendResult down =
      ClassifyGcsResponse(absl::UnavailableError("connection refused"), kNow);
  EXPECT_EQ(down.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(down.reason, "gcs: connection refused");
  EXPECT_TRUE(ClassifyGcsResponse(Response(200, "{}"), kNow).delivered());
}

class GcsOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(tokens_.Start().ok());
    ASSERT_TRUE(gcs_.Start().ok());
    gcs_.AddBucket(kBucket);
    gcs_.SetTokenCheck([this](absl::string_view authorization) {
      return tokens_.IsValidToken(authorization);
    });
    key_file_ = absl::StrCat(
        ::testing::TempDir(), "/gcs_sa_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
        ".json");
    ASSERT_TRUE(tokens_.WriteServiceAccountKey(key_file_).ok());
  }

  std::string Keys(absl::string_view extra = "") const {
    return absl::StrCat("{bucket: ", kBucket, ", prefix: falco, endpoint: '",
                        gcs_.Endpoint(), "', credentials_file: '", key_file_,
                        "'", extra.empty() ? "" : ", ", extra, "}");
  }

  std::unique_ptr<Output> Make(const std::string& yaml,
                               const OutputContext& context = {}) {
    auto output =
        CreateBuiltinOutput(OutputCommon("archive", "gcs", yaml, 50), context);
    EXPECT_TRUE(output.ok()) << output.status();
    if (!output.ok()) return nullptr;
    return std::move(*output);
  }

  SendResult SendOne(Output& output, uint64_t seq = 42,
                     core::Clock* clock = core::Clock::Real()) {
    std::vector<core::AlertPtr> batch = {FixedAlert(seq)};
    return output.Send(batch, clock->Now() + absl::Seconds(10));
  }

  FakeGoogleTokenServer tokens_;
  FakeGcs gcs_;
  std::string key_file_;
};

TEST_F(GcsOutputTest, UploadsEachAlertWithABearerToken) {
  std::unique_ptr<Output> output = Make(Keys());
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  EXPECT_EQ(output->MaxBatchItems(), 1);
  SendResult r = SendOne(*output);
  ASSERT_TRUE(r.delivered()) << r.reason << " / " << gcs_.LastRejection();
  EXPECT_EQ(r.status, 200);

  const std::string name =
      "falco/2026-07-05/2026-07-05T18:50:59.430325374Z-42.json";
  std::optional<FakeGcs::Object> object = gcs_.Get(kBucket, name);
  ASSERT_TRUE(object.has_value());
  EXPECT_EQ(object->body, kFixedAlertJson);
  EXPECT_EQ(object->content_type, "application/json");
  const fakes::RecordedRequest request = gcs_.Requests().at(0);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target,
            "/upload/storage/v1/b/falco-alerts/o?uploadType=media&name="
            "falco%2F2026-07-05%2F2026-07-05T18%3A50%3A59.430325374Z-42.json");
  EXPECT_TRUE(tokens_.IsValidToken(request.Header("authorization")));
  ASSERT_EQ(tokens_.ScopeRequests().size(), 1u);
  EXPECT_EQ(tokens_.ScopeRequests()[0], std::vector<std::string>{kGcsScope});

  ASSERT_TRUE(SendOne(*output, 43).delivered());
  EXPECT_EQ(gcs_.Objects().size(), 2u);
  EXPECT_EQ(tokens_.TokensIssued(), 1u);  // cached
}

TEST_F(GcsOutputTest, NdjsonBatchUploadsOneObjectPerBatch) {
  std::unique_ptr<Output> output = Make(Keys("format: ndjson_batch"));
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  EXPECT_EQ(output->MaxBatchItems(), 50);
  std::vector<core::AlertPtr> batch = {FixedAlert(5), FixedAlert(6)};
  SendResult r = output->Send(batch, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(r.delivered()) << r.reason << " / " << gcs_.LastRejection();
  std::vector<FakeGcs::Object> objects = gcs_.Objects();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].name, "falco/2026-07-05/5-6.ndjson");
  EXPECT_EQ(objects[0].content_type, "application/x-ndjson");
  EXPECT_EQ(objects[0].body,
            absl::StrCat(core::EncodeFalcoAlert(*batch[0]), "\n",
                         core::EncodeFalcoAlert(*batch[1]), "\n"));
}

TEST_F(GcsOutputTest, ARejectedTokenIsReplacedAtTheRetry) {
  fakes::FakeClock clock;
  FakeGoogleTokenServer tokens(&clock);
  ASSERT_TRUE(tokens.Start().ok());
  ASSERT_TRUE(tokens.WriteServiceAccountKey(key_file_).ok());
  absl::Mutex mu;
  std::set<std::string> revoked;  // guarded by mu
  gcs_.SetTokenCheck([&](absl::string_view authorization) {
    absl::MutexLock lock(&mu);
    return tokens.IsValidToken(authorization) &&
           !revoked.contains(std::string(authorization));
  });
  OutputContext context;
  context.clock = &clock;
  std::unique_ptr<Output> output = Make(Keys(), context);
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  ASSERT_TRUE(SendOne(*output, 1, &clock).delivered()) << gcs_.LastRejection();

  // The token is revoked while cached: Cloud Storage answers 401 and the
  // output asks for a retry rather than giving up.
  {
    absl::MutexLock lock(&mu);
    revoked.insert(absl::StrCat("Bearer ", tokens.LastToken()));
  }
  SendResult r = SendOne(*output, 2, &clock);
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.reason, "gcs: HTTP 401: authError: Invalid Credentials");

  // The refused token was dropped: the retry fetches a new one at once
  // (not at the old one's expiry) and goes through.
  clock.Advance(absl::Seconds(1));
  SendResult retried = SendOne(*output, 2, &clock);
  EXPECT_TRUE(retried.delivered()) << retried.reason;
  EXPECT_EQ(tokens.TokensIssued(), 2u);
}

TEST_F(GcsOutputTest, ScriptedUnauthenticatedIsRetried) {
  gcs_.FailNext(1, 401);
  std::unique_ptr<Output> output = Make(Keys());
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(SendOne(*output).delivered());
}

TEST_F(GcsOutputTest, PermissionDeniedIsPermanent) {
  gcs_.DenyBucket(kBucket);
  std::unique_ptr<Output> output = Make(Keys());
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.reason, StartsWith("gcs: HTTP 403: forbidden: "));
  EXPECT_THAT(r.reason, HasSubstr("storage.objects.create"));
  EXPECT_TRUE(gcs_.Objects().empty());
}

TEST_F(GcsOutputTest, ScriptedForbiddenIsPermanent) {
  gcs_.FailNext(1, 403);
  std::unique_ptr<Output> output = Make(Keys());
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.reason, "gcs: HTTP 403: forbidden: Forbidden");
}

TEST_F(GcsOutputTest, NoSuchBucketIsPermanent) {
  std::unique_ptr<Output> output =
      Make(absl::StrCat("{bucket: other-bucket, endpoint: '", gcs_.Endpoint(),
                        "', credentials_file: '", key_file_, "'}"));
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.reason, HasSubstr("notFound"));
}

TEST_F(GcsOutputTest, ServiceUnavailableAndDroppedConnectionsRetry) {
  // Dropped first, on a new connection: curl itself resends a request once
  // when a reused connection turns out to be closed.
  gcs_.DropNext(1);
  gcs_.FailNext(1, 503);
  std::unique_ptr<Output> output = Make(Keys());
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  SendResult dropped = SendOne(*output);
  EXPECT_EQ(dropped.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(dropped.status, 0);
  SendResult unavailable = SendOne(*output);
  EXPECT_EQ(unavailable.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(unavailable.reason, HasSubstr("HTTP 503: backendError"));
  EXPECT_TRUE(SendOne(*output).delivered());
  EXPECT_EQ(gcs_.Objects().size(), 1u);
}

TEST_F(GcsOutputTest, TokenFailuresRetryWithoutUploading) {
  std::unique_ptr<Output> output = Make(Keys());
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Start().ok());
  tokens_.FailNext(1, 503);
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(r.reason, HasSubstr("gcs: access token from service account"));
  EXPECT_EQ(gcs_.Requests().size(), 0u);
  EXPECT_TRUE(SendOne(*output).delivered());
}

TEST_F(GcsOutputTest, MissingKeyFileFailsStartAndUnknownKeysAreRefused) {
  std::unique_ptr<Output> output =
      Make("{bucket: b-1, credentials_file: /nonexistent/key.json}");
  ASSERT_NE(output, nullptr);
  absl::Status s = output->Start();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("gcs credentials"));

  core::OutputConfig common;
  common.name = "archive";
  common.type = "gcs";
  common.path = "outputs[0]";
  common.node = YAML::Load("{type: gcs, bucket: b-1, region: us}");
  Registry registry;
  RegisterBuiltinOutputs(registry);
  auto refused = registry.Create(common, "corral.yaml", OutputContext{});
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("corral.yaml:1:26: outputs[0].region: unknown key"));
  EXPECT_THAT(std::string(refused.status().message()),
              Not(HasSubstr("outputs[0].bucket")));
}

}  // namespace
}  // namespace corral::outputs
