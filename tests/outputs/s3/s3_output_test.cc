#include "outputs/s3/s3_output.h"

#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/alert_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outputs/registry.h"
#include "outputs/s3/s3_request.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_s3.h"
#include "tests/outputs/canned_response.h"
#include "tests/outputs/fixed_alert.h"
#include "tests/outputs/make_output.h"

namespace corral::outputs {
namespace {

using fakes::FakeS3;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kBucket[] = "falco-alerts";
constexpr char kKeyId[] = "AKIAFAKES3TESTKEY";
constexpr char kSecret[] = "fAkEs3cReTkEyFoRcOrRaLtEsTs0000000000000";
const absl::Time kNow = absl::FromUnixSeconds(1783277500);

TEST(S3ClassifyTest, ErrorDocumentsNameTheCodeAndMessage) {
  SendResult denied = ClassifyS3Response(
      Response(403, fakes::S3ErrorBody("AccessDenied", "Access Denied")), kNow);
  EXPECT_EQ(denied.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.reason, "s3: HTTP 403: AccessDenied: Access Denied");

  SendResult bucket = ClassifyS3Response(
      Response(404, fakes::S3ErrorBody("NoSuchBucket",
                                       "The specified bucket does not exist")),
      kNow);
  EXPECT_EQ(bucket.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(bucket.reason,
            "s3: HTTP 404: NoSuchBucket: The specified bucket does not exist");

  SendResult escaped = ClassifyS3Response(
      Response(400, fakes::S3ErrorBody("InvalidArgument", "a < b & \"c\"")),
      kNow);
  EXPECT_EQ(escaped.reason, "s3: HTTP 400: InvalidArgument: a < b & \"c\"");

  SendResult moved = ClassifyS3Response(
      Response(301, fakes::S3ErrorBody("PermanentRedirect",
                                       "The bucket is in another region")),
      kNow);
  EXPECT_EQ(moved.kind, SendResult::Kind::kPermanent);
  EXPECT_THAT(moved.reason, HasSubstr("PermanentRedirect"));
}

TEST(S3ClassifyTest, SlowDownServerErrorsAndTransportErrorsRetry) {
  for (int status : {500, 502, 503, 504}) {
    SendResult r = ClassifyS3Response(
        Response(status, fakes::S3ErrorBody("SlowDown",
                                            "Please reduce your "
                                            "request rate.")),
        kNow);
    EXPECT_EQ(r.kind, SendResult::Kind::kRetry) << status;
    EXPECT_EQ(r.reason, absl::StrCat("s3: HTTP ", status,
                                     ": SlowDown: Please reduce your request "
                                     "rate."));
  }
  SendResult down = ClassifyS3Response(
      absl::UnavailableError("PUT http://127.0.0.1:1: connection refused"),
      kNow);
  EXPECT_EQ(down.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(down.reason, StartsWith("s3: PUT http://127.0.0.1:1:"));
  SendResult timeout =
      ClassifyS3Response(Response(400, fakes::S3ErrorBody("RequestTimeout",
                                                          "Your socket "
                                                          "connection ...")),
                         kNow);
  EXPECT_EQ(timeout.kind, SendResult::Kind::kRetry);
}

TEST(S3ClassifyTest, ClockSkewRetriesWithAHint) {
  std::string body = fakes::S3ErrorBody(
      "RequestTimeTooSkewed",
      "The difference between the request time and the current time is too "
      "large.");
  body.insert(body.rfind("</Error>"),
              "<RequestTime>20260705T180000Z</RequestTime><ServerTime>2026-07-"
              "05T18:20:00Z</ServerTime>");
  SendResult r = ClassifyS3Response(Response(403, body), kNow);
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.reason,
              AllOf(StartsWith("s3: HTTP 403: RequestTimeTooSkewed: The "
                               "difference"),
                    HasSubstr("request time 20260705T180000Z, server time "
                              "2026-07-05T18:20:00Z"),
                    HasSubstr("check this host's time sync")));
}

TEST(S3ClassifyTest, BodiesThatAreNotErrorDocuments) {
  SendResult html =
      ClassifyS3Response(Response(403, "<html>proxy says no</html>"), kNow);
  EXPECT_EQ(html.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(html.reason, "s3: HTTP 403: <html>proxy says no</html>");
  EXPECT_TRUE(ClassifyS3Response(Response(200, ""), kNow).delivered());
}

class S3OutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(s3_.Start().ok());
    s3_.AddBucket(kBucket);
    s3_.AddCredentials(kKeyId, kSecret);
  }

  std::string Keys(absl::string_view extra = "") const {
    return absl::StrCat("{bucket: ", kBucket, ", prefix: falco, endpoint: '",
                        s3_.Endpoint(), "', access_key_id: ", kKeyId,
                        ", secret_access_key: ", kSecret,
                        extra.empty() ? "" : ", ", extra, "}");
  }

  std::unique_ptr<Output> Make(const std::string& yaml,
                               const OutputContext& context = {}) {
    auto output =
        CreateBuiltinOutput(OutputCommon("archive", "s3", yaml, 50), context);
    EXPECT_TRUE(output.ok()) << output.status();
    if (!output.ok()) return nullptr;
    EXPECT_TRUE((*output)->Start().ok());
    return std::move(*output);
  }

  static absl::Time Deadline() { return absl::Now() + absl::Seconds(10); }

  SendResult SendOne(Output& output, uint64_t seq = 42) {
    std::vector<core::AlertPtr> batch = {FixedAlert(seq)};
    return output.Send(batch, Deadline());
  }

  FakeS3 s3_;
};

TEST_F(S3OutputTest, JsonStoresEachAlertAsItsOwnSignedObject) {
  std::unique_ptr<Output> output = Make(Keys());
  ASSERT_NE(output, nullptr);
  EXPECT_EQ(output->MaxBatchItems(), 1);
  SendResult r = SendOne(*output);
  ASSERT_TRUE(r.delivered()) << r.reason << " / " << s3_.LastRejection();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(s3_.Rejected(), 0u);

  std::optional<FakeS3::Object> object = s3_.Get(
      kBucket, "falco/2026-07-05/2026-07-05T18:50:59.430325374Z-42.json");
  ASSERT_TRUE(object.has_value());
  EXPECT_EQ(object->body, kFixedAlertJson);
  EXPECT_EQ(object->content_type, "application/json");
  EXPECT_FALSE(object->virtual_hosted);
  const fakes::RecordedRequest request = s3_.Requests().at(0);
  EXPECT_EQ(request.target,
            "/falco-alerts/falco/2026-07-05/"
            "2026-07-05T18%3A50%3A59.430325374Z-42.json");
  EXPECT_EQ(request.Header("host"), absl::StrCat("127.0.0.1:", s3_.port()));
  EXPECT_THAT(request.Header("authorization"), Not(HasSubstr(kSecret)));

  // Another alert with the same time does not overwrite the first.
  ASSERT_TRUE(SendOne(*output, 43).delivered());
  EXPECT_EQ(s3_.Objects().size(), 2u);
}

TEST_F(S3OutputTest, NdjsonBatchStoresOneObjectPerBatch) {
  std::unique_ptr<Output> output = Make(Keys("format: ndjson_batch"));
  ASSERT_NE(output, nullptr);
  EXPECT_EQ(output->MaxBatchItems(), 50);
  std::vector<core::AlertPtr> batch = {FixedAlert(7), FixedAlert(8),
                                       FixedAlert(9)};
  SendResult r = output->Send(batch, Deadline());
  ASSERT_TRUE(r.delivered()) << r.reason << " / " << s3_.LastRejection();
  std::vector<FakeS3::Object> objects = s3_.Objects();
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].key, "falco/2026-07-05/7-9.ndjson");
  EXPECT_EQ(objects[0].content_type, "application/x-ndjson");
  EXPECT_EQ(objects[0].body,
            absl::StrCat(core::EncodeFalcoAlert(*batch[0]), "\n",
                         core::EncodeFalcoAlert(*batch[1]), "\n",
                         core::EncodeFalcoAlert(*batch[2]), "\n"));
}

TEST_F(S3OutputTest, EmptyPrefixHasNoLeadingSlash) {
  std::unique_ptr<Output> output = Make(absl::StrCat(
      "{bucket: ", kBucket, ", endpoint: '", s3_.Endpoint(),
      "', access_key_id: ", kKeyId, ", secret_access_key: ", kSecret, "}"));
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(SendOne(*output).delivered()) << s3_.LastRejection();
  EXPECT_EQ(s3_.Objects().at(0).key,
            "2026-07-05/2026-07-05T18:50:59.430325374Z-42.json");
  EXPECT_THAT(s3_.Requests().at(0).target,
              StartsWith("/falco-alerts/2026-07-05/"));
}

TEST_F(S3OutputTest, SessionTokenIsSentWithTemporaryCredentials) {
  s3_.AddCredentials("ASIAFAKETEMPORARY", "temp-secret", "FwoGZXIvYXdzEFAKE");
  std::unique_ptr<Output> output = Make(absl::StrCat(
      "{bucket: ", kBucket, ", endpoint: '", s3_.Endpoint(),
      "', access_key_id: ASIAFAKETEMPORARY, secret_access_key: temp-secret, "
      "session_token: FwoGZXIvYXdzEFAKE}"));
  ASSERT_NE(output, nullptr);
  SendResult r = SendOne(*output);
  ASSERT_TRUE(r.delivered()) << r.reason << " / " << s3_.LastRejection();
  EXPECT_EQ(s3_.Requests().at(0).Header("x-amz-security-token"),
            "FwoGZXIvYXdzEFAKE");

  // Without the token, S3 refuses temporary credentials.
  std::unique_ptr<Output> no_token = Make(absl::StrCat(
      "{bucket: ", kBucket, ", endpoint: '", s3_.Endpoint(),
      "', access_key_id: ASIAFAKETEMPORARY, secret_access_key: temp-secret}"));
  ASSERT_NE(no_token, nullptr);
  SendResult refused = SendOne(*no_token);
  EXPECT_EQ(refused.kind, SendResult::Kind::kPermanent);
  EXPECT_THAT(refused.reason, HasSubstr("HTTP 403: InvalidToken"));
}

TEST_F(S3OutputTest, TamperedRequestsAreRejected) {
  S3Config config;
  config.bucket = kBucket;
  config.store.endpoint = s3_.Endpoint();
  config.path_style = true;
  config.credentials = {kKeyId, kSecret, ""};
  StoredObject object{"falco/tamper.json", R"({"rule":"original"})",
                      "application/json"};
  core::HttpClient client(core::HttpClientTls{}, "test");

  core::HttpRequest body_changed =
      BuildS3PutObject(config, object, absl::Now());
  body_changed.body = R"({"rule":"tampered"})";
  absl::StatusOr<core::HttpResponse> r1 = client.Send(body_changed);
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->status, 400);
  EXPECT_THAT(r1->body, HasSubstr("<Code>XAmzContentSHA256Mismatch</Code>"));

  // The payload hash changed to match: now the signature no longer does.
  core::HttpRequest hash_changed = body_changed;
  for (auto& [name, value] : hash_changed.headers) {
    if (name == "x-amz-content-sha256") value = Sha256Hex(hash_changed.body);
  }
  absl::StatusOr<core::HttpResponse> r2 = client.Send(hash_changed);
  ASSERT_TRUE(r2.ok()) << r2.status();
  SendResult classified = ClassifyS3Response(r2, absl::Now());
  EXPECT_EQ(classified.kind, SendResult::Kind::kPermanent);
  EXPECT_THAT(classified.reason,
              HasSubstr("HTTP 403: SignatureDoesNotMatch: The request "
                        "signature we calculated does not match"));

  // Another key than the one signed.
  core::HttpRequest other_key = BuildS3PutObject(config, object, absl::Now());
  other_key.url = absl::StrCat(s3_.Endpoint(), "/", kBucket, "/falco/x.json");
  absl::StatusOr<core::HttpResponse> r3 = client.Send(other_key);
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_THAT(r3->body, HasSubstr("<Code>SignatureDoesNotMatch</Code>"));

  EXPECT_EQ(s3_.Objects().size(), 0u);
  ASSERT_EQ(
      client.Send(BuildS3PutObject(config, object, absl::Now())).value().status,
      200);
  EXPECT_EQ(s3_.Get(kBucket, "falco/tamper.json")->body, object.body);
}

TEST_F(S3OutputTest, WrongSecretIsPermanentSignatureDoesNotMatch) {
  std::unique_ptr<Output> output = Make(absl::StrCat(
      "{bucket: ", kBucket, ", endpoint: '", s3_.Endpoint(),
      "', access_key_id: ", kKeyId, ", secret_access_key: not-the-secret}"));
  ASSERT_NE(output, nullptr);
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.reason, StartsWith("s3: HTTP 403: SignatureDoesNotMatch: "));
  EXPECT_THAT(r.reason, Not(HasSubstr("not-the-secret")));
}

TEST_F(S3OutputTest, AccessDeniedIsPermanentWithS3sCodeAndMessage) {
  s3_.DenyAccess(kKeyId);
  std::unique_ptr<Output> output = Make(Keys());
  ASSERT_NE(output, nullptr);
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.reason, "s3: HTTP 403: AccessDenied: Access Denied");
}

TEST_F(S3OutputTest, NoSuchBucketIsPermanent) {
  std::unique_ptr<Output> output = Make(absl::StrCat(
      "{bucket: no-such-bucket, endpoint: '", s3_.Endpoint(),
      "', access_key_id: ", kKeyId, ", secret_access_key: ", kSecret, "}"));
  ASSERT_NE(output, nullptr);
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.reason,
            "s3: HTTP 404: NoSuchBucket: The specified bucket does not exist");
}

TEST_F(S3OutputTest, SlowDownIsRetriedUntilItPasses) {
  s3_.FailNext(2, 503, "SlowDown");
  std::unique_ptr<Output> output = Make(Keys());
  ASSERT_NE(output, nullptr);
  for (int i = 0; i < 2; ++i) {
    SendResult r = SendOne(*output);
    EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.reason, "s3: HTTP 503: SlowDown: scripted failure");
  }
  EXPECT_TRUE(SendOne(*output).delivered());
  EXPECT_EQ(s3_.Objects().size(), 1u);
}

TEST_F(S3OutputTest, ADroppedConnectionIsRetried) {
  s3_.DropNext(1);
  std::unique_ptr<Output> output = Make(Keys());
  ASSERT_NE(output, nullptr);
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.reason, StartsWith("s3: "));
  EXPECT_TRUE(SendOne(*output).delivered());
}

TEST_F(S3OutputTest, AStoreThatWentAwayIsRetriedUntilItIsBack) {
  std::unique_ptr<Output> output = Make(Keys());
  ASSERT_NE(output, nullptr);
  const int port = s3_.port();
  s3_.Stop();
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(r.status, 0);
  ASSERT_TRUE(s3_.Start(port).ok());
  EXPECT_TRUE(SendOne(*output).delivered());
}

TEST_F(S3OutputTest, ClockSkewBeyondFifteenMinutesIsRefused) {
  fakes::FakeClock store_clock(absl::Now() + absl::Minutes(20));
  FakeS3 skewed("us-east-1", &store_clock);
  ASSERT_TRUE(skewed.Start().ok());
  skewed.AddBucket(kBucket);
  skewed.AddCredentials(kKeyId, kSecret);
  std::unique_ptr<Output> output = Make(absl::StrCat(
      "{bucket: ", kBucket, ", endpoint: '", skewed.Endpoint(),
      "', access_key_id: ", kKeyId, ", secret_access_key: ", kSecret, "}"));
  ASSERT_NE(output, nullptr);
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(r.reason,
              AllOf(HasSubstr("RequestTimeTooSkewed"), HasSubstr("server time"),
                    HasSubstr("check this host's time sync")));
  store_clock.Set(absl::Now() - absl::Minutes(14));
  EXPECT_TRUE(SendOne(*output).delivered()) << skewed.LastRejection();
}

TEST_F(S3OutputTest, SignsWithTheContextsClock) {
  fakes::FakeClock corral_clock(absl::Now() - absl::Hours(1));
  OutputContext context;
  context.clock = &corral_clock;
  std::unique_ptr<Output> output = Make(Keys(), context);
  ASSERT_NE(output, nullptr);
  std::vector<core::AlertPtr> batch = {FixedAlert()};
  SendResult r = output->Send(batch, corral_clock.Now() + absl::Seconds(10));
  EXPECT_THAT(r.reason, HasSubstr("RequestTimeTooSkewed"));
}

TEST_F(S3OutputTest, WrongRegionIsPermanent) {
  std::unique_ptr<Output> output = Make(Keys("region: eu-west-1"));
  ASSERT_NE(output, nullptr);
  SendResult r = SendOne(*output);
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_THAT(r.reason, HasSubstr("AuthorizationHeaderMalformed"));
  EXPECT_THAT(r.reason, HasSubstr("expecting 'us-east-1'"));
}

TEST_F(S3OutputTest, VirtualHostedRequestsVerifyToo) {
  S3Config config;
  config.bucket = kBucket;
  config.path_style = false;  // https://falco-alerts.s3.us-east-1.amazonaws.com
  config.credentials = {kKeyId, kSecret, ""};
  StoredObject object{"falco/virtual host.json", "{}", "application/json"};
  core::HttpRequest request = BuildS3PutObject(config, object, absl::Now());
  EXPECT_EQ(request.url,
            "https://falco-alerts.s3.us-east-1.amazonaws.com/falco/"
            "virtual%20host.json");
  // Sent to the fake with the Host header S3 would see.
  request.url = absl::StrCat(s3_.Endpoint(), "/falco/virtual%20host.json");
  core::HttpClient client(core::HttpClientTls{}, "test");
  absl::StatusOr<core::HttpResponse> response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200) << response->body;
  std::optional<FakeS3::Object> stored =
      s3_.Get(kBucket, "falco/virtual host.json");
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(stored->virtual_hosted);
}

}  // namespace
}  // namespace corral::outputs
