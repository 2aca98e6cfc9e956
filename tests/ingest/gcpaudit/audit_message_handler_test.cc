#include "ingest/gcpaudit/audit_message_handler.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingest/rules/rules_loader.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/recording_intake.h"

namespace corral::ingest::gcpaudit {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kRules[] = R"(
- rule: Bucket deleted
  desc: d
  condition: gcp.methodName = storage.buckets.delete
  output: bucket deleted (bucket=%gcp.storage.bucket user=%gcp.user)
  priority: WARNING
  source: gcp_auditlog
  tags: [gcp, storage]
- rule: Anything from storage
  desc: d
  condition: gcp.serviceName = storage.googleapis.com
  output: storage call %gcp.methodName
  priority: NOTICE
  source: gcp_auditlog
)";

std::string Entry(const std::string& insert_id, const std::string& method) {
  return absl::StrCat(
      R"({"insertId":")", insert_id,
      R"(","timestamp":"2026-11-30T10:00:00.5Z","resource":{"type":"gcs_bucket","labels":{"bucket_name":"b1","project_id":"p1"}},)",
      R"("protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","serviceName":"storage.googleapis.com","methodName":")",
      method,
      R"(","authenticationInfo":{"principalEmail":"eve@example.com"}}})");
}

// An intake that keeps its callbacks until the test answers them.
class HeldIntake : public core::Intake {
 public:
  void Submit(core::Alert alert, core::IntakeDone done) override {
    alerts.push_back(std::move(alert));
    pending.push_back(std::move(done));
  }
  void AnswerAll(absl::StatusOr<uint64_t> answer) {
    std::vector<core::IntakeDone> now;
    now.swap(pending);
    for (core::IntakeDone& d : now) std::move(d)(answer);
  }
  std::vector<core::Alert> alerts;
  std::vector<core::IntakeDone> pending;
};

struct Rejected {
  std::string message_id, reason, data;
};

class AuditMessageHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rules::LoadResult loaded = rules::LoadRules({{"test.yaml", kRules}});
    ASSERT_TRUE(loaded.ok()) << ::testing::PrintToString(loaded.errors);
    rules_ = loaded.rules;
  }

  std::unique_ptr<AuditMessageHandler> Make(
      core::Intake* intake,
      rules::RuleMatching matching = rules::RuleMatching::kFirst,
      size_t capacity = 1 << 20, size_t max_message_bytes = 1 << 20) {
    AuditMessageHandlerOptions options;
    options.subscription_name = "prod-audit";
    options.rules = rules_;
    options.rule_matching = matching;
    options.hostname = "corral-host";
    options.dedup_window = absl::Minutes(10);
    options.dedup_capacity = capacity;
    options.max_message_bytes = max_message_bytes;
    return std::make_unique<AuditMessageHandler>(
        options, intake,
        [this](absl::string_view id, absl::string_view reason,
               absl::string_view data) {
          if (!reject_status_.ok()) return reject_status_;
          rejected_.push_back(Rejected{std::string(id), std::string(reason),
                                       std::string(data)});
          return absl::OkStatus();
        },
        &metrics_, &clock_);
  }

  // Handles one message and returns the decision, if it was made already.
  std::optional<AckDecision> Handle(AuditMessageHandler& handler,
                                    const std::string& data,
                                    const std::string& id = "m1") {
    auto decision = std::make_shared<std::optional<AckDecision>>();
    handler.Handle(id, data, [decision](AckDecision d) { *decision = d; });
    return *decision;
  }

  uint64_t Count(absl::string_view name) {
    // Reads the counter through the registry, as Prometheus would.
    const std::string text = metrics_.Render();
    const std::string prefix =
        absl::StrCat(name, "{subscription=\"prod-audit\"} ");
    size_t at = text.find(prefix);
    if (at == std::string::npos) return 0;
    return std::stoull(text.substr(at + prefix.size()));
  }

  std::shared_ptr<const rules::RuleSet> rules_;
  core::MetricsRegistry metrics_;
  fakes::FakeClock clock_;
  std::vector<Rejected> rejected_;
  absl::Status reject_status_ = absl::OkStatus();
};

TEST_F(AuditMessageHandlerTest,
       MatchingEntryBecomesAnAlertAndIsAckedOnceSpooled) {
  HeldIntake intake;
  auto handler = Make(&intake);
  auto decision = std::make_shared<std::optional<AckDecision>>();
  handler->Handle("m1", Entry("i1", "storage.buckets.delete"),
                  [decision](AckDecision d) { *decision = d; });
  ASSERT_EQ(intake.alerts.size(), 1u);
  // Not acked before the intake says the alert is durable.
  EXPECT_FALSE(decision->has_value());
  const core::Alert& alert = intake.alerts[0];
  EXPECT_EQ(alert.rule, "Bucket deleted");
  EXPECT_EQ(alert.source, "gcp_auditlog");
  EXPECT_EQ(alert.hostname, "corral-host");
  EXPECT_THAT(alert.output, HasSubstr("bucket=b1 user=eve@example.com"));
  intake.AnswerAll(uint64_t{7});
  EXPECT_EQ(*decision, AckDecision::kAck);
  EXPECT_EQ(Count("corral_gcpaudit_unmatched_total"), 0u);
}

TEST_F(AuditMessageHandlerTest, UnmatchedEntryIsAckedWithoutAlert) {
  fakes::RecordingIntake intake;
  auto handler = Make(&intake);
  std::string entry = Entry("i1", "storage.buckets.get");
  // Not storage: the second rule does not match either.
  entry.replace(entry.find("storage.googleapis.com"), 22,
                "compute.googleapis.com");
  EXPECT_EQ(Handle(*handler, entry), AckDecision::kAck);
  EXPECT_THAT(intake.submitted, IsEmpty());
  EXPECT_EQ(Count("corral_gcpaudit_unmatched_total"), 1u);
}

TEST_F(AuditMessageHandlerTest, PoisonMessageIsDeadLetteredThenAcked) {
  fakes::RecordingIntake intake;
  auto handler = Make(&intake);
  EXPECT_EQ(Handle(*handler, "not json at all", "poison-1"), AckDecision::kAck);
  EXPECT_EQ(Handle(*handler, R"({"insertId":"x","textPayload":"hi"})", "m2"),
            AckDecision::kAck);
  ASSERT_EQ(rejected_.size(), 2u);
  EXPECT_EQ(rejected_[0].message_id, "poison-1");
  EXPECT_EQ(rejected_[0].data, "not json at all");
  EXPECT_FALSE(rejected_[0].reason.empty());
  EXPECT_THAT(rejected_[1].reason, HasSubstr("protoPayload"));
  EXPECT_THAT(intake.submitted, IsEmpty());
  EXPECT_EQ(Count("corral_gcpaudit_dead_lettered_total"), 2u);
}

TEST_F(AuditMessageHandlerTest,
       AMessageOverMaxMessageBytesIsDeadLetteredUnparsedThenAcked) {
  fakes::RecordingIntake intake;
  const std::string entry = Entry("i1", "storage.buckets.delete");
  auto handler = Make(&intake, rules::RuleMatching::kFirst, 1 << 20,
                      /*max_message_bytes=*/entry.size());
  // At the limit: an alert as usual.
  EXPECT_EQ(Handle(*handler, entry, "fits"), AckDecision::kAck);
  EXPECT_EQ(intake.submitted.size(), 1u);
  // One byte more (a valid entry all the same): refused whole, kept, acked.
  const std::string big = entry + " ";
  EXPECT_EQ(Handle(*handler, big, "too-big"), AckDecision::kAck);
  EXPECT_EQ(intake.submitted.size(), 1u);
  ASSERT_EQ(rejected_.size(), 1u);
  EXPECT_EQ(rejected_[0].message_id, "too-big");
  EXPECT_EQ(rejected_[0].data, big);
  EXPECT_EQ(rejected_[0].reason,
            absl::StrCat("message of ", big.size(),
                         " bytes is larger than max_message_bytes (",
                         entry.size(), ")"));
  EXPECT_EQ(Count("corral_gcpaudit_dead_lettered_total"), 1u);
}

TEST_F(AuditMessageHandlerTest, PoisonMessageIsNackedWhenTheDeadLetterFails) {
  fakes::RecordingIntake intake;
  auto handler = Make(&intake);
  reject_status_ = absl::UnavailableError("disk full");
  EXPECT_EQ(Handle(*handler, "{broken"), AckDecision::kNack);
  EXPECT_EQ(Count("corral_gcpaudit_dead_lettered_total"), 0u);
}

TEST_F(AuditMessageHandlerTest, RefusedAlertIsNackedAndNotRemembered) {
  fakes::RecordingIntake intake;
  intake.answer = absl::ResourceExhaustedError("spool full");
  auto handler = Make(&intake);
  const std::string entry = Entry("i1", "storage.buckets.delete");
  EXPECT_EQ(Handle(*handler, entry), AckDecision::kNack);
  // Redelivered once there is room: a new alert, not a duplicate.
  intake.answer = uint64_t{1};
  EXPECT_EQ(Handle(*handler, entry, "m1-again"), AckDecision::kAck);
  EXPECT_EQ(intake.submitted.size(), 2u);
  EXPECT_EQ(Count("corral_gcpaudit_deduplicated_total"), 0u);
}

TEST_F(AuditMessageHandlerTest, RedeliveryWithinTheWindowMakesNoSecondAlert) {
  fakes::RecordingIntake intake;
  auto handler = Make(&intake);
  const std::string entry = Entry("i1", "storage.buckets.delete");
  EXPECT_EQ(Handle(*handler, entry), AckDecision::kAck);
  clock_.Advance(absl::Minutes(9));
  EXPECT_EQ(Handle(*handler, entry, "m1-redelivered"), AckDecision::kAck);
  EXPECT_EQ(intake.submitted.size(), 1u);
  EXPECT_EQ(Count("corral_gcpaudit_deduplicated_total"), 1u);
  // Past the window the entry is forgotten and alerts again.
  clock_.Advance(absl::Minutes(2));
  EXPECT_EQ(Handle(*handler, entry, "m1-late"), AckDecision::kAck);
  EXPECT_EQ(intake.submitted.size(), 2u);
  EXPECT_EQ(handler->remembered(), 1u);
}

TEST_F(AuditMessageHandlerTest, SameInsertIdAtAnotherTimeIsAnotherEntry) {
  // Cloud Logging keeps (logName, timestamp, insertId) unique, not insertId
  // alone: an aggregated sink may carry two entries sharing an insertId.
  fakes::RecordingIntake intake;
  auto handler = Make(&intake);
  const std::string entry = Entry("i1", "storage.buckets.delete");
  std::string later = entry;
  later.replace(later.find("10:00:00.5Z"), 11, "10:00:01.5Z");
  EXPECT_EQ(Handle(*handler, entry), AckDecision::kAck);
  EXPECT_EQ(Handle(*handler, later), AckDecision::kAck);
  EXPECT_EQ(intake.submitted.size(), 2u);
  EXPECT_EQ(Handle(*handler, later), AckDecision::kAck);
  EXPECT_EQ(intake.submitted.size(), 2u);
}

TEST_F(AuditMessageHandlerTest, EntriesWithoutInsertIdAreNeverDeduplicated) {
  fakes::RecordingIntake intake;
  auto handler = Make(&intake);
  const std::string entry = Entry("", "storage.buckets.delete");
  EXPECT_EQ(Handle(*handler, entry), AckDecision::kAck);
  EXPECT_EQ(Handle(*handler, entry), AckDecision::kAck);
  EXPECT_EQ(intake.submitted.size(), 2u);
}

TEST_F(AuditMessageHandlerTest, DuplicateInFlightSharesTheFirstDeliverysFate) {
  HeldIntake intake;
  auto handler = Make(&intake);
  const std::string entry = Entry("i1", "storage.buckets.delete");
  std::vector<AckDecision> decisions;
  handler->Handle("m1", entry, [&](AckDecision d) { decisions.push_back(d); });
  handler->Handle("m1-dup", entry,
                  [&](AckDecision d) { decisions.push_back(d); });
  EXPECT_EQ(intake.alerts.size(), 1u);
  EXPECT_THAT(decisions, IsEmpty());
  intake.AnswerAll(absl::ResourceExhaustedError("spool full"));
  EXPECT_THAT(decisions, ElementsAre(AckDecision::kNack, AckDecision::kNack));

  decisions.clear();
  handler->Handle("m1-again", entry,
                  [&](AckDecision d) { decisions.push_back(d); });
  handler->Handle("m1-again-dup", entry,
                  [&](AckDecision d) { decisions.push_back(d); });
  intake.AnswerAll(uint64_t{3});
  EXPECT_THAT(decisions, ElementsAre(AckDecision::kAck, AckDecision::kAck));
  EXPECT_EQ(intake.alerts.size(), 2u);
  EXPECT_EQ(Count("corral_gcpaudit_deduplicated_total"), 1u);
}

TEST_F(AuditMessageHandlerTest, AllMatchingAcksOnlyWhenEveryAlertIsSpooled) {
  HeldIntake intake;
  auto handler = Make(&intake, rules::RuleMatching::kAll);
  auto decision = std::make_shared<std::optional<AckDecision>>();
  handler->Handle("m1", Entry("i1", "storage.buckets.delete"),
                  [decision](AckDecision d) { *decision = d; });
  ASSERT_EQ(intake.alerts.size(), 2u);
  EXPECT_EQ(intake.alerts[0].rule, "Bucket deleted");
  EXPECT_EQ(intake.alerts[1].rule, "Anything from storage");
  // One accepted, one refused: the whole entry comes again.
  std::move(intake.pending[0])(uint64_t{1});
  EXPECT_FALSE(decision->has_value());
  std::move(intake.pending[1])(absl::UnavailableError("shutting down"));
  EXPECT_EQ(*decision, AckDecision::kNack);
  EXPECT_NE(
      metrics_.Render().find(
          "corral_gcpaudit_rule_matches_total{subscription=\"prod-audit\","
          "rule=\"Anything from storage\"} 1"),
      std::string::npos);
  // Each alert counts as an input, by the intake's answer.
  const std::string text = metrics_.Render();
  EXPECT_NE(text.find("corral_inputs_total{source=\"gcpaudit\",status="
                      "\"accepted\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("corral_inputs_total{source=\"gcpaudit\",status="
                      "\"refused\"} 1\n"),
            std::string::npos);
}

TEST_F(AuditMessageHandlerTest, AlertTheIntakeCallsInvalidIsDeadLettered) {
  fakes::RecordingIntake intake;
  intake.answer = absl::InvalidArgumentError("missing rule");
  auto handler = Make(&intake);
  EXPECT_EQ(Handle(*handler, Entry("i1", "storage.buckets.delete")),
            AckDecision::kAck);
  ASSERT_EQ(rejected_.size(), 1u);
  EXPECT_THAT(rejected_[0].reason, HasSubstr("missing rule"));
}

TEST_F(AuditMessageHandlerTest, AnAnswerAfterTheHandlerIsGoneIsDropped) {
  HeldIntake intake;
  auto handler = Make(&intake);
  auto decision = std::make_shared<std::optional<AckDecision>>();
  handler->Handle("m1", Entry("i1", "storage.buckets.delete"),
                  [decision](AckDecision d) { *decision = d; });
  ASSERT_EQ(intake.pending.size(), 1u);
  handler.reset();
  intake.AnswerAll(uint64_t{7});  // must not touch the destroyed handler
  EXPECT_FALSE(decision->has_value());
}

TEST_F(AuditMessageHandlerTest, DedupMemoryIsBounded) {
  fakes::RecordingIntake intake;
  auto handler = Make(&intake, rules::RuleMatching::kFirst, /*capacity=*/3);
  for (int i = 0; i < 5; ++i) {
    Handle(*handler, Entry(absl::StrCat("i", i), "storage.buckets.delete"));
  }
  EXPECT_EQ(handler->remembered(), 3u);
  EXPECT_EQ(Count("corral_gcpaudit_dedup_evicted_total"), 2u);
  // The newest are still remembered, the oldest forgotten.
  Handle(*handler, Entry("i4", "storage.buckets.delete"));
  EXPECT_EQ(intake.submitted.size(), 5u);
  Handle(*handler, Entry("i0", "storage.buckets.delete"));
  EXPECT_EQ(intake.submitted.size(), 6u);
}

}  // namespace
}  // namespace corral::ingest::gcpaudit
