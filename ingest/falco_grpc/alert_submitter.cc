#include "ingest/falco_grpc/alert_submitter.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/alert_json.h"
#include "core/backoff.h"
#include "core/log.h"

namespace corral::ingest::falco_grpc {
namespace {

// A dead letter the file refused is tried again this much later.
constexpr absl::Duration kDeadLetterRetry = absl::Seconds(1);
// Refusals are logged at most this often per connection.
constexpr absl::Duration kRefusalLogEvery = absl::Seconds(10);

}  // namespace

AlertSubmitter::AlertSubmitter(AlertSubmitterOptions options,
                               core::Intake* intake,
                               core::RejectedInputSink dead_letters,
                               core::MetricsRegistry* metrics,
                               core::Clock* clock,
                               absl::AnyInvocable<void()> wake)
    : options_(std::move(options)),
      intake_(intake),
      dead_letters_(std::move(dead_letters)),
      clock_(clock),
      wake_(std::move(wake)),
      inputs_(metrics, "falco_grpc") {
  const std::vector<std::string> labels = {options_.name};
  accepted_ = metrics
                  ->AddCounter("corral_falco_grpc_accepted_total",
                               "Alerts from Falco's gRPC output accepted "
                               "(spooled).",
                               {"connection"})
                  ->With(labels);
  refused_ = metrics
                 ->AddCounter("corral_falco_grpc_refused_total",
                              "Submissions of Falco alerts refused for want of "
                              "room or while stopping; the alert is held and "
                              "submitted again.",
                              {"connection"})
                 ->With(labels);
  dead_lettered_ =
      metrics
          ->AddCounter("corral_falco_grpc_dead_lettered_total",
                       "Falco responses written to the dead-letter file "
                       "(invalid, or not accepted when corral stopped).",
                       {"connection"})
          ->With(labels);
  unaccepted_gauge_ =
      metrics
          ->AddGauge("corral_falco_grpc_unaccepted_alerts",
                     "Alerts received from Falco and not yet accepted.",
                     {"connection"})
          ->With(labels);
}

AlertSubmitter::~AlertSubmitter() { guard_.Close(); }

void AlertSubmitter::Add(core::Alert alert) {
  if (alert.uuid.empty()) alert.uuid = core::NewUuid();
  absl::MutexLock lock(&mu_);
  waiting_.push_back(Entry{next_receipt_++, std::move(alert)});
  UpdateGauge();
}

void AlertSubmitter::AddUnconvertible(absl::string_view reason,
                                      std::string data) {
  inputs_.CountInvalid();
  absl::MutexLock lock(&mu_);
  letters_.push_back(DeadLetter{core::NewUuid(),
                                absl::StrCat("not an alert: ", reason),
                                std::move(data)});
}

absl::Time AlertSubmitter::Pump() {
  while (true) {
    core::Alert alert;
    uint64_t receipt;
    bool probe = false;
    {
      absl::MutexLock lock(&mu_);
      if (closed_ || waiting_.empty() ||
          in_flight_.size() >= options_.max_in_flight) {
        break;
      }
      if (refusals_ > 0) {
        // Holding: one alert at a time, once every earlier answer is in and
        // the backoff is over.
        if (!in_flight_.empty() || clock_->Now() < retry_at_) break;
        probe = true;
      }
      Entry& entry = waiting_.front();
      receipt = entry.receipt;
      alert = entry.alert;  // kept until accepted
      in_flight_.emplace(receipt, std::move(entry));
      waiting_.pop_front();
    }
    intake_->Submit(std::move(alert), [self = guard_.handle(), receipt,
                                       probe](absl::StatusOr<uint64_t> seq) {
      self.Run([&](AlertSubmitter& s) {
        s.OnAnswer(receipt, probe, std::move(seq));
      });
    });
  }

  // After the submissions, so that what they refused as invalid is written
  // now.
  std::vector<DeadLetter> letters;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return absl::InfiniteFuture();
    letters.swap(letters_);
  }
  std::vector<DeadLetter> unwritten = WriteDeadLetters(std::move(letters));

  absl::MutexLock lock(&mu_);
  absl::Time next = absl::InfiniteFuture();
  if (!unwritten.empty()) {
    letters_.insert(letters_.begin(),
                    std::make_move_iterator(unwritten.begin()),
                    std::make_move_iterator(unwritten.end()));
    next = clock_->Now() + kDeadLetterRetry;
  }
  if (refusals_ > 0 && in_flight_.empty() && !waiting_.empty()) {
    next = std::min(next, retry_at_);
  }
  return next;
}

void AlertSubmitter::OnAnswer(uint64_t receipt, bool probe,
                              absl::StatusOr<uint64_t> seq) {
  inputs_.Count(seq);
  {
    absl::MutexLock lock(&mu_);
    auto it = in_flight_.find(receipt);
    if (it == in_flight_.end()) return;  // abandoned meanwhile
    Entry entry = std::move(it->second);
    in_flight_.erase(it);
    if (seq.ok()) {
      accepted_->Inc();
      if (probe) refusals_ = 0;  // room again: the others follow
    } else if (absl::IsInvalidArgument(seq.status())) {
      // Submitting it again would be refused again.
      letters_.push_back(LetterFor(
          entry.alert,
          absl::StrCat("refused by the intake: ", seq.status().message())));
    } else {
      refused_->Inc();
      // Back in its place, so that order holds once there is room again.
      auto pos = std::lower_bound(
          waiting_.begin(), waiting_.end(), receipt,
          [](const Entry& e, uint64_t r) { return e.receipt < r; });
      waiting_.insert(pos, std::move(entry));
      const absl::Time now = clock_->Now();
      if (probe || refusals_ == 0) {
        ++refusals_;
        retry_at_ = now + core::FullJitterBackoff(options_.initial_backoff,
                                                  options_.max_backoff,
                                                  refusals_, jitter_);
      }
      if (now - refusal_logged_ >= kRefusalLogEvery) {
        refusal_logged_ = now;
        core::LogWarn(
            "Falco alerts refused; holding them and not polling Falco until "
            "they are accepted",
            {{"connection", options_.name},
             {"held", absl::StrCat(waiting_.size() + in_flight_.size())},
             {"error", seq.status().message()}});
      }
    }
    UpdateGauge();
  }
  wake_();
}

bool AlertSubmitter::holding() const {
  absl::MutexLock lock(&mu_);
  return refusals_ > 0;
}

size_t AlertSubmitter::unaccepted() const {
  absl::MutexLock lock(&mu_);
  return waiting_.size() + in_flight_.size();
}

size_t AlertSubmitter::Abandon(absl::string_view reason) {
  std::vector<DeadLetter> letters;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    letters.swap(letters_);
    std::vector<const Entry*> entries;
    for (const auto& [receipt, entry] : in_flight_) entries.push_back(&entry);
    for (const Entry& entry : waiting_) entries.push_back(&entry);
    std::sort(
        entries.begin(), entries.end(),
        [](const Entry* a, const Entry* b) { return a->receipt < b->receipt; });
    for (const Entry* entry : entries) {
      letters.push_back(LetterFor(entry->alert, reason));
    }
    in_flight_.clear();
    waiting_.clear();
    UpdateGauge();
  }
  const size_t total = letters.size();
  std::vector<DeadLetter> unwritten = WriteDeadLetters(std::move(letters));
  for (const DeadLetter& letter : unwritten) {
    // Nowhere left to keep it: the log is the last record of it.
    core::LogError("Falco alert lost: the dead-letter file refused it",
                   {{"connection", options_.name},
                    {"reason", letter.reason},
                    {"data", letter.data}});
  }
  return total - unwritten.size();
}

std::vector<AlertSubmitter::DeadLetter> AlertSubmitter::WriteDeadLetters(
    std::vector<DeadLetter> letters) {
  std::vector<DeadLetter> unwritten;
  for (DeadLetter& letter : letters) {
    absl::Status written =
        dead_letters_
            ? dead_letters_(letter.message_id, letter.reason, letter.data)
            : absl::FailedPreconditionError("no dead-letter file");
    if (written.ok()) {
      dead_lettered_->Inc();
    } else {
      core::LogError(
          "cannot write a Falco alert to the dead-letter file",
          {{"connection", options_.name}, {"error", written.message()}});
      unwritten.push_back(std::move(letter));
    }
  }
  return unwritten;
}

void AlertSubmitter::UpdateGauge() {
  unaccepted_gauge_->Set(
      static_cast<double>(waiting_.size() + in_flight_.size()));
}

AlertSubmitter::DeadLetter AlertSubmitter::LetterFor(const core::Alert& alert,
                                                     absl::string_view reason) {
  return DeadLetter{alert.uuid, std::string(reason),
                    core::EncodeFalcoAlert(alert)};
}

}  // namespace corral::ingest::falco_grpc
