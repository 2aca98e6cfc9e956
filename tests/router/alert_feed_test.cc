#include "router/alert_feed.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "core/metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::router {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

core::AlertPtr MakeAlert(uint64_t seq,
                         core::Priority priority = core::Priority::kWarning,
                         std::string source = "syscall") {
  auto alert = std::make_shared<core::Alert>();
  alert->seq = seq;
  alert->priority = priority;
  alert->rule = "Terminal shell in container";
  alert->source = std::move(source);
  return alert;
}

OutputFilter Everything() {
  return OutputFilter(core::Priority::kDebug, {}, {}, {});
}

std::vector<uint64_t> Seqs(const AlertFeed::Batch& batch) {
  std::vector<uint64_t> seqs;
  for (const auto& alert : batch.alerts) seqs.push_back(alert->seq);
  return seqs;
}

class AlertFeedTest : public ::testing::Test {
 protected:
  core::MetricsRegistry metrics_;
  AlertFeed feed_{&metrics_};
};

TEST_F(AlertFeedTest, EverySubscriberGetsEveryAlertItsFilterMatchesInOrder) {
  auto all = feed_.Subscribe(Everything(), 100);
  auto urgent = feed_.Subscribe(
      OutputFilter(core::Priority::kCritical, {}, {}, {"syscall"}), 100);
  EXPECT_EQ(feed_.subscribers(), 2u);
  feed_.Publish(MakeAlert(1, core::Priority::kCritical));
  feed_.Publish(MakeAlert(2, core::Priority::kNotice));
  feed_.Publish(MakeAlert(3, core::Priority::kEmergency, "k8s_audit"));
  feed_.Publish(MakeAlert(4, core::Priority::kAlert));

  AlertFeed::Batch batch = all->Next(absl::InfinitePast(), 10);
  EXPECT_THAT(Seqs(batch), ElementsAre(1, 2, 3, 4));
  EXPECT_FALSE(batch.overflowed);
  EXPECT_FALSE(batch.closed);
  EXPECT_THAT(Seqs(urgent->Next(absl::InfinitePast(), 10)), ElementsAre(1, 4));
  EXPECT_THAT(metrics_.Render(), HasSubstr("corral_grpc_subscribers 2\n"));
}

TEST_F(AlertFeedTest, ASubscriptionKnowsTheLastSeqBeforeItStarted) {
  AlertFeed restarted(&metrics_, /*published_through=*/7);
  auto first = restarted.Subscribe(Everything(), 100);
  EXPECT_EQ(first->starts_after(), 7u);
  restarted.Publish(MakeAlert(8));
  restarted.Publish(MakeAlert(9));
  auto second = restarted.Subscribe(Everything(), 100);
  EXPECT_EQ(second->starts_after(), 9u);
  EXPECT_EQ(first->starts_after(), 7u);
  // It sees exactly what comes after.
  EXPECT_TRUE(second->TryTake(10).alerts.empty());
  restarted.Publish(MakeAlert(10));
  EXPECT_THAT(Seqs(second->TryTake(10)), ElementsAre(10));
  EXPECT_THAT(Seqs(first->TryTake(10)), ElementsAre(8, 9, 10));
}

TEST_F(AlertFeedTest, NextHandsOutAtMostMaxAndTimesOutEmpty) {
  auto subscription = feed_.Subscribe(Everything(), 100);
  for (uint64_t seq = 1; seq <= 5; ++seq) feed_.Publish(MakeAlert(seq));
  EXPECT_THAT(Seqs(subscription->Next(absl::InfinitePast(), 2)),
              ElementsAre(1, 2));
  EXPECT_THAT(Seqs(subscription->Next(absl::InfinitePast(), 10)),
              ElementsAre(3, 4, 5));
  AlertFeed::Batch empty = subscription->Next(absl::InfinitePast(), 10);
  EXPECT_TRUE(empty.alerts.empty());
  EXPECT_FALSE(empty.overflowed);
  EXPECT_FALSE(empty.closed);
}

TEST_F(AlertFeedTest, AnOverflowKeepsWhatFitAndIsReportedAfterIt) {
  auto slow = feed_.Subscribe(Everything(), 3);
  auto fast = feed_.Subscribe(Everything(), 100);
  for (uint64_t seq = 1; seq <= 6; ++seq) feed_.Publish(MakeAlert(seq));

  // The flag comes with the last alert that was kept, never before it.
  AlertFeed::Batch first = slow->Next(absl::InfinitePast(), 2);
  EXPECT_THAT(Seqs(first), ElementsAre(1, 2));
  EXPECT_FALSE(first.overflowed);
  AlertFeed::Batch second = slow->Next(absl::InfinitePast(), 2);
  EXPECT_THAT(Seqs(second), ElementsAre(3));
  EXPECT_TRUE(second.overflowed);
  // Nothing more is kept for it, even once it has room again.
  feed_.Publish(MakeAlert(7));
  AlertFeed::Batch after = slow->Next(absl::InfinitePast(), 10);
  EXPECT_TRUE(after.alerts.empty());
  EXPECT_TRUE(after.overflowed);
  // Other subscribers are unaffected.
  EXPECT_THAT(Seqs(fast->Next(absl::InfinitePast(), 10)),
              ElementsAre(1, 2, 3, 4, 5, 6, 7));
  EXPECT_THAT(metrics_.Render(),
              HasSubstr("corral_grpc_subscriber_overflows_total 1\n"));
}

TEST_F(AlertFeedTest, CloseWakesAWaitingReaderAfterItsLastAlerts) {
  auto subscription = feed_.Subscribe(Everything(), 100);
  feed_.Publish(MakeAlert(1));
  AlertFeed::Batch last = subscription->Next(absl::InfinitePast(), 10);
  EXPECT_THAT(Seqs(last), ElementsAre(1));
  EXPECT_FALSE(last.closed);

  absl::Notification woke;
  AlertFeed::Batch closed;
  std::thread reader([&] {
    closed = subscription->Next(absl::InfiniteFuture(), 10);
    woke.Notify();
  });
  feed_.Close();
  EXPECT_TRUE(woke.WaitForNotificationWithTimeout(absl::Seconds(10)));
  reader.join();
  EXPECT_TRUE(closed.closed);
  EXPECT_TRUE(closed.alerts.empty());

  // A subscription made after Close is closed from the start.
  EXPECT_TRUE(
      feed_.Subscribe(Everything(), 10)->Next(absl::InfinitePast(), 10).closed);
}

TEST_F(AlertFeedTest, APublishWakesAWaitingReader) {
  auto subscription = feed_.Subscribe(Everything(), 100);
  AlertFeed::Batch batch;
  std::thread reader(
      [&] { batch = subscription->Next(absl::Now() + absl::Seconds(10), 10); });
  feed_.Publish(MakeAlert(9));
  reader.join();
  EXPECT_THAT(Seqs(batch), ElementsAre(9));
}

TEST_F(AlertFeedTest, ALingeringReaderTakesWhatArrivesUntilItsBatchIsFull) {
  auto subscription = feed_.Subscribe(Everything(), 100);
  feed_.Publish(MakeAlert(1));
  AlertFeed::Batch batch;
  absl::Notification done;
  // The linger is far longer than the test may take: only a full batch can
  // end the wait.
  std::thread reader([&] {
    batch = subscription->Next(absl::InfiniteFuture(), 4, absl::Hours(1));
    done.Notify();
  });
  for (uint64_t seq = 2; seq <= 4; ++seq) feed_.Publish(MakeAlert(seq));
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  reader.join();
  EXPECT_THAT(Seqs(batch), ElementsAre(1, 2, 3, 4));
}

TEST_F(AlertFeedTest, TheReadyHookFiresOncePerEmptyTake) {
  int wake_ups = 0;
  auto sub = feed_.Subscribe(Everything(), 2, [&] { ++wake_ups; });
  // A new subscriber waits from the start.
  feed_.Publish(MakeAlert(1));
  EXPECT_EQ(wake_ups, 1);
  // Not taken yet: more alerts do not call again.
  feed_.Publish(MakeAlert(2));
  EXPECT_EQ(wake_ups, 1);
  AlertFeed::Batch batch = sub->TryTake(1);
  EXPECT_THAT(Seqs(batch), ElementsAre(1));
  // A take that found something does not arm the hook.
  feed_.Publish(MakeAlert(3));
  EXPECT_EQ(wake_ups, 1);
  EXPECT_THAT(Seqs(sub->TryTake(10)), ElementsAre(2, 3));
  EXPECT_EQ(wake_ups, 1);
  // Only a take that found nothing does.
  batch = sub->TryTake(10);
  EXPECT_TRUE(batch.alerts.empty());
  EXPECT_FALSE(batch.overflowed || batch.closed);
  feed_.Publish(MakeAlert(4));
  EXPECT_EQ(wake_ups, 2);
}

TEST_F(AlertFeedTest, TheReadyHookFiresOnOverflowAndOnClose) {
  int wake_ups = 0;
  auto sub = feed_.Subscribe(Everything(), 1, [&] { ++wake_ups; });
  EXPECT_TRUE(sub->TryTake(10).alerts.empty());
  feed_.Publish(MakeAlert(1));
  EXPECT_EQ(wake_ups, 1);
  EXPECT_THAT(Seqs(sub->TryTake(10)), ElementsAre(1));
  EXPECT_TRUE(sub->TryTake(10).alerts.empty());
  // Full with one, then cut off: the overflow is a reason to look too.
  feed_.Publish(MakeAlert(2));
  EXPECT_EQ(wake_ups, 2);
  feed_.Publish(MakeAlert(3));
  EXPECT_EQ(wake_ups, 2);  // the reader has not looked since
  AlertFeed::Batch batch = sub->TryTake(10);
  EXPECT_THAT(Seqs(batch), ElementsAre(2));
  EXPECT_TRUE(batch.overflowed);

  auto idle = feed_.Subscribe(Everything(), 10, [&] { wake_ups += 10; });
  EXPECT_TRUE(idle->TryTake(10).alerts.empty());
  feed_.Close();
  EXPECT_EQ(wake_ups, 12);
  EXPECT_TRUE(idle->TryTake(10).closed);
}

TEST_F(AlertFeedTest, NoHookRunsOnceTheSubscriptionIsGone) {
  std::atomic<int> wake_ups{0};
  auto sub = feed_.Subscribe(Everything(), 1000, [&] { ++wake_ups; });
  std::thread publisher([&] {
    for (uint64_t seq = 1; seq <= 2000; ++seq) feed_.Publish(MakeAlert(seq));
  });
  while (wake_ups.load() == 0) std::this_thread::yield();
  sub->TryTake(10);
  sub.reset();
  const int after_reset = wake_ups.load();
  publisher.join();
  EXPECT_EQ(wake_ups.load(), after_reset);
}

TEST_F(AlertFeedTest, DestroyingASubscriptionUnsubscribes) {
  {
    auto a = feed_.Subscribe(Everything(), 10);
    auto b = feed_.Subscribe(Everything(), 10);
    EXPECT_EQ(feed_.subscribers(), 2u);
  }
  EXPECT_EQ(feed_.subscribers(), 0u);
  feed_.Publish(MakeAlert(1));  // nobody to hand it to: no crash, no leak
  EXPECT_THAT(metrics_.Render(), HasSubstr("corral_grpc_subscribers 0\n"));
}

}  // namespace
}  // namespace corral::router
