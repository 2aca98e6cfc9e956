#ifndef CORRAL_INGEST_GCPAUDIT_AUDIT_MESSAGE_HANDLER_H_
#define CORRAL_INGEST_GCPAUDIT_AUDIT_MESSAGE_HANDLER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/callback_guard.h"
#include "core/clock.h"
#include "core/intake.h"
#include "core/metrics.h"
#include "ingest/gcpaudit/log_entry_fields.h"
#include "ingest/gcpaudit/pubsub_subscriber.h"
#include "ingest/rules/rule_engine.h"

namespace corral::ingest::gcpaudit {

// Records a message that can never become an alert (not JSON, not an audit
// LogEntry) so that it can be acked without being lost.
using RejectedMessageSink = core::RejectedInputSink;

struct AuditMessageHandlerOptions {
  std::string subscription_name;  // the ingest.gcpaudit entry's name
  std::shared_ptr<const rules::RuleSet> rules;
  rules::RuleMatching rule_matching = rules::RuleMatching::kFirst;
  std::string hostname;
  absl::Duration dedup_window = absl::Minutes(10);  // 0: no deduplication
  // At most this many insertIds are remembered; past it the oldest are
  // forgotten early (counted), so a flood cannot exhaust memory.
  size_t dedup_capacity = 1 << 20;
  // Larger messages are refused unparsed, as poison (see below).
  size_t max_message_bytes = 1 << 20;
};

// Turns one Pub/Sub message carrying a Cloud Audit Log entry into alerts and
// decides its ack, so that an ack always means "safe":
//   - larger than max_message_bytes, or not an audit LogEntry: recorded by
//     the RejectedMessageSink with the reason, then acked (a poison message
//     must not come back forever); nacked if the record fails;
//   - an insertId already handled within the dedup window: acked, no alert;
//     one still being handled: gets the same decision as the first delivery;
//   - no rule matches: acked;
//   - otherwise one alert per matching rule to the intake; acked once every
//     one is accepted (spooled), nacked if any is refused; each alert counts
//     in corral_inputs_total{source="gcpaudit"} (core::InputCounters).
// Thread-safe; `done` runs exactly once, on the caller's thread or on the
// intake's.
class AuditMessageHandler {
 public:
  using Done = absl::AnyInvocable<void(AckDecision) &&>;

  AuditMessageHandler(AuditMessageHandlerOptions options, core::Intake* intake,
                      RejectedMessageSink rejected,
                      core::MetricsRegistry* metrics, core::Clock* clock);

  void Handle(absl::string_view message_id, absl::string_view data, Done done);

  // insertIds remembered now (for tests and the dedup gauge).
  size_t remembered() const;

 private:
  struct Flight;
  // The entry's identity for deduplication (logName, timestamp and insertId,
  // hashed: Cloud Logging keeps the triple unique); nullopt when the entry
  // has no insertId or deduplication is off.
  std::optional<uint64_t> DedupKey(const LogEntryFields& entry) const;
  void Submit(std::optional<uint64_t> key,
              const std::vector<const rules::Rule*>& matched,
              const LogEntryFields& entry, absl::string_view message_id,
              absl::string_view data, Done done);
  // One alert of `flight` answered by the intake; the last answer decides.
  void OnAlertAnswered(std::shared_ptr<Flight> flight,
                       absl::StatusOr<uint64_t> seq);
  // Starts handling the entry with `key`; false (and `done` kept or
  // answered) when it is a duplicate.
  bool BeginEntry(std::optional<uint64_t> key, Done& done);
  // Ends handling it: `done` and every duplicate waiting on it get
  // `decision`; an ack is remembered for the dedup window.
  void FinishEntry(std::optional<uint64_t> key, AckDecision decision,
                   Done done);
  void Reject(absl::string_view message_id, absl::string_view reason,
              absl::string_view data, Done done);
  void ForgetExpired(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const AuditMessageHandlerOptions options_;
  core::Intake* const intake_;
  const RejectedMessageSink rejected_;
  core::MetricsRegistry* const metrics_;
  core::Clock* const clock_;

  const core::InputCounters inputs_;
  core::Counter* deduplicated_;
  core::Counter* dead_lettered_;
  core::Counter* unmatched_;
  core::Counter* dedup_evicted_;
  // corral_gcpaudit_rule_matches_total, one cell per rule, set up once.
  absl::flat_hash_map<const rules::Rule*, core::Counter*> match_counters_;

  mutable absl::Mutex mu_;
  // Handled entries, by DedupKey (collisions are ~2^-64: cheaper than keeping
  // the strings), with when each is forgotten, in order.
  absl::flat_hash_map<uint64_t, absl::Time> seen_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<absl::Time, uint64_t>> seen_order_ ABSL_GUARDED_BY(mu_);
  // Entries being handled, with the duplicates that wait for them.
  absl::flat_hash_map<uint64_t, std::vector<Done>> in_flight_
      ABSL_GUARDED_BY(mu_);
  // The intake's answers reach this object only while it lives; an answer
  // after that is dropped (its message comes again from Pub/Sub). Last
  // member: closed first.
  core::CallbackGuard<AuditMessageHandler> guard_{this};
};

}  // namespace corral::ingest::gcpaudit

#endif  // CORRAL_INGEST_GCPAUDIT_AUDIT_MESSAGE_HANDLER_H_
