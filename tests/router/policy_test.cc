#include "absl/random/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "router/completion_tracker.h"
#include "router/output_filter.h"
#include "router/retry_policy.h"

namespace corral::router {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

core::RetryConfig Retry(absl::Duration initial, absl::Duration max,
                        int64_t attempts, absl::Duration age) {
  core::RetryConfig c;
  c.initial_backoff = initial;
  c.max_backoff = max;
  c.max_attempts = attempts;
  c.max_age = age;
  return c;
}

TEST(RetryPolicyTest, FullJitterStaysUnderTheDoublingCap) {
  RetryPolicy policy(
      Retry(absl::Milliseconds(500), absl::Seconds(60), 0, absl::Hours(24)));
  absl::BitGen gen;
  const absl::Duration caps[] = {absl::Milliseconds(500), absl::Seconds(1),
                                 absl::Seconds(2), absl::Seconds(4)};
  for (int attempt = 1; attempt <= 4; ++attempt) {
    absl::Duration max_seen = absl::ZeroDuration();
    for (int i = 0; i < 2000; ++i) {
      absl::Duration d = policy.Backoff(attempt, absl::ZeroDuration(), gen);
      ASSERT_GE(d, absl::ZeroDuration());
      ASSERT_LE(d, caps[attempt - 1]);
      max_seen = std::max(max_seen, d);
    }
    // Jitter spreads over the whole window, not just its bottom.
    EXPECT_GT(max_seen, caps[attempt - 1] * 0.8) << attempt;
  }
  for (int i = 0; i < 200; ++i) {
    EXPECT_LE(policy.Backoff(40, absl::ZeroDuration(), gen), absl::Seconds(60));
  }
}

TEST(RetryPolicyTest, RetryAfterIsAFloor) {
  RetryPolicy policy(Retry(absl::Milliseconds(10), absl::Milliseconds(20), 0,
                           absl::ZeroDuration()));
  absl::BitGen gen;
  for (int i = 0; i < 100; ++i) {
    EXPECT_GE(policy.Backoff(1, absl::Seconds(30), gen), absl::Seconds(30));
  }
}

TEST(RetryPolicyTest, GivesUpOnAttemptsOrAge) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  RetryPolicy attempts(
      Retry(absl::Seconds(1), absl::Seconds(1), 3, absl::ZeroDuration()));
  EXPECT_EQ(attempts.GiveUpReason(2, t0, t0 + absl::Hours(100)), std::nullopt);
  EXPECT_THAT(attempts.GiveUpReason(3, t0, t0).value_or(""),
              HasSubstr("max_attempts 3"));

  RetryPolicy age(
      Retry(absl::Seconds(1), absl::Seconds(1), 0, absl::Minutes(10)));
  EXPECT_EQ(age.GiveUpReason(1000, t0, t0 + absl::Minutes(9)), std::nullopt);
  EXPECT_THAT(age.GiveUpReason(1, t0, t0 + absl::Minutes(11)).value_or(""),
              HasSubstr("max_age 10m"));

  RetryPolicy forever(
      Retry(absl::Seconds(1), absl::Seconds(1), 0, absl::ZeroDuration()));
  EXPECT_EQ(forever.GiveUpReason(1000000, t0, t0 + absl::Hours(1000)),
            std::nullopt);
}

TEST(CompletionTrackerTest, ExactUnderOutOfOrderCompletion) {
  CompletionTracker tracker;
  tracker.Finish(2);
  tracker.Finish(4);
  EXPECT_EQ(tracker.low_watermark(), 0u);
  EXPECT_THAT(tracker.finished_above(), ElementsAre(2, 4));
  tracker.Finish(1);
  EXPECT_EQ(tracker.low_watermark(), 2u);
  EXPECT_THAT(tracker.finished_above(), ElementsAre(4));
  EXPECT_FALSE(tracker.IsFinished(3));
  tracker.Finish(3);
  EXPECT_EQ(tracker.low_watermark(), 4u);
  EXPECT_TRUE(tracker.finished_above().empty());
  tracker.Finish(2);  // already below the watermark
  EXPECT_EQ(tracker.low_watermark(), 4u);

  CompletionTracker resumed(100);
  resumed.Finish(101);
  EXPECT_EQ(resumed.low_watermark(), 101u);
}

core::Alert MakeAlert(core::Priority priority, std::string rule,
                      std::vector<std::string> tags, std::string source) {
  core::Alert a;
  a.priority = priority;
  a.rule = std::move(rule);
  a.tags = std::move(tags);
  a.source = std::move(source);
  return a;
}

TEST(OutputFilterTest, MinimumPriority) {
  core::OutputConfig config;
  config.min_priority = core::Priority::kWarning;
  OutputFilter filter(config);
  EXPECT_TRUE(
      filter.Matches(MakeAlert(core::Priority::kWarning, "r", {}, "syscall")));
  EXPECT_TRUE(
      filter.Matches(MakeAlert(core::Priority::kCritical, "r", {}, "syscall")));
  EXPECT_FALSE(
      filter.Matches(MakeAlert(core::Priority::kNotice, "r", {}, "syscall")));
}

TEST(OutputFilterTest, RulesTagsAndSources) {
  core::OutputConfig config;
  config.rules = {"GCP *", "Terminal shell in container"};
  config.tags = {"mitre_execution", "T1485-data-destruction"};
  config.sources = {"gcp_auditlog", "k8s_audit"};
  OutputFilter filter(config);
  EXPECT_TRUE(filter.Matches(
      MakeAlert(core::Priority::kDebug, "GCP Bucket deleted",
                {"GCP", "T1485-data-destruction"}, "gcp_auditlog")));
  EXPECT_FALSE(
      filter.Matches(MakeAlert(core::Priority::kDebug, "AWS Bucket deleted",
                               {"T1485-data-destruction"}, "gcp_auditlog")));
  EXPECT_FALSE(filter.Matches(MakeAlert(
      core::Priority::kDebug, "GCP Bucket deleted", {"GCP"}, "gcp_auditlog")));
  EXPECT_FALSE(filter.Matches(MakeAlert(core::Priority::kDebug,
                                        "Terminal shell in container",
                                        {"mitre_execution"}, "syscall")));
  EXPECT_TRUE(filter.Matches(MakeAlert(core::Priority::kDebug,
                                       "Terminal shell in container",
                                       {"mitre_execution"}, "k8s_audit")));
}

}  // namespace
}  // namespace corral::router
