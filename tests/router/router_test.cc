#include "router/router.h"

#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/router/scripted_output.h"

namespace corral::router {
namespace {

using outputs::SendResult;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

constexpr absl::Duration kWait = absl::Seconds(10);

// Collects the answers to Submit, which arrive on the spool's thread.
class Answers {
 public:
  core::IntakeDone Callback() {
    return [this](absl::StatusOr<uint64_t> seq) {
      absl::MutexLock lock(&mu_);
      answers_.push_back(std::move(seq));
    };
  }
  std::vector<absl::StatusOr<uint64_t>> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() { return answers_.size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
    return answers_;
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::StatusOr<uint64_t>> answers_;
};

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/router_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    dead_ = std::make_unique<DeadLetterFile>(dir_ + "/dead.jsonl",
                                             core::Clock::Real());
    ASSERT_TRUE(dead_->Open().ok());
    OpenSpool();
  }

  void OpenSpool() {
    SpoolOptions options;
    options.dir = dir_ + "/spool";
    absl::StatusOr<std::unique_ptr<Spool>> spool =
        Spool::Open(options, &metrics_, core::Clock::Real());
    ASSERT_TRUE(spool.ok()) << spool.status();
    spool_ = *std::move(spool);
  }

  // Ends a run: the router, then the spool (as corral stops), and opens the
  // spool again for the next run.
  void Restart(std::unique_ptr<Router>& router) {
    router.reset();
    spool_.reset();
    OpenSpool();
  }

  // A router over one queue per (config, output) pair.
  std::unique_ptr<Router> MakeRouter(
      std::vector<std::pair<core::OutputConfig, ScriptedOutput*>> outputs) {
    std::vector<std::unique_ptr<OutputQueue>> queues;
    for (auto& [config, output] : outputs) {
      queues.push_back(std::make_unique<OutputQueue>(
          config, std::unique_ptr<outputs::Output>(output), dead_.get(),
          &metrics_));
    }
    return std::make_unique<Router>(std::move(queues), spool_.get());
  }

  static core::Alert MakeAlert(core::Priority priority, std::string marker) {
    core::Alert a;
    a.priority = priority;
    a.rule = "R";
    a.output = std::move(marker);
    a.output_fields_json = R"({"k":1})";
    return a;
  }

  std::string dir_;
  core::MetricsRegistry metrics_;
  std::unique_ptr<DeadLetterFile> dead_;
  std::unique_ptr<Spool> spool_;
};

TEST_F(RouterTest, AcceptsOnceDurableAndFansOutByFilter) {
  auto* all = new ScriptedOutput();
  auto* urgent = new ScriptedOutput();
  core::OutputConfig urgent_config = FastRetryConfig("urgent");
  urgent_config.min_priority = core::Priority::kCritical;
  auto router =
      MakeRouter({{FastRetryConfig("all"), all}, {urgent_config, urgent}});
  ASSERT_TRUE(router->Start().ok());

  Answers answers;
  for (auto priority : {core::Priority::kNotice, core::Priority::kCritical,
                        core::Priority::kDebug, core::Priority::kEmergency}) {
    router->Submit(MakeAlert(priority, "x"), answers.Callback());
  }
  std::vector<absl::StatusOr<uint64_t>> got = answers.WaitFor(4);
  ASSERT_EQ(got.size(), 4u);
  for (uint64_t i = 0; i < 4; ++i) EXPECT_EQ(got[i].value_or(0), i + 1);
  EXPECT_EQ(spool_->durable_seq(), 4u);  // answered only once on disk

  ASSERT_TRUE(router->Drain(absl::Now() + kWait));
  EXPECT_EQ(all->calls().size(), 4u);
  EXPECT_THAT(urgent->calls(), ElementsAre(ElementsAre(2), ElementsAre(4)));
  // Alerts the filter skipped count as finished for progress.
  EXPECT_EQ((*router->queues())[1]->stats().low_watermark, 4u);

  router->StopIntake();
  Answers refused;
  router->Submit(MakeAlert(core::Priority::kDebug, "late"), refused.Callback());
  EXPECT_EQ(refused.WaitFor(1)[0].status().code(),
            absl::StatusCode::kUnavailable);
}

// Seqs as one-alert batches, the way a queue without batching sends them.
std::vector<std::vector<uint64_t>> OneByOne(uint64_t first, uint64_t last) {
  std::vector<std::vector<uint64_t>> calls;
  for (uint64_t seq = first; seq <= last; ++seq) calls.push_back({seq});
  return calls;
}

TEST_F(RouterTest, AFullQueueRefusesNothingAndHoldsNoMoreThanItsSize) {
  auto* roomy = new ScriptedOutput();
  auto* tiny = new ScriptedOutput();
  tiny->Hold();
  core::OutputConfig tiny_config = FastRetryConfig("tiny");
  tiny_config.queue_size = 1;
  auto router =
      MakeRouter({{FastRetryConfig("roomy"), roomy}, {tiny_config, tiny}});
  ASSERT_TRUE(router->Start().ok());

  Answers answers;
  for (int i = 0; i < 20; ++i) {
    router->Submit(MakeAlert(core::Priority::kWarning, "x"),
                   answers.Callback());
  }
  std::vector<absl::StatusOr<uint64_t>> got = answers.WaitFor(20);
  ASSERT_EQ(got.size(), 20u);
  for (const auto& answer : got) EXPECT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(spool_->last_seq(), 20u);
  ASSERT_TRUE(roomy->WaitForCalls(20, kWait));  // not held up by "tiny"
  tiny->Release();
  ASSERT_TRUE(router->Drain(absl::Now() + kWait));
  EXPECT_EQ(roomy->calls(), OneByOne(1, 20));
  EXPECT_EQ(tiny->calls(), OneByOne(1, 20));
  EXPECT_EQ((*router->queues())[1]->stats().in_memory_peak, 1u);
}

TEST_F(RouterTest, RestartWithABacklogManyTimesTheQueueReadsItInChunks) {
  core::OutputConfig config = FastRetryConfig("hook");
  config.queue_size = 5;
  auto* down = new ScriptedOutput();
  down->SetDefault(SendResult::Retry("connection refused"));
  auto router = MakeRouter({{config, down}});
  ASSERT_TRUE(router->Start().ok());
  Answers answers;
  for (int i = 0; i < 200; ++i) {
    router->Submit(MakeAlert(core::Priority::kWarning, "x"),
                   answers.Callback());
  }
  std::vector<absl::StatusOr<uint64_t>> got = answers.WaitFor(200);
  ASSERT_EQ(got.size(), 200u);
  for (const auto& answer : got) ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ((*router->queues())[0]->stats().queued, 200u);
  router->Stop();
  Restart(router);
  // As if an earlier run had finished 1..10 and, out of order, 15, 20 and 150.
  ASSERT_TRUE(spool_->MarkProgress("hook", 10, {15, 20, 150}).ok());

  auto* up = new ScriptedOutput();
  router = MakeRouter({{config, up}});
  ASSERT_TRUE(router->Start().ok());
  EXPECT_EQ(router->replayed(), 187u);
  ASSERT_TRUE(router->Drain(absl::Now() + kWait));
  std::vector<std::vector<uint64_t>> want;
  for (uint64_t seq = 11; seq <= 200; ++seq) {
    if (seq != 15 && seq != 20 && seq != 150) want.push_back({seq});
  }
  EXPECT_EQ(up->calls(), want);
  OutputQueue::Stats stats = (*router->queues())[0]->stats();
  EXPECT_LE(stats.in_memory_peak, 5u);
  EXPECT_EQ(stats.low_watermark, 200u);
  router->Stop();
  Restart(router);
  EXPECT_EQ(spool_->LoadProgress("hook")->low_watermark, 200u);
}

TEST_F(RouterTest, RestartReplaysExactlyWhatEachOutputHadNotFinished) {
  // First run: "hook" is down, "log" works.
  auto* hook = new ScriptedOutput();
  hook->SetDefault(SendResult::Retry("connection refused"));
  auto* log = new ScriptedOutput();
  auto router = MakeRouter(
      {{FastRetryConfig("hook"), hook}, {FastRetryConfig("log"), log}});
  ASSERT_TRUE(router->Start().ok());
  Answers answers;
  for (int i = 0; i < 5; ++i) {
    router->Submit(MakeAlert(core::Priority::kWarning, absl::StrCat("a", i)),
                   answers.Callback());
  }
  ASSERT_EQ(answers.WaitFor(5).size(), 5u);
  ASSERT_TRUE(log->WaitForCalls(5, kWait));
  router->StopIntake();
  EXPECT_FALSE(router->Drain(absl::Now() + absl::Milliseconds(50)));
  router->Stop();
  Restart(router);

  // Second run, same spool: "hook" gets all five, "log" nothing again.
  auto* hook2 = new ScriptedOutput();
  auto* log2 = new ScriptedOutput();
  router = MakeRouter(
      {{FastRetryConfig("hook"), hook2}, {FastRetryConfig("log"), log2}});
  ASSERT_TRUE(router->Start().ok());
  EXPECT_EQ(router->replayed(), 5u);
  ASSERT_TRUE(router->Drain(absl::Now() + kWait));
  EXPECT_THAT(hook2->calls(),
              ElementsAre(ElementsAre(1), ElementsAre(2), ElementsAre(3),
                          ElementsAre(4), ElementsAre(5)));
  EXPECT_TRUE(log2->calls().empty());
  router->Stop();
  Restart(router);

  // Third run: nothing left for anyone.
  auto* hook3 = new ScriptedOutput();
  router = MakeRouter({{FastRetryConfig("hook"), hook3}});
  ASSERT_TRUE(router->Start().ok());
  EXPECT_EQ(router->replayed(), 0u);
}

TEST_F(RouterTest, AStartThatNeverHappenedLeavesProgressAlone) {
  auto* hook = new ScriptedOutput();
  hook->Script({SendResult::Delivered(200), SendResult::Delivered(200)});
  hook->SetDefault(SendResult::Retry("connection refused"));
  auto router = MakeRouter({{FastRetryConfig("hook"), hook}});
  ASSERT_TRUE(router->Start().ok());
  Answers answers;
  for (int i = 0; i < 3; ++i) {
    router->Submit(MakeAlert(core::Priority::kWarning, "x"),
                   answers.Callback());
  }
  ASSERT_EQ(answers.WaitFor(3).size(), 3u);
  ASSERT_TRUE(hook->WaitForCalls(3, kWait));  // two delivered, one failing
  Restart(router);

  // A run that fails before Start() (an output could not start, say).
  router = MakeRouter({{FastRetryConfig("hook"), new ScriptedOutput()}});
  Answers early;
  router->Submit(MakeAlert(core::Priority::kWarning, "early"),
                 early.Callback());
  EXPECT_EQ(early.WaitFor(1)[0].status().code(),
            absl::StatusCode::kUnavailable);  // intake opens only at Start
  Restart(router);

  auto* hook3 = new ScriptedOutput();
  router = MakeRouter({{FastRetryConfig("hook"), hook3}});
  ASSERT_TRUE(router->Start().ok());
  EXPECT_EQ(router->replayed(), 1u);  // only the undelivered one
}

TEST_F(RouterTest, ANewOutputStartsAtTheHead) {
  auto* first = new ScriptedOutput();
  auto router = MakeRouter({{FastRetryConfig("first"), first}});
  ASSERT_TRUE(router->Start().ok());
  Answers answers;
  router->Submit(MakeAlert(core::Priority::kWarning, "old"),
                 answers.Callback());
  ASSERT_EQ(answers.WaitFor(1).size(), 1u);
  ASSERT_TRUE(router->Drain(absl::Now() + kWait));
  router->Stop();
  Restart(router);

  auto* added = new ScriptedOutput();
  router = MakeRouter({{FastRetryConfig("added"), added}});
  ASSERT_TRUE(router->Start().ok());
  EXPECT_EQ(router->replayed(), 0u);  // the old alert is not sent to it
  Answers more;
  router->Submit(MakeAlert(core::Priority::kWarning, "new"), more.Callback());
  ASSERT_EQ(more.WaitFor(1).size(), 1u);
  ASSERT_TRUE(router->Drain(absl::Now() + kWait));
  EXPECT_THAT(added->calls(), ElementsAre(ElementsAre(2)));
}

TEST_F(RouterTest, ReconfigureKeepsReplacesAddsAndRemovesOutputs) {
  auto* kept = new ScriptedOutput();
  auto* down = new ScriptedOutput();
  down->SetDefault(SendResult::Retry("connection refused"));
  auto* dropped = new ScriptedOutput();
  auto router = MakeRouter({{FastRetryConfig("kept"), kept},
                            {FastRetryConfig("changed"), down},
                            {FastRetryConfig("dropped"), dropped}});
  ASSERT_TRUE(router->Start().ok());
  Answers answers;
  for (int i = 0; i < 3; ++i) {
    router->Submit(MakeAlert(core::Priority::kWarning, "before"),
                   answers.Callback());
  }
  ASSERT_EQ(answers.WaitFor(3).size(), 3u);
  ASSERT_TRUE(kept->WaitForCalls(3, kWait));
  ASSERT_TRUE(dropped->WaitForCalls(3, kWait));
  ASSERT_TRUE(down->WaitForCalls(1, kWait));  // failing, retrying

  // "changed" gets a working destination and only warnings and up.
  auto* fixed = new ScriptedOutput();
  core::OutputConfig fixed_config = FastRetryConfig("changed");
  fixed_config.min_priority = core::Priority::kWarning;
  auto* added = new ScriptedOutput();
  // Keeps the retired queues (and so their outputs) alive for the checks.
  std::shared_ptr<const Router::QueueSet> before = router->queues();
  Router::QueueSet next = {
      (*before)[0],
      std::make_shared<OutputQueue>(fixed_config,
                                    std::unique_ptr<outputs::Output>(fixed),
                                    dead_.get(), &metrics_),
      std::make_shared<OutputQueue>(FastRetryConfig("added"),
                                    std::unique_ptr<outputs::Output>(added),
                                    dead_.get(), &metrics_)};
  absl::StatusOr<uint64_t> replayed = router->Reconfigure(next);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  EXPECT_EQ(*replayed, 3u);  // what "changed" had not delivered
  EXPECT_THAT(spool_->outputs(),
              UnorderedElementsAreArray({"kept", "changed", "added"}));

  Answers after;
  router->Submit(MakeAlert(core::Priority::kWarning, "after"),
                 after.Callback());
  router->Submit(MakeAlert(core::Priority::kDebug, "quiet"), after.Callback());
  ASSERT_EQ(after.WaitFor(2).size(), 2u);
  ASSERT_TRUE(router->Drain(absl::Now() + kWait));
  EXPECT_EQ(kept->calls().size(), 5u);  // untouched: no repeat
  EXPECT_THAT(fixed->calls(), ElementsAre(ElementsAre(1), ElementsAre(2),
                                          ElementsAre(3), ElementsAre(4)));
  EXPECT_THAT(added->calls(), ElementsAre(ElementsAre(4), ElementsAre(5)));
  EXPECT_EQ(dropped->calls().size(), 3u);
  EXPECT_EQ((*router->queues())[1]->stats().low_watermark, 5u);

  // The next run goes on from there: nothing is replayed to anyone.
  router->Stop();
  Restart(router);
  router = MakeRouter({{FastRetryConfig("kept"), new ScriptedOutput()},
                       {fixed_config, new ScriptedOutput()},
                       {FastRetryConfig("added"), new ScriptedOutput()}});
  ASSERT_TRUE(router->Start().ok());
  EXPECT_EQ(router->replayed(), 0u);
}

TEST_F(RouterTest, AlertsSubmittedDuringReconfigureReachTheNewSet) {
  auto* old = new ScriptedOutput();
  auto router = MakeRouter({{FastRetryConfig("hook"), old}});
  ASSERT_TRUE(router->Start().ok());
  constexpr int kAlerts = 300;
  Answers answers;
  std::thread sender([&] {
    for (int i = 0; i < kAlerts; ++i) {
      router->Submit(MakeAlert(core::Priority::kWarning, "x"),
                     answers.Callback());
    }
  });
  auto* replacement = new ScriptedOutput();
  auto* added = new ScriptedOutput();
  // Keeps the old queue (and so `old`) alive after it is retired.
  std::shared_ptr<const Router::QueueSet> before = router->queues();
  absl::StatusOr<uint64_t> replayed = router->Reconfigure(
      {std::make_shared<OutputQueue>(
           FastRetryConfig("hook"),
           std::unique_ptr<outputs::Output>(replacement), dead_.get(),
           &metrics_),
       std::make_shared<OutputQueue>(FastRetryConfig("added"),
                                     std::unique_ptr<outputs::Output>(added),
                                     dead_.get(), &metrics_)});
  sender.join();
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  std::vector<absl::StatusOr<uint64_t>> got = answers.WaitFor(kAlerts);
  ASSERT_EQ(got.size(), static_cast<size_t>(kAlerts));
  for (const auto& answer : got) ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(router->Drain(absl::Now() + kWait));

  // Every accepted alert reached "hook" (the old queue or its replacement;
  // one in flight at the switch may reach both), and "added" got a tail of
  // them without a gap.
  std::set<uint64_t> hook_seqs, added_seqs;
  for (const auto& call : old->calls()) hook_seqs.insert(call[0]);
  for (const auto& call : replacement->calls()) hook_seqs.insert(call[0]);
  for (const auto& call : added->calls()) added_seqs.insert(call[0]);
  EXPECT_EQ(hook_seqs.size(), static_cast<size_t>(kAlerts));
  EXPECT_EQ(*hook_seqs.rbegin(), static_cast<uint64_t>(kAlerts));
  if (!added_seqs.empty()) {
    EXPECT_EQ(*added_seqs.rbegin(), static_cast<uint64_t>(kAlerts));
    EXPECT_EQ(added_seqs.size(),
              kAlerts - *added_seqs.begin() + 1);  // contiguous
  }
  // The replacement took over exactly where the old queue stopped; only an
  // alert the old one was sending at that moment can go out twice.
  EXPECT_LE(old->calls().size() + replacement->calls().size(),
            static_cast<size_t>(kAlerts) + 1);
}

TEST_F(RouterTest, ReconfigureRefusesRepeatedNamesAndAStoppedRouter) {
  auto router = MakeRouter({{FastRetryConfig("hook"), new ScriptedOutput()}});
  auto queue = [&](const std::string& name) {
    return std::make_shared<OutputQueue>(FastRetryConfig(name),
                                         std::make_unique<ScriptedOutput>(),
                                         dead_.get(), &metrics_);
  };
  EXPECT_EQ(router->Reconfigure({queue("a")}).status().code(),
            absl::StatusCode::kFailedPrecondition);  // not started
  ASSERT_TRUE(router->Start().ok());
  absl::StatusOr<uint64_t> twice =
      router->Reconfigure({queue("a"), queue("a")});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(twice.status().message()), HasSubstr("\"a\""));
  EXPECT_EQ((*router->queues())[0]->name(), "hook");  // nothing changed
  router->Stop();
  EXPECT_EQ(router->Reconfigure({queue("a")}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace corral::router
