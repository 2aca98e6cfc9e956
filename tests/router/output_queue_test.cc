#include "router/output_queue.h"

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "router/router.h"
#include "router/spool.h"
#include "tests/fakes/fake_clock.h"
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

  std::unique_ptr<Spool> OpenSpool(core::Clock* clock = core::Clock::Real()) {
    SpoolOptions options;
    options.dir = (dir_ / "spool").string();
    absl::StatusOr<std::unique_ptr<Spool>> spool =
        Spool::Open(options, &metrics_, clock);
    EXPECT_TRUE(spool.ok()) << spool.status();
    return spool.ok() ? *std::move(spool) : nullptr;
  }

  // Appends `count` alerts to the spool, the i-th (from 0) at priority(i),
  // and, when `queue` is given, offers each to it once durable, as the router
  // does (Push when its filter matches, else Skip). Returns (bounded) once
  // every alert is durable and offered.
  static void Feed(Spool& spool, OutputQueue* queue, int count,
                   core::Priority (*priority)(int) = nullptr) {
    struct Pending {
      absl::Mutex mu;
      int left;
    };
    auto pending = std::make_shared<Pending>();
    pending->left = count;
    for (int i = 0; i < count; ++i) {
      auto alert = std::make_shared<core::Alert>(
          *MakeAlert(0, priority ? priority(i) : core::Priority::kWarning));
      spool.Append(*alert,
                   [alert, queue, pending](absl::StatusOr<uint64_t> seq) {
                     ASSERT_TRUE(seq.ok()) << seq.status();
                     alert->seq = *seq;
                     if (queue != nullptr && queue->Matches(*alert)) {
                       queue->Push(alert);
                     } else if (queue != nullptr) {
                       queue->Skip(*seq);
                     }
                     absl::MutexLock lock(&pending->mu);
                     --pending->left;
                   });
    }
    absl::MutexLock lock(&pending->mu);
    auto done = [&]() { return pending->left == 0; };
    EXPECT_TRUE(pending->mu.AwaitWithTimeout(absl::Condition(&done), kWait));
  }

  // Waits (bounded) until `ok(stats)` holds; false if it never does.
  static bool WaitForStats(
      const OutputQueue& queue,
      absl::FunctionRef<bool(const OutputQueue::Stats&)> ok) {
    const absl::Time deadline = absl::Now() + kWait;
    while (!ok(queue.stats())) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
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

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> seqs;
  for (uint64_t seq = first; seq <= last; ++seq) seqs.push_back(seq);
  return seqs;
}

std::vector<std::vector<uint64_t>> OneByOne(const std::vector<uint64_t>& seqs) {
  std::vector<std::vector<uint64_t>> calls;
  for (uint64_t seq : seqs) calls.push_back({seq});
  return calls;
}

TEST_F(OutputQueueTest, AFullQueueLeavesAlertsInTheSpoolAndReadsThemInTurn) {
  auto spool = OpenSpool();
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("small");
  config.queue_size = 3;
  auto queue = MakeQueue(config, &output);
  EXPECT_EQ(queue->ResumeFrom(spool.get(), 0, {}), 0u);
  output->Hold();
  queue->Start();
  Feed(*spool, queue.get(), 200);  // none refused, none waited for room
  // One alert is being sent, two wait in memory, the rest only in the spool.
  ASSERT_TRUE(WaitForStats(
      *queue, [](const auto& stats) { return stats.in_memory == 3; }));
  EXPECT_EQ(queue->stats().queued, 200u);
  std::string text = metrics_.Render();
  EXPECT_THAT(text, HasSubstr("corral_queue_depth{output=\"small\"} 200\n"));
  EXPECT_THAT(text, HasSubstr("corral_queue_in_memory{output=\"small\"} 3\n"));

  output->Release();
  ASSERT_TRUE(WaitIdle(*queue));
  EXPECT_EQ(output->calls(), OneByOne(Range(1, 200)));
  OutputQueue::Stats stats = queue->stats();
  EXPECT_EQ(stats.delivered, 200u);
  EXPECT_EQ(stats.low_watermark, 200u);
  EXPECT_EQ(stats.in_memory_peak, 3u);
  EXPECT_EQ(stats.queued, 0u);
  EXPECT_GE(spool->stats().replayed, 197u);  // read back, not pushed
  text = metrics_.Render();
  EXPECT_THAT(text, HasSubstr("corral_queue_depth{output=\"small\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("corral_queue_in_memory{output=\"small\"} 0\n"));
}

TEST_F(OutputQueueTest, PagingKeepsFilterRetriesAndConcurrencyExact) {
  auto spool = OpenSpool();
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("wide");
  config.queue_size = 3;
  config.concurrency = 4;
  config.min_priority = core::Priority::kWarning;
  auto queue = MakeQueue(config, &output);
  std::vector<outputs::SendResult> script;
  for (int i = 0; i < 60; ++i) {
    script.push_back(i % 3 == 0 ? SendResult::Retry("HTTP 503", 503)
                                : SendResult::Delivered(200));
  }
  output->Script(script);
  queue->ResumeFrom(spool.get(), 0, {});
  output->Hold();
  queue->Start();
  // Every third alert is below the filter's priority.
  Feed(*spool, queue.get(), 300, [](int i) {
    return i % 3 == 2 ? core::Priority::kDebug : core::Priority::kError;
  });
  output->Release();
  ASSERT_TRUE(WaitIdle(*queue));

  std::vector<uint64_t> want;
  for (uint64_t seq = 1; seq <= 300; ++seq) {
    if (seq % 3 != 0) want.push_back(seq);
  }
  std::vector<uint64_t> delivered = output->delivered();
  std::sort(delivered.begin(), delivered.end());
  EXPECT_EQ(delivered, want);  // each matching alert once, no other
  OutputQueue::Stats stats = queue->stats();
  EXPECT_EQ(stats.delivered, want.size());
  EXPECT_EQ(stats.retries, 20u);
  EXPECT_EQ(stats.low_watermark, 300u);  // skipped seqs count as finished
  EXPECT_LE(stats.in_memory_peak, 3u);
  EXPECT_TRUE(DeadLetters().empty());
}

TEST_F(OutputQueueTest, ResumesFromTheSpoolSkippingWhatAnEarlierRunFinished) {
  auto spool = OpenSpool();
  Feed(*spool, nullptr, 50);
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("again");
  config.queue_size = 4;
  auto queue = MakeQueue(config, &output);
  // Done before: 1..10, 12 and 40.
  EXPECT_EQ(queue->ResumeFrom(spool.get(), 10, {12, 40}), 38u);
  EXPECT_EQ(queue->stats().queued, 40u);  // 11..50, an upper bound
  queue->Start();
  ASSERT_TRUE(WaitIdle(*queue));
  std::vector<uint64_t> want;
  for (uint64_t seq = 11; seq <= 50; ++seq) {
    if (seq != 12 && seq != 40) want.push_back(seq);
  }
  EXPECT_EQ(output->calls(), OneByOne(want));
  EXPECT_EQ(queue->stats().low_watermark, 50u);
  EXPECT_LE(queue->stats().in_memory_peak, 4u);
}

// POST /test checks every destination: its alert passes every filter, both
// when pushed and when read back from the spool. Only corral's own test
// alert does; the same rule name from another source is filtered as usual.
TEST_F(OutputQueueTest, TheTestAlertPassesEveryFilter) {
  auto spool = OpenSpool();
  core::Alert test;
  test.rule = std::string(core::kTestAlertRule);
  test.source = std::string(core::kTestAlertSource);
  test.priority = core::Priority::kDebug;
  test.tags = {"test", "example"};
  core::Alert lookalike = test;
  lookalike.source = "syscall";
  for (const core::Alert* alert : {&test, &lookalike, &test}) {
    spool->Append(*alert, [](absl::StatusOr<uint64_t> seq) {
      ASSERT_TRUE(seq.ok()) << seq.status();
    });
  }
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("strict");
  config.min_priority = core::Priority::kCritical;
  config.rules = {"GCP *"};
  config.tags = {"mitre_execution"};
  config.sources = {"gcp_auditlog"};
  auto queue = MakeQueue(config, &output);
  EXPECT_TRUE(queue->Matches(test));
  EXPECT_FALSE(queue->Matches(lookalike));
  const absl::Time deadline = absl::Now() + kWait;
  while (spool->durable_seq() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(spool->durable_seq(), 3u);
  queue->ResumeFrom(spool.get(), 0, {});
  queue->Start();
  ASSERT_TRUE(WaitIdle(*queue));
  EXPECT_EQ(output->calls(), OneByOne({1, 3}));
}

// A backlog read back from the spool (after a restart, or paged) keeps the
// age it had when it was accepted: retry.max_age counts from then.
TEST_F(OutputQueueTest, MaxAgeCountsFromAcceptanceForAlertsReadBack) {
  fakes::FakeClock accepted_long_ago(absl::Now() - absl::Hours(2));
  auto spool = OpenSpool(&accepted_long_ago);
  Feed(*spool, nullptr, 3);
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("late");
  config.retry.max_age = absl::Hours(1);
  config.retry.max_attempts = 0;  // only max_age gives up
  auto queue = MakeQueue(config, &output);
  output->SetDefault(SendResult::Retry("HTTP 503", 503));
  EXPECT_EQ(queue->ResumeFrom(spool.get(), 0, {}), 3u);
  queue->Start();
  ASSERT_TRUE(WaitIdle(*queue));
  // One attempt each: the first failure is already past max_age.
  EXPECT_EQ(output->calls().size(), 3u);
  std::vector<boost::json::object> dead = DeadLetters();
  ASSERT_EQ(dead.size(), 3u);
  for (const auto& d : dead) {
    EXPECT_THAT(std::string(d.at("reason").as_string()),
                HasSubstr("gave up: retrying longer than max_age 1h"));
  }
}

// The reader may read an alert before the router offers it (the spool calls
// back after the alert is durable): the later offer must not queue it again.
TEST_F(OutputQueueTest, AnAlertReadFromTheSpoolIsNotTakenAgainWhenPushed) {
  auto spool = OpenSpool();
  Feed(*spool, nullptr, 10);
  std::vector<core::AlertPtr> late;
  ASSERT_TRUE(spool
                  ->ReadFrom(0,
                             [&](core::Alert alert) {
                               late.push_back(std::make_shared<core::Alert>(
                                   std::move(alert)));
                               return true;
                             })
                  .ok());
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("late");
  config.queue_size = 4;
  auto queue = MakeQueue(config, &output);
  queue->ResumeFrom(spool.get(), 0, {});
  queue->Start();
  ASSERT_TRUE(WaitIdle(*queue));  // read all ten: back to taking pushes
  for (const core::AlertPtr& alert : late) queue->Push(alert);
  Feed(*spool, queue.get(), 5);  // 11..15, pushed
  ASSERT_TRUE(WaitIdle(*queue));
  EXPECT_EQ(output->calls(), OneByOne(Range(1, 15)));
  EXPECT_EQ(queue->stats().low_watermark, 15u);
}

// Alerts pushed while the reader reads are left to it: it hands intake back
// to Push only once it has read every seq pushed, never skipping one.
TEST_F(OutputQueueTest, TheReaderHandsBackOnlyOnceItHasReadEverySeqPushed) {
  auto spool = OpenSpool();
  Feed(*spool, nullptr, 10);
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("handover");
  config.queue_size = 100;
  auto queue = MakeQueue(config, &output);
  queue->ResumeFrom(spool.get(), 0, {});
  // Offered while the queue reads, and past where its reads end (10): as when
  // the router offers alerts that became durable after a read began. Here
  // they reach the spool only later, so that every read ends before them; no
  // read may hand intake back to Push, which would lose them.
  queue->Push(MakeAlert(11));
  queue->Push(MakeAlert(12));
  EXPECT_EQ(queue->stats().queued, 12u);
  queue->Start();
  ASSERT_TRUE(output->WaitForCalls(10, kWait));
  ASSERT_TRUE(WaitForStats(
      *queue, [](const auto& stats) { return stats.low_watermark == 10; }));
  EXPECT_EQ(queue->stats().queued, 2u);  // 11 and 12, still to read
  // Now 11 and 12 reach the spool; the reader gets them from there.
  Feed(*spool, nullptr, 2);
  ASSERT_TRUE(WaitIdle(*queue));
  Feed(*spool, queue.get(), 3);  // 13..15: pushed and taken
  ASSERT_TRUE(WaitIdle(*queue));
  EXPECT_EQ(output->calls(), OneByOne(Range(1, 15)));
  EXPECT_EQ(queue->stats().low_watermark, 15u);
}

core::Priority Debug(int) { return core::Priority::kDebug; }
core::Priority Warning(int) { return core::Priority::kWarning; }

// Pushes race the reader's hand-overs: alerts keep coming while the output
// stalls now and then (retries), so the queue fills and pages, and its reader
// catches up again, many times over.
TEST_F(OutputQueueTest, PushesRacingTheReaderLoseAndRepeatNothing) {
  auto spool = OpenSpool();
  ScriptedOutput* output;
  core::OutputConfig config = FastRetryConfig("race");
  config.queue_size = 4;
  config.min_priority = core::Priority::kNotice;
  auto queue = MakeQueue(config, &output);
  std::vector<outputs::SendResult> script;
  for (int i = 0; i < 3000; ++i) {
    script.push_back(i % 25 == 0 ? SendResult::Retry("HTTP 503", 503)
                                 : SendResult::Delivered(200));
  }
  output->Script(script);
  queue->ResumeFrom(spool.get(), 0, {});
  queue->Start();
  constexpr int kAlerts = 4000;
  std::vector<std::thread> feeders;
  for (int t = 0; t < 4; ++t) {
    feeders.emplace_back([&, t] {
      // One at a time, so that alerts keep coming while the reader reads.
      for (int i = t; i < kAlerts; i += 4) {
        Feed(*spool, queue.get(), 1, i % 5 == 0 ? Debug : Warning);
      }
    });
  }
  for (std::thread& feeder : feeders) feeder.join();
  ASSERT_TRUE(WaitIdle(*queue));

  // Which seqs match depends on how the feeders' appends interleaved.
  std::vector<uint64_t> want;
  ASSERT_TRUE(spool
                  ->ReadFrom(0,
                             [&](core::Alert alert) {
                               if (queue->Matches(alert)) {
                                 want.push_back(alert.seq);
                               }
                               return true;
                             })
                  .ok());
  ASSERT_GT(want.size(), 3000u);
  EXPECT_EQ(output->delivered(), want);  // each once, in seq order
  EXPECT_EQ(queue->stats().low_watermark, static_cast<uint64_t>(kAlerts));
  EXPECT_LE(queue->stats().in_memory_peak, 4u);
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
