#ifndef CORRAL_INGEST_FALCO_GRPC_ALERT_SUBMITTER_H_
#define CORRAL_INGEST_FALCO_GRPC_ALERT_SUBMITTER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/callback_guard.h"
#include "core/clock.h"
#include "core/intake.h"
#include "core/metrics.h"

namespace corral::ingest::falco_grpc {

struct AlertSubmitterOptions {
  std::string name;  // the connection, for logs and metric labels
  // After a refusal, submitting again waits from this long, doubling up to
  // max_backoff, with full jitter (core::FullJitterBackoff).
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
  // Alerts handed to the intake and not yet answered, at most.
  size_t max_in_flight = 1000;
};

// Hands the alerts of one Falco connection to the intake in the order they
// came, and lets go of an alert only once the intake has accepted it or it is
// in the dead-letter file: Falco has no ack, so what corral drops is gone.
//   - refused for want of room (ResourceExhausted), or while corral shuts down
//     (Unavailable): held, together with every alert received after it, and
//     submitted again, one at a time, after a backoff that grows with each
//     refusal, until one is accepted; then the rest follow. holding() is true
//     meanwhile, and the connection asks Falco for nothing more;
//   - refused as invalid (InvalidArgument), or not an alert at all
//     (AddUnconvertible): written to the dead-letter file;
//   - Abandon() (corral stops): every alert not yet accepted goes to the
//     dead-letter file.
// Each alert gets its uuid when received, so that all its submissions, and its
// dead letter, carry the same one.
//
// Thread-safe. Submissions happen only in Pump(), which one thread calls;
// the intake may answer on any thread, and each answer calls `wake` (with no
// lock held) so that the pumping thread runs Pump() again.
// Metrics, labelled {connection}: corral_falco_grpc_accepted_total,
// _refused_total, _dead_lettered_total, and the gauge _unaccepted_alerts;
// and corral_inputs_total{source="falco_grpc"} (core::InputCounters).
class AlertSubmitter {
 public:
  AlertSubmitter(AlertSubmitterOptions options, core::Intake* intake,
                 core::RejectedInputSink dead_letters,
                 core::MetricsRegistry* metrics, core::Clock* clock,
                 absl::AnyInvocable<void()> wake);
  ~AlertSubmitter();

  // An alert received from Falco, in order; submitted by the next Pump().
  void Add(core::Alert alert);
  // A response that cannot become an alert: dead-lettered by the next Pump()
  // with `reason`, `data` kept as it is.
  void AddUnconvertible(absl::string_view reason, std::string data);

  // Submits what may be submitted now and writes pending dead letters.
  // Returns when Pump() is next due (a backoff ending); InfiniteFuture when
  // only an intake answer or a new alert can change anything.
  absl::Time Pump();

  // A refusal is being retried: fetch nothing more.
  bool holding() const;
  // Received and neither accepted nor dead-lettered.
  size_t unaccepted() const;

  // Dead-letters every alert not yet accepted (with `reason`), in order of
  // arrival, and whatever dead letter is still unwritten, and ignores intake
  // answers from then on (an alert in flight that the intake accepts later is
  // then both delivered and dead-lettered: twice rather than never). Call
  // after the last Add(). Returns how many records were written; what the
  // dead-letter file refuses is logged as an error, alert and all.
  size_t Abandon(absl::string_view reason);

 private:
  struct Entry {
    uint64_t receipt = 0;  // order of arrival
    core::Alert alert;
  };
  struct DeadLetter {
    std::string message_id;
    std::string reason;
    std::string data;
  };

  void OnAnswer(uint64_t receipt, bool probe, absl::StatusOr<uint64_t> seq);
  // Writes `letters`; returns those the sink refused.
  std::vector<DeadLetter> WriteDeadLetters(std::vector<DeadLetter> letters);
  void UpdateGauge() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static DeadLetter LetterFor(const core::Alert& alert,
                              absl::string_view reason);

  const AlertSubmitterOptions options_;
  core::Intake* const intake_;
  const core::RejectedInputSink dead_letters_;
  core::Clock* const clock_;
  absl::AnyInvocable<void()> wake_;

  const core::InputCounters inputs_;
  core::Counter* accepted_;
  core::Counter* refused_;
  core::Counter* dead_lettered_;
  core::Gauge* unaccepted_gauge_;

  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_receipt_ ABSL_GUARDED_BY(mu_) = 0;
  // Not yet submitted, or refused and to be submitted again; by receipt.
  std::deque<Entry> waiting_ ABSL_GUARDED_BY(mu_);
  // Submitted, not yet answered.
  std::map<uint64_t, Entry> in_flight_ ABSL_GUARDED_BY(mu_);
  std::vector<DeadLetter> letters_ ABSL_GUARDED_BY(mu_);
  // Refusals in a row; > 0 while holding.
  int refusals_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time refusal_logged_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::BitGen jitter_ ABSL_GUARDED_BY(mu_);
  // The intake's answers reach this object only while it lives. Last member:
  // closed first.
  core::CallbackGuard<AlertSubmitter> guard_{this};
};

}  // namespace corral::ingest::falco_grpc

#endif  // CORRAL_INGEST_FALCO_GRPC_ALERT_SUBMITTER_H_
