// Fuzzes the Pub/Sub message handler of the gcpaudit input
// (ingest/gcpaudit/audit_message_handler) with corral's built-in ruleset:
// parse, deduplicate, evaluate every rule, build alerts, hand them to an
// intake, decide the ack. The intake's answer and whether the dead-letter
// record works are picked from the input's size, so that every path of the
// decision is reached and each input always runs the same way. Properties:
// every message is answered exactly once; a message acked is not handled
// again: its redelivery is acked with no new alert; an alert the intake
// refused for good is dead-lettered.
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "core/metrics.h"
#include "ingest/gcpaudit/audit_message_handler.h"
#include "ingest/rules/default_rules.h"
#include "ingest/rules/rules_loader.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using corral::fuzz::Check;
namespace core = corral::core;
namespace gcpaudit = corral::ingest::gcpaudit;
namespace rules = corral::ingest::rules;

// Answers every alert at once with `answer`, counting them.
class AnsweringIntake : public core::Intake {
 public:
  explicit AnsweringIntake(absl::StatusOr<uint64_t> answer)
      : answer_(std::move(answer)) {}
  void Submit(core::Alert alert, core::IntakeDone done) override {
    Check(!alert.rule.empty() && alert.source == gcpaudit::kSource,
          "an alert without rule or source");
    ++submitted;
    std::move(done)(answer_);
  }
  int submitted = 0;

 private:
  const absl::StatusOr<uint64_t> answer_;
};

std::shared_ptr<const rules::RuleSet> DefaultRules() {
  static const auto* rules = [] {
    rules::LoadResult loaded = rules::LoadRules(
        {{rules::kDefaultRulesName, std::string(rules::DefaultRulesText())}});
    Check(loaded.ok(), "the built-in rules do not load",
          absl::StrJoin(loaded.errors, "\n"));
    return new std::shared_ptr<const rules::RuleSet>(loaded.rules);
  }();
  return *rules;
}

// Hands `data` to the handler; returns its one decision.
gcpaudit::AckDecision HandleOnce(gcpaudit::AuditMessageHandler& handler,
                                 absl::string_view data) {
  int answers = 0;
  gcpaudit::AckDecision decision = gcpaudit::AckDecision::kNack;
  handler.Handle("message-1", data, [&](gcpaudit::AckDecision d) {
    ++answers;
    decision = d;
  });
  // The intake answers at once, so the handler must have answered too.
  Check(answers == 1, "a message was not answered exactly once");
  return decision;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<uint64_t> answer = uint64_t{7};
  if (size % 5 == 3) answer = absl::ResourceExhaustedError("spool full");
  if (size % 5 == 4) answer = absl::InvalidArgumentError("bad alert");
  const bool record_works = size % 7 != 0;

  AnsweringIntake intake(answer);
  core::MetricsRegistry metrics;
  corral::fakes::FakeClock clock(absl::FromUnixSeconds(1796000000));
  int rejected = 0;
  gcpaudit::AuditMessageHandlerOptions options;
  options.subscription_name = "fuzz";
  options.rules = DefaultRules();
  options.rule_matching = rules::RuleMatching::kAll;
  options.hostname = "fuzz-host";
  options.dedup_capacity = 4;
  gcpaudit::AuditMessageHandler handler(
      options, &intake,
      [&](absl::string_view, absl::string_view, absl::string_view) {
        ++rejected;
        return record_works ? absl::OkStatus()
                            : absl::UnavailableError("disk full");
      },
      &metrics, &clock);

  const absl::string_view message = corral::fuzz::AsText(data, size);
  const gcpaudit::AckDecision first = HandleOnce(handler, message);
  const int alerts = intake.submitted;
  if (alerts > 0 && absl::IsInvalidArgument(answer.status())) {
    Check(rejected == 1, "an alert refused for good was not dead-lettered");
  }
  if (first != gcpaudit::AckDecision::kAck) return 0;

  const int rejected_before = rejected;
  const gcpaudit::AckDecision again = HandleOnce(handler, message);
  Check(again == gcpaudit::AckDecision::kAck,
        "the redelivery of an acked message was not acked");
  absl::StatusOr<gcpaudit::LogEntryFields> entry =
      gcpaudit::LogEntryFields::Parse(message);
  if (entry.ok() && !entry->insert_id().empty()) {
    Check(intake.submitted == alerts && rejected == rejected_before,
          "a redelivered entry was handled again");
  }
  (void)metrics.Render();
  return 0;
}
