#include "outputs/slack/slack_output.h"

#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "core/config.h"
#include "core/config_node.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outputs/registry.h"
#include "outputs/slack/slack_payload.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_slack.h"

namespace corral::outputs {
namespace {

using fakes::FakeClock;
using fakes::FakeSlack;
using fakes::FakeSlackOptions;
using fakes::ScriptedResponse;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPath[] = "/services/T0CORRAL/B0CORRAL/s3cr3tT0k3nV4lu3";

core::AlertPtr MakeAlert(uint64_t seq, std::string rule = "Shell") {
  auto alert = std::make_shared<core::Alert>();
  alert->uuid = absl::StrCat("00000000-0000-4000-8000-",
                             absl::Dec(seq, absl::kZeroPad12));
  alert->seq = seq;
  alert->time = absl::FromUnixSeconds(1783277459);
  alert->priority = core::Priority::kCritical;
  alert->rule = std::move(rule);
  alert->output = absl::StrCat("alert ", seq);
  alert->source = "syscall";
  alert->output_fields_json = R"({"proc.name":"bash"})";
  return alert;
}

ScriptedResponse Answer(int status, std::string body) {
  ScriptedResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// The output against a fake Slack whose own limit stays out of the way (the
// output's bucket is what is under test), on a fake clock that its waits move.
class SlackOutputTest : public ::testing::Test {
 protected:
  SlackOutputTest() : slack_(FakeSlackOptions{1000, 1000, 1}) {}

  void SetUp() override {
    ASSERT_TRUE(slack_.Start().ok());
    url_ = slack_.AddWebhook(kPath);
    context_.clock = &clock_;
  }

  std::unique_ptr<SlackOutput> Make(SlackConfig config,
                                    int64_t max_items = 100) {
    if (config.webhook_url.empty()) config.webhook_url = url_;
    return std::make_unique<SlackOutput>(std::move(config), max_items, context_,
                                         [this](absl::Duration d) {
                                           absl::MutexLock lock(&mu_);
                                           slept_.push_back(d);
                                           clock_.Advance(d);
                                         });
  }

  SendResult Send(SlackOutput& out, std::vector<core::AlertPtr> batch) {
    return out.Send(batch, clock_.Now() + absl::Seconds(60));
  }

  absl::Duration TotalSlept() {
    absl::MutexLock lock(&mu_);
    absl::Duration total;
    for (absl::Duration d : slept_) total += d;
    return total;
  }

  FakeClock clock_;
  FakeSlack slack_;
  std::string url_;
  OutputContext context_;
  absl::Mutex mu_;
  std::vector<absl::Duration> slept_;
};

TEST_F(SlackOutputTest, PostsOneMessagePerAlert) {
  SlackConfig config;
  auto out = Make(config);
  core::AlertPtr alert = MakeAlert(1);
  SendResult r = Send(*out, {alert});
  EXPECT_TRUE(r.delivered()) << r.reason;
  EXPECT_EQ(r.status, 200);
  std::vector<FakeSlack::Message> got = slack_.Messages();
  ASSERT_EQ(got.size(), 1u);
  config.webhook_url = url_;
  EXPECT_EQ(boost::json::serialize(got[0].payload),
            BuildSlackMessage(config, *alert));
  EXPECT_EQ(slack_.Requests()[0].Header("content-type"), "application/json");
}

struct ErrorCase {
  int status;
  const char* body;
  SendResult::Kind kind;
};

TEST_F(SlackOutputTest, ClassifiesEverySlackError) {
  const ErrorCase cases[] = {
      {400, "invalid_payload", SendResult::Kind::kPermanent},
      {400, "no_text", SendResult::Kind::kPermanent},
      {403, "invalid_token", SendResult::Kind::kPermanent},
      {403, "action_prohibited", SendResult::Kind::kPermanent},
      {404, "no_service", SendResult::Kind::kPermanent},
      {404, "channel_not_found", SendResult::Kind::kPermanent},
      {410, "channel_is_archived", SendResult::Kind::kPermanent},
      {500, "rollup_error", SendResult::Kind::kRetry},
      {503, "service_unavailable", SendResult::Kind::kRetry},
  };
  auto out = Make({}, 1);
  for (const ErrorCase& c : cases) {
    slack_.FailNext(kPath, Answer(c.status, c.body));
    SendResult r = Send(*out, {MakeAlert(1)});
    EXPECT_EQ(r.kind, c.kind) << c.status << " " << c.body;
    EXPECT_EQ(r.status, c.status);
    EXPECT_THAT(r.reason, HasSubstr(c.body));
    EXPECT_THAT(r.reason, HasSubstr("slack"));
    EXPECT_THAT(r.reason, Not(HasSubstr("s3cr3t")));
    EXPECT_THAT(r.reason, Not(HasSubstr("services")));
    clock_.Advance(absl::Seconds(10));  // keep the bucket out of it
  }
}

TEST_F(SlackOutputTest, UnknownWebhookIsPermanentNoService) {
  SlackConfig config;
  config.webhook_url = slack_.UrlFor("/services/T/B/wrongS3cret");
  auto out = Make(config);
  SendResult r = Send(*out, {MakeAlert(1)});
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_THAT(r.reason, HasSubstr("no_service"));
  EXPECT_THAT(r.reason, Not(HasSubstr("wrongS3cret")));
}

TEST_F(SlackOutputTest, ArchivedChannelIsPermanent) {
  slack_.Archive(kPath);
  auto out = Make({});
  SendResult r = Send(*out, {MakeAlert(1)});
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.status, 410);
  EXPECT_THAT(r.reason, HasSubstr("channel_is_archived"));
}

TEST_F(SlackOutputTest, ConnectionErrorsRetryWithoutThePath) {
  SlackConfig config;
  slack_.server().Stop();
  auto out = Make(config);
  SendResult r = Send(*out, {MakeAlert(1)});
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.reason, Not(HasSubstr("s3cr3t")));
}

TEST_F(SlackOutputTest, TooManyRequestsBlocksTheWebhookForRetryAfter) {
  auto out = Make({}, 1);
  ScriptedResponse limited = Answer(429, "rate_limited");
  limited.headers.emplace_back("Retry-After", "7");
  slack_.FailNext(kPath, limited);
  const absl::Time start = clock_.Now();
  SendResult r = Send(*out, {MakeAlert(1)});
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.retry_after, absl::Seconds(7));
  // Even if the queue came back early, the next message waits for the block.
  EXPECT_TRUE(Send(*out, {MakeAlert(2)}).delivered());
  EXPECT_GE(clock_.Now() - start, absl::Seconds(7));
  EXPECT_EQ(slack_.Messages().size(), 1u);
}

TEST_F(SlackOutputTest, TooManyRequestsWithoutRetryAfterWaitsOneSecond) {
  auto out = Make({}, 1);
  slack_.FailNext(kPath, Answer(429, "rate_limited"));
  SendResult r = Send(*out, {MakeAlert(1)});
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(r.retry_after, absl::Seconds(1));
}

TEST_F(SlackOutputTest, PacesMessagesWithTheBucket) {
  SlackConfig config;
  config.rate_limit_per_second = 1;
  config.rate_limit_burst = 3;
  auto out = Make(config, 1);
  for (uint64_t i = 1; i <= 6; ++i) {
    ASSERT_TRUE(Send(*out, {MakeAlert(i)}).delivered());
  }
  // Three at once, then one a second.
  EXPECT_EQ(TotalSlept(), absl::Seconds(3));
  EXPECT_EQ(slack_.Messages().size(), 6u);
}

TEST_F(SlackOutputTest, SlotPastTheDeadlineIsARetryWithoutWaiting) {
  SlackConfig config;
  config.rate_limit_burst = 1;
  config.rate_limit_per_second = 0.1;  // one every 10 s
  auto out = Make(config, 1);
  ASSERT_TRUE(Send(*out, {MakeAlert(1)}).delivered());
  std::vector<core::AlertPtr> batch = {MakeAlert(2)};
  SendResult r = out->Send(batch, clock_.Now() + absl::Seconds(2));
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(r.retry_after, absl::Seconds(10));
  EXPECT_THAT(r.reason, HasSubstr("rate limit"));
  EXPECT_EQ(TotalSlept(), absl::ZeroDuration());
  // Nothing was booked: after 10 s the next one goes at once.
  clock_.Advance(absl::Seconds(10));
  EXPECT_TRUE(Send(*out, {MakeAlert(2)}).delivered());
  EXPECT_EQ(TotalSlept(), absl::ZeroDuration());
}

TEST_F(SlackOutputTest, BigBatchBecomesOneDigest) {
  auto out = Make({});
  std::vector<core::AlertPtr> batch;
  for (uint64_t i = 1; i <= 50; ++i) {
    batch.push_back(MakeAlert(i, i % 5 == 0 ? "Net" : "Shell"));
  }
  EXPECT_TRUE(Send(*out, batch).delivered());
  std::vector<FakeSlack::Message> got = slack_.Messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(std::string(got[0].payload.at("text").as_string()),
            "50 alerts: Shell × 40, Net × 10");
}

TEST_F(SlackOutputTest, SmallBatchGoesAlertByAlertWhileTheBucketAllows) {
  auto out = Make({});  // digest_after 3, burst 3
  EXPECT_TRUE(Send(*out, {MakeAlert(1), MakeAlert(2)}).delivered());
  EXPECT_EQ(slack_.Messages().size(), 2u);
  // One token left: two alerts are more than the bucket lets through now.
  EXPECT_TRUE(Send(*out, {MakeAlert(3), MakeAlert(4)}).delivered());
  std::vector<FakeSlack::Message> got = slack_.Messages();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_THAT(std::string(got[2].payload.at("text").as_string()),
              HasSubstr("2 alerts: Shell × 2"));
}

TEST_F(SlackOutputTest, DigestsOffSendsEachAlert) {
  SlackConfig config;
  config.digest_after = 0;
  auto out = Make(config, 1);
  EXPECT_EQ(out->MaxBatchItems(), 1);
  EXPECT_TRUE(Send(*out, {MakeAlert(1)}).delivered());
}

TEST_F(SlackOutputTest, RetriedBatchDoesNotRepostWhatWentThrough) {
  auto out = Make({});
  std::vector<core::AlertPtr> batch = {MakeAlert(1), MakeAlert(2)};
  // The first message is answered ok (scripted), the second fails.
  slack_.FailNext(kPath, Answer(200, "ok"));
  slack_.FailNext(kPath, Answer(500, "rollup_error"));
  SendResult r = Send(*out, batch);
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  clock_.Advance(absl::Seconds(5));
  EXPECT_TRUE(Send(*out, batch).delivered());
  std::vector<fakes::RecordedRequest> requests = slack_.Requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_THAT(requests[0].body, HasSubstr("alert 1"));
  EXPECT_THAT(requests[1].body, HasSubstr("alert 2"));
  EXPECT_THAT(requests[2].body, HasSubstr("alert 2"));
  EXPECT_THAT(requests[2].body, Not(HasSubstr("alert 1")));
}

TEST(TokenBucketTest, BurstThenRate) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  TokenBucket bucket(2, 3, t0);  // 2/s, burst 3
  EXPECT_EQ(bucket.Available(t0), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(bucket.Reserve(t0, absl::InfiniteFuture()).at, t0);
  }
  EXPECT_EQ(bucket.Available(t0), 0);
  EXPECT_EQ(bucket.Reserve(t0, absl::InfiniteFuture()).at,
            t0 + absl::Milliseconds(500));
  EXPECT_EQ(bucket.Reserve(t0, absl::InfiniteFuture()).at,
            t0 + absl::Seconds(1));
  // Refills, but never above the burst.
  EXPECT_EQ(bucket.Available(t0 + absl::Seconds(100)), 3);
}

TEST(TokenBucketTest, ReservePastLatestBooksNothing) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  TokenBucket bucket(1, 1, t0);
  EXPECT_TRUE(bucket.Reserve(t0, t0).booked);
  TokenBucket::Slot slot = bucket.Reserve(t0, t0 + absl::Milliseconds(500));
  EXPECT_FALSE(slot.booked);
  EXPECT_EQ(slot.at, t0 + absl::Seconds(1));
  EXPECT_EQ(bucket.Reserve(t0, absl::InfiniteFuture()).at,
            t0 + absl::Seconds(1));
}

TEST(TokenBucketTest, BlockUntilAllowsOneMessageThen) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  TokenBucket bucket(1, 3, t0);
  bucket.BlockUntil(t0 + absl::Seconds(2));
  EXPECT_EQ(bucket.Available(t0 + absl::Seconds(1)), 0);
  EXPECT_EQ(bucket.Reserve(t0, absl::InfiniteFuture()).at,
            t0 + absl::Seconds(2));
  EXPECT_EQ(bucket.Reserve(t0, absl::InfiniteFuture()).at,
            t0 + absl::Seconds(3));
}

TEST(SlackRegistryTest, BuiltinRegistryKnowsSlackAndRejectsUnknownKeys) {
  Registry registry;
  RegisterBuiltinOutputs(registry);
  ASSERT_TRUE(registry.Has("slack"));
  core::OutputConfig config;
  config.name = "s";
  config.type = "slack";
  config.path = "outputs[0]";
  config.node = YAML::Load(
      "{name: s, type: slack, webhook_url: 'https://hooks.slack.com/services/"
      "T/B/X', colour: red}");
  absl::StatusOr<std::unique_ptr<Output>> out =
      registry.Create(config, "test.yaml", {});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("colour"));
  config.node.remove("colour");
  config.batch.max_items = 40;
  out = registry.Create(config, "test.yaml", {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)->MaxBatchItems(), 40);
}

TEST(FakeSlackTest, AnswersLikeSlack) {
  FakeSlack slack(FakeSlackOptions{1, 2, 3});
  ASSERT_TRUE(slack.Start().ok());
  const std::string url = slack.AddWebhook("/services/A/B/C");
  core::HttpClient client(core::HttpClientTls{}, "test");
  auto post = [&](const std::string& to, std::string body,
                  std::string type = "application/json") {
    core::HttpRequest request;
    request.method = "POST";
    request.url = to;
    request.body = std::move(body);
    request.headers.emplace_back("Content-Type", type);
    absl::StatusOr<core::HttpResponse> response = client.Send(request);
    EXPECT_TRUE(response.ok());
    return response.value_or(core::HttpResponse{});
  };
  core::HttpResponse r =
      post(slack.UrlFor("/services/A/B/D"), R"({"text":"x"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "no_service");
  r = post(url, "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "invalid_payload");
  r = post(url, R"({"username":"x"})");  // burst of 2 used up after this
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "no_text");
  r = post(url, R"({"text":"x"})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("retry-after"), "3");
  EXPECT_EQ(slack.RateLimited(), 1u);
  EXPECT_TRUE(slack.Messages().empty());
}

}  // namespace
}  // namespace corral::outputs
