#ifndef CORRAL_ROUTER_OUTPUT_QUEUE_H_
#define CORRAL_ROUTER_OUTPUT_QUEUE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/alert.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/metrics.h"
#include "outputs/output.h"
#include "router/completion_tracker.h"
#include "router/dead_letter.h"
#include "router/output_filter.h"
#include "router/retry_policy.h"

namespace corral::router {

// One configured output's queue: `concurrency` worker threads take alerts in
// arrival order (in batches where the output takes them), call Output::Send,
// and apply the retry policy until each alert is delivered or dead-lettered.
// Backoff, attempts, dead letters and metrics live here and nowhere else.
// Exports corral_outputs_total, corral_queue_depth, corral_retries_total,
// corral_dead_letters_total and corral_delivery_latency_seconds for its output.
// Thread-safe.
class OutputQueue {
 public:
  OutputQueue(const core::OutputConfig& config,
              std::unique_ptr<outputs::Output> output,
              DeadLetterFile* dead_letters, core::MetricsRegistry* metrics,
              core::Clock* clock = core::Clock::Real());
  ~OutputQueue();  // Stop()s

  const std::string& name() const { return name_; }
  const std::string& type() const { return type_; }
  bool Matches(const core::Alert& alert) const {
    return filter_.Matches(alert);
  }

  // Holds room for one alert that is on its way to the disk, so that the room
  // checked at intake is still there when the alert arrives. False when the
  // queue is full (queued + in flight + held >= queue_size).
  bool TryReserve();
  // Gives back room held by TryReserve() for an alert that was refused.
  void CancelReservation();
  // Queues an alert that has its seq, using room held by TryReserve() when
  // `reserved` (replayed alerts come without).
  void Push(core::AlertPtr alert, bool reserved = false);
  // Records that `seq` is not for this output (so progress tracking stays
  // exact).
  void Skip(uint64_t seq);

  // Before Start(): continues from progress persisted by an earlier run
  // (every seq <= low_watermark and every seq in finished_above is done).
  void ResumeFrom(uint64_t low_watermark,
                  const std::set<uint64_t>& finished_above);
  // The progress to persist: see CompletionTracker.
  CompletionTracker Progress() const;

  // Starts the workers.
  void Start();
  // Flushes partial batches at once from now on, and waits until nothing is
  // queued or in flight, or `deadline` passes. True when idle.
  bool Drain(absl::Time deadline);
  // While held, workers start no new batch (sends in flight go on), so that
  // the progress stays put while the output is handed over to a successor.
  void Hold(bool hold);
  // Stops the workers; a retry wait in progress is abandoned. Alerts not
  // delivered stay unfinished, so the spool replays them on the next start.
  void Stop();

  struct Stats {
    uint64_t queued = 0;     // waiting + in flight
    uint64_t delivered = 0;  // alerts
    uint64_t failed = 0;     // alerts dead-lettered
    uint64_t retries = 0;    // failed attempts that were retried
    uint64_t abandoned = 0;  // left to the spool at drain or stop
    uint64_t low_watermark = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    core::AlertPtr alert;
    absl::Time enqueued;
  };

  void WorkerLoop();
  // Waits for work and takes the next batch; empty when stopping.
  std::vector<Entry> TakeBatch();
  // Sends one batch until it is delivered, dead-lettered, or the queue stops.
  void Deliver(const std::vector<Entry>& batch);
  void DeadLetter(const std::vector<Entry>& batch,
                  std::span<const core::AlertPtr> alerts,
                  const std::string& reason, int attempts, int last_status);
  // The deadline for one Send(): bounded, and never past a drain deadline.
  absl::Time SendDeadline(absl::Time now) const;
  void Finish(const std::vector<Entry>& batch);

  const std::string name_;
  const std::string type_;
  const OutputFilter filter_;
  const RetryPolicy retry_;
  const int64_t concurrency_;
  const int64_t queue_size_;
  const int64_t max_batch_items_;
  const uint64_t max_batch_bytes_;
  const absl::Duration max_batch_wait_;
  std::unique_ptr<outputs::Output> output_;
  DeadLetterFile* const dead_letters_;
  core::Clock* const clock_;

  core::Counter* delivered_total_;
  core::Counter* failed_total_;
  core::Counter* retries_total_;
  core::Counter* dead_letters_total_;
  core::Counter* dead_letter_errors_total_;
  core::Gauge* depth_gauge_;
  core::Histogram* latency_;

  mutable absl::Mutex mu_;
  std::deque<Entry> waiting_ ABSL_GUARDED_BY(mu_);
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reserved_ ABSL_GUARDED_BY(mu_) = 0;
  bool flush_now_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  CompletionTracker progress_ ABSL_GUARDED_BY(mu_);
  uint64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t abandoned_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> workers_;
};

}  // namespace corral::router

#endif  // CORRAL_ROUTER_OUTPUT_QUEUE_H_
