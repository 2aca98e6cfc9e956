#include "ingest/gcpaudit/audit_message_handler.h"

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"

namespace corral::ingest::gcpaudit {

// The alerts of one entry on their way into the spool.
struct AuditMessageHandler::Flight {
  std::optional<uint64_t> key;
  std::string message_id;
  std::string data;  // kept only to dead-letter an alert the intake refuses
  Done done;
  absl::Mutex mu;
  size_t remaining ABSL_GUARDED_BY(mu) = 0;
  bool refused ABSL_GUARDED_BY(mu) = false;
  std::string invalid ABSL_GUARDED_BY(mu);  // why the intake called it bad
};

AuditMessageHandler::AuditMessageHandler(AuditMessageHandlerOptions options,
                                         core::Intake* intake,
                                         RejectedMessageSink rejected,
                                         core::MetricsRegistry* metrics,
                                         core::Clock* clock)
    : options_(std::move(options)),
      intake_(intake),
      rejected_(std::move(rejected)),
      metrics_(metrics),
      clock_(clock),
      inputs_(metrics, "gcpaudit") {
  const std::vector<std::string> labels = {options_.subscription_name};
  deduplicated_ =
      metrics_
          ->AddCounter("corral_gcpaudit_deduplicated_total",
                       "Redelivered audit entries (same insertId) that made "
                       "no second alert.",
                       {"subscription"})
          ->With(labels);
  dead_lettered_ =
      metrics_
          ->AddCounter("corral_gcpaudit_dead_lettered_total",
                       "Pub/Sub messages that were not audit log entries "
                       "(or were too large), written to the dead-letter file "
                       "and acked.",
                       {"subscription"})
          ->With(labels);
  unmatched_ = metrics_
                   ->AddCounter("corral_gcpaudit_unmatched_total",
                                "Audit entries that matched no rule (acked).",
                                {"subscription"})
                   ->With(labels);
  dedup_evicted_ =
      metrics_
          ->AddCounter("corral_gcpaudit_dedup_evicted_total",
                       "insertIds forgotten before the dedup window ended "
                       "because the window was full.",
                       {"subscription"})
          ->With(labels);
  core::CounterFamily* matches =
      metrics_->AddCounter("corral_gcpaudit_rule_matches_total",
                           "Audit entries matched, by rule (one alert each).",
                           {"subscription", "rule"});
  if (options_.rules) {
    for (const rules::Rule& rule : options_.rules->rules()) {
      match_counters_[&rule] =
          matches->With({options_.subscription_name, rule.name});
    }
  }
}

void AuditMessageHandler::Handle(absl::string_view message_id,
                                 absl::string_view data, Done done) {
  if (data.size() > options_.max_message_bytes) {
    // Not parsed: a huge document would cost time and memory for an entry
    // Cloud Logging could never have written.
    Reject(message_id,
           absl::StrCat("message of ", data.size(),
                        " bytes is larger than max_message_bytes (",
                        options_.max_message_bytes, ")"),
           data, std::move(done));
    return;
  }
  absl::StatusOr<LogEntryFields> entry = LogEntryFields::Parse(data);
  if (!entry.ok()) {
    Reject(message_id, entry.status().message(), data, std::move(done));
    return;
  }
  const std::optional<uint64_t> key = DedupKey(*entry);
  if (!BeginEntry(key, done)) return;

  std::vector<const rules::Rule*> matched =
      options_.rules->Evaluate(*entry, options_.rule_matching);
  if (matched.empty()) {
    unmatched_->Inc();
    FinishEntry(key, AckDecision::kAck, std::move(done));
    return;
  }
  Submit(key, matched, *entry, message_id, data, std::move(done));
}

std::optional<uint64_t> AuditMessageHandler::DedupKey(
    const LogEntryFields& entry) const {
  if (entry.insert_id().empty() ||
      options_.dedup_window <= absl::ZeroDuration()) {
    return std::nullopt;
  }
  return absl::HashOf(entry.log_name(), absl::ToUnixNanos(entry.timestamp()),
                      entry.insert_id());
}

void AuditMessageHandler::Submit(std::optional<uint64_t> key,
                                 const std::vector<const rules::Rule*>& matched,
                                 const LogEntryFields& entry,
                                 absl::string_view message_id,
                                 absl::string_view data, Done done) {
  auto flight = std::make_shared<Flight>();
  flight->key = key;
  flight->message_id = std::string(message_id);
  flight->data = std::string(data);
  flight->done = std::move(done);
  {
    absl::MutexLock lock(&flight->mu);
    flight->remaining = matched.size();
  }
  for (const rules::Rule* rule : matched) {
    if (auto it = match_counters_.find(rule); it != match_counters_.end()) {
      it->second->Inc();
    }
    core::Alert alert = rules::BuildAlert(*rule, entry, options_.hostname);
    intake_->Submit(std::move(alert), [self = guard_.handle(),
                                       flight](absl::StatusOr<uint64_t> seq) {
      self.Run([&](AuditMessageHandler& handler) {
        handler.OnAlertAnswered(flight, std::move(seq));
      });
    });
  }
}

void AuditMessageHandler::OnAlertAnswered(std::shared_ptr<Flight> flight,
                                          absl::StatusOr<uint64_t> seq) {
  inputs_.Count(seq);
  bool last;
  {
    absl::MutexLock lock(&flight->mu);
    if (!seq.ok()) {
      if (seq.status().code() == absl::StatusCode::kInvalidArgument) {
        flight->invalid = std::string(seq.status().message());
      } else {
        flight->refused = true;
      }
    }
    last = --flight->remaining == 0;
  }
  if (!last) return;
  // Every alert is answered: nothing else touches the flight now.
  bool refused, invalid;
  {
    absl::MutexLock lock(&flight->mu);
    refused = flight->refused;
    invalid = !flight->invalid.empty();
  }
  if (refused) {
    // Redelivery brings the whole entry back; alerts of it that were
    // accepted may then be sent twice (at-least-once).
    FinishEntry(flight->key, AckDecision::kNack, std::move(flight->done));
  } else if (invalid) {
    // A rule built an alert the intake will never take (a defect in a rule's
    // output, not in the entry): keep the entry, do not loop. Reject answers
    // at once, within this call.
    Reject(flight->message_id, absl::StrCat("alert refused: ", flight->invalid),
           flight->data, [this, flight](AckDecision decision) {
             FinishEntry(flight->key, decision, std::move(flight->done));
           });
  } else {
    FinishEntry(flight->key, AckDecision::kAck, std::move(flight->done));
  }
}

void AuditMessageHandler::Reject(absl::string_view message_id,
                                 absl::string_view reason,
                                 absl::string_view data, Done done) {
  absl::Status recorded =
      rejected_
          ? rejected_(message_id, reason, data)
          : absl::FailedPreconditionError("no dead-letter file configured");
  if (!recorded.ok()) {
    // Acking now would lose it: let Pub/Sub keep it until the record works.
    core::LogError("cannot dead-letter a Pub/Sub message; it will come again",
                   {{"subscription", options_.subscription_name},
                    {"message_id", message_id},
                    {"error", recorded.message()}});
    std::move(done)(AckDecision::kNack);
    return;
  }
  dead_lettered_->Inc();
  core::LogWarn("Pub/Sub message cannot become an alert; dead-lettered",
                {{"subscription", options_.subscription_name},
                 {"message_id", message_id},
                 {"reason", reason}});
  std::move(done)(AckDecision::kAck);
}

bool AuditMessageHandler::BeginEntry(std::optional<uint64_t> key, Done& done) {
  if (!key.has_value()) return true;
  {
    absl::MutexLock lock(&mu_);
    ForgetExpired(clock_->Now());
    if (!seen_.contains(*key)) {
      auto [it, inserted] = in_flight_.try_emplace(*key);
      if (inserted) return true;
      // The first delivery is still on its way: this one shares its fate.
      it->second.push_back(std::move(done));
      return false;
    }
  }
  deduplicated_->Inc();
  std::move(done)(AckDecision::kAck);
  return false;
}

void AuditMessageHandler::FinishEntry(std::optional<uint64_t> key,
                                      AckDecision decision, Done done) {
  std::vector<Done> waiting;
  if (key.has_value()) {
    absl::MutexLock lock(&mu_);
    if (auto it = in_flight_.find(*key); it != in_flight_.end()) {
      waiting = std::move(it->second);
      in_flight_.erase(it);
    }
    if (decision == AckDecision::kAck) {
      const absl::Time forget_at = clock_->Now() + options_.dedup_window;
      seen_.insert_or_assign(*key, forget_at);
      seen_order_.emplace_back(forget_at, *key);
      while (seen_.size() > options_.dedup_capacity && !seen_order_.empty()) {
        if (seen_.erase(seen_order_.front().second) > 0) dedup_evicted_->Inc();
        seen_order_.pop_front();
      }
    }
  }
  std::move(done)(decision);
  for (Done& duplicate : waiting) {
    if (decision == AckDecision::kAck) deduplicated_->Inc();
    std::move(duplicate)(decision);
  }
}

void AuditMessageHandler::ForgetExpired(absl::Time now) {
  while (!seen_order_.empty() && seen_order_.front().first <= now) {
    auto it = seen_.find(seen_order_.front().second);
    // A key seen again later has a later time; only its last entry removes it.
    if (it != seen_.end() && it->second <= now) seen_.erase(it);
    seen_order_.pop_front();
  }
}

size_t AuditMessageHandler::remembered() const {
  absl::MutexLock lock(&mu_);
  return seen_.size();
}

}  // namespace corral::ingest::gcpaudit
