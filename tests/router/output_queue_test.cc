#include "router/output_queue.h"

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "router/router.h"
#include "tests/router/scripted_output.h"

namespace corral::router {
namespace {

using outputs::SendResult;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(10);

core::AlertPtr MakeAlert(uint64_t seq,
                         core::Priority priority = core::Priority::kWarning) {
  auto a = std::make_shared<core::Alert>();
  a->seq = seq;
  a->uuid = absl::StrCat("uuid-", seq);
  a->rule = "R";
  a->priority = priority;
  a->output_fields_json = R"({"k":1})";
  return a;
}

class OutputQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat(
               "queue_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    dead_letters_ = std::make_unique<DeadLetterFile>(
        (dir_ / "dead.jsonl").string(), core::Clock::Real());
    ASSERT_TRUE(dead_letters_->Open().ok());
  }

  std::unique_ptr<OutputQueue> MakeQueue(const core::OutputConfig& config,
                                         ScriptedOutput** out,
                                         int64_t max_batch = 1) {
    auto output = std::make_unique<ScriptedOutput>(max_batch);
    *out = output.get();
    return std::make_unique<OutputQueue>(config, std::move(output),
                                         dead_letters_.get(), &metrics_);
  }

  std::vector<boost::json::object> DeadLetters() {
    std::ifstream in(dead_letters_->path());
    std::vector<boost::json::object> lines;
    std::string line;
    while (std::getline(in, line))
      lines.push_back(boost::json::parse(line).as_object());
    return lines;
  }

  // Waits (bounded) until the queue has nothing queued or in flight.
  static bool WaitIdle(OutputQueue& queue) {
    return queue.Drain(absl::Now() + kWait);
  }

  std::filesystem::path dir_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<DeadLetterFile> dead_letters_;
};

TEST_F(OutputQueueTest, RetriesUntilDelivered) {
  ScriptedOutput* output;
  auto queue = MakeQueue(FastRetryConfig("hook"), &output);
  output->Script({SendResult::Retry("HTTP 503", 503),
                  SendResult::Retry("HTTP 503", 503),
                  SendResult::Delivered(200)});
  queue->Start();
  queue->Push(MakeAlert(1));
  ASSERT_TRUE(WaitIdle(*queue));
  EXPECT_EQ(output->calls().size(), 3u);
  OutputQueue::Stats stats = queue->stats();
  EXPECT_EQ(stats.delivered, 1u);
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.low_watermark, 1u);
  EXPECT_TRUE(DeadLetters().empty());
  std::string text = metrics_.Render();
  EXPECT_THAT(text, HasSubstr("corral_retries_total{output=\"hook\"} 2\n"));
  EXPECT_THAT(
      text,
      HasSubstr(
          "corral_outputs_total{output=\"hook\",status=\"delivered\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("corral_queue_depth{output=\"hook\"} 0\n"));
  EXPECT_THAT(
      text,
      HasSubstr("corral_delivery_latency_seconds_count{output=\"hook\"} 1\n"));
}

TEST_F(OutputQueueTest, PermanentFailureIsDeadLetteredOnce) {
  ScriptedOutput* output;
  auto queue = MakeQueue(FastRetryConfig("hook"), &output);
  output->Script({SendResult::Permanent("HTTP 400: bad payload", 400)});
  queue->Start();
  queue->Push(MakeAlert(7));
  ASSERT_TRUE(WaitIdle(*queue));
  EXPECT_EQ(output->calls().size(), 1u);
  std::vector<boost::json::object> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].at("output").as_string(), "hook");
  EXPECT_EQ(dead[0].at("reason").as_string(), "HTTP 400: bad payload");
  EXPECT_EQ(dead[0].at("attempts").as_int64(), 1);
  EXPECT_EQ(dead[0].at("last_status").as_int64(), 400);
  EXPECT_EQ(dead[0].at("alert").at("seq").as_int64(), 7);
  EXPECT_EQ(dead[0].at("alert").at("uuid").as_string(), "uuid-7");
  EXPECT_EQ(queue->stats().failed, 1u);
  EXPECT_EQ(queue->stats().low_watermark,
            0u);  // seqs 1..6 were neither pushed nor skipped
  EXPECT_THAT(metrics_.Render(),
              HasSubstr("corral_dead_letters_total{output=\"hook\"} 1\n"));
}

TEST_F(OutputQueueTest, GivesUpAfterMaxAttempts) {
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("hook");
  config.retry.max_attempts = 4;
  auto queue = MakeQueue(config, &output);
  output->SetDefault(SendResult::Retry("HTTP 502: bad gateway", 502));
  queue->Start();
  queue->Push(MakeAlert(1));
  ASSERT_TRUE(WaitIdle(*queue));
  EXPECT_EQ(output->calls().size(), 4u);
  std::vector<boost::json::object> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_THAT(
      std::string(dead[0].at("reason").as_string()),
      HasSubstr(
          "HTTP 502: bad gateway; gave up: 4 attempts made (max_attempts 4)"));
  EXPECT_EQ(dead[0].at("attempts").as_int64(), 4);
}

TEST_F(OutputQueueTest, HonoursRetryAfter) {
  ScriptedOutput* output;
  auto queue = MakeQueue(FastRetryConfig("hook"), &output);
  output->Script({SendResult::Retry("HTTP 429", 429, absl::Milliseconds(300))});
  queue->Start();
  const absl::Time start = absl::Now();
  queue->Push(MakeAlert(1));
  ASSERT_TRUE(WaitIdle(*queue));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(output->calls().size(), 2u);
}

TEST_F(OutputQueueTest, BatchesWhenTheOutputTakesBatches) {
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("batch");
  config.batch.max_items = 4;
  config.batch.max_wait = absl::Seconds(30);
  auto queue = MakeQueue(config, &output, /*max_batch=*/100);
  queue->Start();
  for (uint64_t seq = 1; seq <= 10; ++seq) queue->Push(MakeAlert(seq));
  // Two full batches go at once; the last two wait for max_wait unless drained.
  ASSERT_TRUE(output->WaitForCalls(2, kWait));
  ASSERT_TRUE(WaitIdle(*queue));  // Drain flushes the partial batch.
  EXPECT_THAT(output->calls(),
              ElementsAre(ElementsAre(1, 2, 3, 4), ElementsAre(5, 6, 7, 8),
                          ElementsAre(9, 10)));
  EXPECT_EQ(queue->stats().low_watermark, 10u);
}

TEST_F(OutputQueueTest, TheOutputsByteLimitCapsBatchMaxBytes) {
  core::OutputConfig config = FastRetryConfig("capped");
  config.batch.max_items = 100;
  config.batch.max_bytes = 100 << 20;  // far more than the output takes
  config.batch.max_wait = absl::Seconds(30);
  // Each alert is estimated at a little over 1000 bytes: two fit under the
  // output's 2500, three do not.
  auto output = std::make_unique<ScriptedOutput>(/*max_batch=*/100,
                                                 /*max_batch_bytes=*/2500);
  ScriptedOutput* scripted = output.get();
  OutputQueue queue(config, std::move(output), dead_letters_.get(), &metrics_);
  queue.Start();
  for (uint64_t seq = 1; seq <= 5; ++seq) {
    auto alert = std::make_shared<core::Alert>(*MakeAlert(seq));
    alert->output = std::string(1000, 'x');
    queue.Push(alert);
  }
  ASSERT_TRUE(WaitIdle(queue));
  EXPECT_THAT(
      scripted->calls(),
      ElementsAre(ElementsAre(1, 2), ElementsAre(3, 4), ElementsAre(5)));
}

TEST_F(OutputQueueTest, EveryWorkerKeepsWorkingWhenBatchesAreRacedFor) {
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("batch");
  config.concurrency = 2;
  config.batch.max_items = 2;
  config.batch.max_wait = absl::Seconds(30);
  auto queue = MakeQueue(config, &output, /*max_batch=*/100);
  queue->Start();
  // One full batch: both workers wake for it, one of them loses the race.
  queue->Push(MakeAlert(1));
  queue->Push(MakeAlert(2));
  ASSERT_TRUE(output->WaitForCalls(1, kWait));
  ASSERT_TRUE(WaitIdle(*queue));
  // Two more full batches while the output holds: both workers must be busy
  // at once, which they cannot be if the loser of the first race went away.
  output->Hold();
  for (uint64_t seq = 3; seq <= 6; ++seq) queue->Push(MakeAlert(seq));
  EXPECT_TRUE(output->WaitForCalls(3, kWait));
  output->Release();
  ASSERT_TRUE(WaitIdle(*queue));
  EXPECT_EQ(queue->stats().delivered, 6u);
}

TEST_F(OutputQueueTest, DeadLetterFileFailureIsRetriedAndNeverCountedAsDone) {
  DeadLetterFile full("/dev/full", core::Clock::Real());
  ASSERT_TRUE(full.Open().ok());
  auto output = std::make_unique<ScriptedOutput>();
  output->SetDefault(SendResult::Permanent("HTTP 400", 400));
  OutputQueue queue(FastRetryConfig("hook"), std::move(output), &full,
                    &metrics_);
  queue.Start();
  queue.Push(MakeAlert(1));
  // The write keeps failing and keeps being retried.
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline &&
         !absl::StrContains(
             metrics_.Render(),
             "corral_dead_letter_errors_total{output=\"hook\"} 3")) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  queue.Stop();
  EXPECT_EQ(queue.stats().failed, 0u);
  EXPECT_EQ(queue.stats().low_watermark, 0u);  // not finished: not recorded
  std::string text = metrics_.Render();
  EXPECT_THAT(
      text,
      Not(HasSubstr("corral_dead_letter_errors_total{output=\"hook\"} 0")));
  EXPECT_THAT(text,
              HasSubstr("corral_dead_letters_total{output=\"hook\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("corral_queue_depth{output=\"hook\"} 0\n"));
}

TEST_F(OutputQueueTest, ConcurrentWorkersTrackProgressExactly) {
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("wide");
  config.concurrency = 4;
  auto queue = MakeQueue(config, &output);
  queue->Start();
  for (uint64_t seq = 1; seq <= 500; ++seq) {
    if (seq % 5 == 0) {
      queue->Skip(seq);
    } else {
      queue->Push(MakeAlert(seq));
    }
  }
  ASSERT_TRUE(WaitIdle(*queue));
  EXPECT_EQ(output->calls().size(), 400u);
  EXPECT_EQ(queue->stats().delivered, 400u);
  EXPECT_EQ(queue->stats().low_watermark, 500u);
}

TEST_F(OutputQueueTest, FullQueueHasNoRoom) {
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("small");
  config.queue_size = 3;
  auto queue = MakeQueue(config, &output);
  output->Hold();
  queue->Start();
  ASSERT_TRUE(queue->TryReserve());
  queue->Push(MakeAlert(1), /*reserved=*/true);
  queue->Push(MakeAlert(2));
  ASSERT_TRUE(queue->TryReserve());  // held, not yet pushed
  EXPECT_FALSE(queue->TryReserve());
  queue->CancelReservation();
  ASSERT_TRUE(queue->TryReserve());
  queue->Push(MakeAlert(3), /*reserved=*/true);
  EXPECT_FALSE(queue->TryReserve());
  output->Release();
  ASSERT_TRUE(WaitIdle(*queue));
  EXPECT_TRUE(queue->TryReserve());
}

TEST_F(OutputQueueTest, StopLeavesWhatIsLeftUnfinished) {
  ScriptedOutput* output;
  auto queue = MakeQueue(FastRetryConfig("down"), &output);
  output->SetDefault(SendResult::Retry("connection refused"));
  queue->Start();
  queue->Push(MakeAlert(1));
  queue->Push(MakeAlert(2));
  ASSERT_TRUE(output->WaitForCalls(3, kWait));
  queue->Stop();
  // Neither delivered nor dead-lettered: the spool replays them next start.
  EXPECT_TRUE(DeadLetters().empty());
  EXPECT_EQ(queue->Progress().low_watermark(), 0u);
  EXPECT_THAT(metrics_.Render(),
              HasSubstr("corral_queue_depth{output=\"down\"} 0\n"));
}

}  // namespace
}  // namespace corral::router
