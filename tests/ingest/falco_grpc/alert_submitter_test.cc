#include "ingest/falco_grpc/alert_submitter.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/recording_intake.h"

namespace corral::ingest::falco_grpc {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kInitial = absl::Milliseconds(100);
constexpr absl::Duration kMax = absl::Milliseconds(400);

core::Alert AlertForRule(absl::string_view rule) {
  core::Alert a;
  a.time = absl::FromUnixSeconds(1783277459);
  a.priority = core::Priority::kWarning;
  a.rule = std::string(rule);
  a.source = "syscall";
  return a;
}

// An intake that answers only when the test says so.
class DeferredIntake : public core::Intake {
 public:
  void Submit(core::Alert alert, core::IntakeDone done) override {
    submitted.push_back(std::move(alert));
    pending.push_back(std::move(done));
  }
  void Answer(size_t i, absl::StatusOr<uint64_t> seq) {
    std::move(pending[i])(std::move(seq));
  }
  std::vector<core::Alert> submitted;
  std::vector<core::IntakeDone> pending;
};

struct Letter {
  std::string message_id, reason, data;
};

class AlertSubmitterTest : public ::testing::Test {
 protected:
  std::unique_ptr<AlertSubmitter> Make(core::Intake* intake,
                                       size_t max_in_flight = 1000) {
    return std::make_unique<AlertSubmitter>(
        AlertSubmitterOptions{.name = "node-a",
                              .initial_backoff = kInitial,
                              .max_backoff = kMax,
                              .max_in_flight = max_in_flight},
        intake,
        [this](absl::string_view id, absl::string_view reason,
               absl::string_view data) {
          if (!sink_status_.ok()) return sink_status_;
          letters_.push_back(
              Letter{std::string(id), std::string(reason), std::string(data)});
          return absl::OkStatus();
        },
        &metrics_, &clock_, [this] { ++wakes_; });
  }

  uint64_t Counter(absl::string_view name) {
    return metrics_.AddCounter(name, "", {"connection"})
        ->With({"node-a"})
        ->Value();
  }
  // corral_inputs_total{source="falco_grpc",status=...}.
  uint64_t Inputs(absl::string_view status) {
    return metrics_.AddCounter("corral_inputs_total", "", {"source", "status"})
        ->With({"falco_grpc", std::string(status)})
        ->Value();
  }
  double Unaccepted() {
    return metrics_
        .AddGauge("corral_falco_grpc_unaccepted_alerts", "", {"connection"})
        ->With({"node-a"})
        ->Value();
  }

  static std::vector<std::string> Rules(const std::vector<core::Alert>& as) {
    std::vector<std::string> rules;
    for (const core::Alert& a : as) rules.push_back(a.rule);
    return rules;
  }

  core::MetricsRegistry metrics_;
  fakes::FakeClock clock_{absl::FromUnixSeconds(1800000000)};
  absl::Status sink_status_;
  std::vector<Letter> letters_;
  int wakes_ = 0;
};

TEST_F(AlertSubmitterTest, SubmitsInOrderOfArrival) {
  fakes::RecordingIntake intake;
  auto submitter = Make(&intake);
  submitter->Add(AlertForRule("a"));
  submitter->Add(AlertForRule("b"));
  EXPECT_EQ(submitter->unaccepted(), 2u);
  EXPECT_EQ(Unaccepted(), 2);
  EXPECT_EQ(submitter->Pump(), absl::InfiniteFuture());
  submitter->Add(AlertForRule("c"));
  submitter->Pump();
  EXPECT_THAT(Rules(intake.submitted), ElementsAre("a", "b", "c"));
  EXPECT_EQ(submitter->unaccepted(), 0u);
  EXPECT_EQ(Unaccepted(), 0);
  EXPECT_FALSE(submitter->holding());
  EXPECT_EQ(Counter("corral_falco_grpc_accepted_total"), 3u);
  // Each alert got its own uuid when it arrived.
  EXPECT_EQ(intake.submitted[0].uuid.size(), 36u);
  EXPECT_NE(intake.submitted[0].uuid, intake.submitted[1].uuid);
  EXPECT_THAT(letters_, IsEmpty());
}

TEST_F(AlertSubmitterTest,
       RefusedAlertIsHeldAndRetriedWithBackoffUntilAccepted) {
  fakes::RecordingIntake intake;
  intake.answer = absl::ResourceExhaustedError("the spool is full");
  auto submitter = Make(&intake);
  submitter->Add(AlertForRule("a"));
  submitter->Add(AlertForRule("b"));
  absl::Time next = submitter->Pump();
  // "a" was refused: "b" waits behind it, and so does polling.
  EXPECT_TRUE(submitter->holding());
  EXPECT_THAT(Rules(intake.submitted), ElementsAre("a"));
  EXPECT_EQ(submitter->unaccepted(), 2u);
  EXPECT_GE(wakes_, 1);

  // Three more refusals: one submission each, once its backoff is over, the
  // backoff's cap doubling up to max_backoff.
  absl::Duration cap = kInitial;
  for (int refusal = 1; refusal <= 3; ++refusal) {
    ASSERT_LE(next, clock_.Now() + cap) << refusal;
    ASSERT_GE(next, clock_.Now()) << refusal;
    // Nothing is due before then.
    if (next > clock_.Now()) {
      submitter->Pump();
      EXPECT_EQ(intake.submitted.size(), static_cast<size_t>(refusal));
    }
    clock_.Set(next);
    submitter->Add(AlertForRule(absl::StrCat("late", refusal)));
    next = submitter->Pump();
    ASSERT_EQ(intake.submitted.size(), static_cast<size_t>(refusal + 1));
    EXPECT_EQ(intake.submitted.back().rule, "a");
    EXPECT_TRUE(submitter->holding());
    cap = std::min(cap * 2, kMax);
  }
  // The same alert every time, with the same uuid.
  EXPECT_EQ(intake.submitted[0].uuid, intake.submitted[3].uuid);
  EXPECT_EQ(Counter("corral_falco_grpc_refused_total"), 4u);
  EXPECT_EQ(Inputs("refused"), 4u);

  intake.answer = uint64_t{7};
  clock_.Set(next);
  EXPECT_EQ(submitter->Pump(), absl::InfiniteFuture());
  EXPECT_FALSE(submitter->holding());
  EXPECT_THAT(Rules(intake.submitted), ElementsAre("a", "a", "a", "a", "a", "b",
                                                   "late1", "late2", "late3"));
  EXPECT_EQ(submitter->unaccepted(), 0u);
  EXPECT_EQ(Counter("corral_falco_grpc_accepted_total"), 5u);
  EXPECT_EQ(Inputs("accepted"), 5u);
  EXPECT_EQ(Inputs("invalid"), 0u);
  EXPECT_THAT(letters_, IsEmpty());
}

TEST_F(AlertSubmitterTest, RefusalsOfAlertsInFlightKeepTheirOrder) {
  DeferredIntake intake;
  auto submitter = Make(&intake);
  for (const char* rule : {"a", "b", "c", "d"}) {
    submitter->Add(AlertForRule(rule));
  }
  submitter->Pump();
  ASSERT_EQ(intake.submitted.size(), 4u);
  intake.Answer(2, uint64_t{1});  // c accepted
  intake.Answer(1, absl::UnavailableError("shutting down"));
  intake.Answer(0, absl::ResourceExhaustedError("spool full"));
  EXPECT_TRUE(submitter->holding());
  // d is still in flight: no retry before its answer.
  clock_.Advance(kMax);
  EXPECT_EQ(submitter->Pump(), absl::InfiniteFuture());
  EXPECT_EQ(intake.submitted.size(), 4u);
  intake.Answer(3, absl::ResourceExhaustedError("spool full"));

  // One at a time, in order of arrival: a (the probe), then b and d.
  clock_.Advance(kMax);
  submitter->Pump();
  ASSERT_EQ(intake.submitted.size(), 5u);
  EXPECT_EQ(intake.submitted[4].rule, "a");
  submitter->Pump();
  EXPECT_EQ(intake.submitted.size(), 5u);
  intake.Answer(4, uint64_t{2});
  EXPECT_FALSE(submitter->holding());
  submitter->Pump();
  EXPECT_THAT(Rules(intake.submitted),
              ElementsAre("a", "b", "c", "d", "a", "b", "d"));
}

TEST_F(AlertSubmitterTest, InFlightIsBounded) {
  DeferredIntake intake;
  auto submitter = Make(&intake, /*max_in_flight=*/2);
  for (const char* rule : {"a", "b", "c"}) submitter->Add(AlertForRule(rule));
  submitter->Pump();
  EXPECT_EQ(intake.submitted.size(), 2u);
  intake.Answer(0, uint64_t{1});
  submitter->Pump();
  EXPECT_THAT(Rules(intake.submitted), ElementsAre("a", "b", "c"));
}

TEST_F(AlertSubmitterTest, InvalidAlertsAndNonAlertsAreDeadLettered) {
  fakes::RecordingIntake intake;
  intake.answer = absl::InvalidArgumentError("missing output_fields");
  auto submitter = Make(&intake);
  submitter->Add(AlertForRule("a"));
  submitter->AddUnconvertible("missing rule", R"({"priority":"NOTICE"})");
  submitter->Pump();
  // Not submitted again: it would be refused again.
  EXPECT_EQ(intake.submitted.size(), 1u);
  EXPECT_FALSE(submitter->holding());
  EXPECT_EQ(submitter->unaccepted(), 0u);
  ASSERT_EQ(letters_.size(), 2u);
  EXPECT_EQ(letters_[0].reason, "not an alert: missing rule");
  EXPECT_EQ(letters_[0].data, R"({"priority":"NOTICE"})");
  EXPECT_EQ(letters_[1].reason, "refused by the intake: missing output_fields");
  EXPECT_EQ(letters_[1].message_id, intake.submitted[0].uuid);
  EXPECT_THAT(letters_[1].data, HasSubstr(R"("rule":"a")"));
  EXPECT_EQ(Counter("corral_falco_grpc_dead_lettered_total"), 2u);
}

TEST_F(AlertSubmitterTest, DeadLetterRefusedByTheFileIsTriedAgain) {
  fakes::RecordingIntake intake;
  auto submitter = Make(&intake);
  sink_status_ = absl::InternalError("disk full");
  submitter->AddUnconvertible("missing rule", "{}");
  const absl::Time next = submitter->Pump();
  EXPECT_EQ(next, clock_.Now() + absl::Seconds(1));
  EXPECT_THAT(letters_, IsEmpty());
  sink_status_ = absl::OkStatus();
  clock_.Set(next);
  EXPECT_EQ(submitter->Pump(), absl::InfiniteFuture());
  EXPECT_EQ(letters_.size(), 1u);
}

TEST_F(AlertSubmitterTest, AbandonDeadLettersEverythingNotAccepted) {
  DeferredIntake intake;
  auto submitter = Make(&intake);
  for (const char* rule : {"a", "b", "c"}) submitter->Add(AlertForRule(rule));
  submitter->Pump();
  intake.Answer(0, uint64_t{1});                              // a accepted
  intake.Answer(1, absl::ResourceExhaustedError("no room"));  // b held
  submitter->Add(AlertForRule("d"));                          // waits
  // c is still in flight.
  EXPECT_EQ(submitter->Abandon("corral stopped"), 3u);
  ASSERT_EQ(letters_.size(), 3u);
  EXPECT_THAT(letters_[0].data, HasSubstr(R"("rule":"b")"));
  EXPECT_THAT(letters_[1].data, HasSubstr(R"("rule":"c")"));
  EXPECT_THAT(letters_[2].data, HasSubstr(R"("rule":"d")"));
  for (const Letter& l : letters_) EXPECT_EQ(l.reason, "corral stopped");
  EXPECT_EQ(letters_[1].message_id, intake.submitted[2].uuid);
  EXPECT_EQ(submitter->unaccepted(), 0u);
  EXPECT_EQ(Unaccepted(), 0);
  EXPECT_EQ(Counter("corral_falco_grpc_dead_lettered_total"), 3u);
  // A late answer for c changes nothing; nothing is submitted any more.
  intake.Answer(2, uint64_t{9});
  EXPECT_EQ(Counter("corral_falco_grpc_accepted_total"), 1u);
  EXPECT_EQ(submitter->Pump(), absl::InfiniteFuture());
  EXPECT_EQ(intake.submitted.size(), 3u);
}

TEST_F(AlertSubmitterTest, AbandonReportsWhatTheFileRefused) {
  fakes::RecordingIntake intake;
  intake.answer = absl::ResourceExhaustedError("no room");
  auto submitter = Make(&intake);
  submitter->Add(AlertForRule("a"));
  submitter->Pump();
  sink_status_ = absl::InternalError("disk full");
  EXPECT_EQ(submitter->Abandon("corral stopped"), 0u);
  EXPECT_EQ(Counter("corral_falco_grpc_dead_lettered_total"), 0u);
}

TEST_F(AlertSubmitterTest, AnswersAfterDestructionAreIgnored) {
  DeferredIntake intake;
  auto submitter = Make(&intake);
  submitter->Add(AlertForRule("a"));
  submitter->Pump();
  submitter.reset();
  intake.Answer(0, uint64_t{1});  // must not touch the destroyed submitter
  EXPECT_EQ(wakes_, 0);
}

}  // namespace
}  // namespace corral::ingest::falco_grpc
