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
#include "router/spool.h"

namespace corral::router {

// One configured output's queue: `concurrency` worker threads take alerts in
// seq order (in batches where the output takes them), call Output::Send, and
// apply the retry policy until each alert is delivered or dead-lettered.
// Backoff, attempts, dead letters and metrics live here and nowhere else.
//
// Memory is bounded by queue_size, the backlog by the spool: the queue holds
// at most queue_size alerts (waiting + in flight). Alerts come in two ways:
// pushed by the router as they become durable, or read back from the spool
// by the queue's reader thread. The reader takes over when an alert is pushed
// while the queue is full, and at start (ResumeFrom); it reads from the first
// seq not taken yet, applies the filter (what does not match is finished, as
// by Skip()), refills in chunks whenever half of queue_size is free, and
// hands intake back to Push once it has read everything that was pushed
// meanwhile. Each seq is taken once, by one of the two ways, in seq order.
// Blocking: only the reader reads files; Push and Skip never wait for it.
//
// Exports corral_outputs_total, corral_queue_depth, corral_queue_in_memory,
// corral_retries_total, corral_dead_letters_total and
// corral_delivery_latency_seconds for its output. Thread-safe.
class OutputQueue {
 public:
  OutputQueue(const core::OutputConfig& config,
              std::unique_ptr<outputs::Output> output,
              DeadLetterFile* dead_letters, core::MetricsRegistry* metrics,
              core::Clock* clock = core::Clock::Real());
  ~OutputQueue();  // Stop()s

  const std::string& name() const { return name_; }
  const std::string& type() const { return type_; }
  // Whether this output wants `alert`: its filters, except that the test
  // alert passes them all (core::IsTestAlert).
  bool Matches(const core::Alert& alert) const {
    return core::IsTestAlert(alert) || filter_.Matches(alert);
  }

  // Offers an alert that has its seq and is durable in the spool (offers
  // come in seq order, each seq once: Push or Skip). Never refuses, never
  // waits: the queue takes it into memory when it has room and is not reading
  // from the spool; otherwise the alert stays in the spool only, and the
  // reader gets it from there in its turn. A queue that was not resumed from
  // a spool (ResumeFrom) has nowhere else to keep it and always takes it.
  void Push(core::AlertPtr alert);
  // Records that `seq` is not for this output (so progress tracking stays
  // exact).
  void Skip(uint64_t seq);

  // Before Start(): continues from progress persisted by an earlier run
  // (every seq <= low_watermark and every seq in finished_above is done),
  // reading every other seq after low_watermark from `spool` (borrowed; must
  // outlive Stop()) as room allows. Returns the backlog: the unfinished seqs
  // up to the spool's last seq (alerts to send again, unless the filter
  // changed since they were accepted or their records are damaged).
  uint64_t ResumeFrom(const Spool* spool, uint64_t low_watermark,
                      const std::set<uint64_t>& finished_above);
  // The progress to persist: see CompletionTracker.
  CompletionTracker Progress() const;

  // Starts the workers (and the reader, once resumed from a spool).
  void Start();
  // Flushes partial batches at once from now on, and waits until nothing is
  // queued (in memory or left to read from the spool) or in flight, or
  // `deadline` passes. True when idle.
  bool Drain(absl::Time deadline);
  // While held, workers start no new batch (sends in flight go on) and the
  // reader reads nothing, so that the progress stays put while the output is
  // handed over to a successor.
  void Hold(bool hold);
  // Stops the workers and the reader; a retry wait in progress is abandoned.
  // Alerts not delivered stay unfinished, so the spool replays them on the
  // next start.
  void Stop();

  struct Stats {
    // Alerts waiting for this output or in delivery (corral_queue_depth):
    // those in memory plus, while the reader has not caught up, every seq
    // after the last one it took up to the newest this queue knows of (from
    // Push/Skip, or the spool's head at ResumeFrom). That part is an upper
    // bound: it counts seqs the filter will skip or an earlier run finished.
    uint64_t queued = 0;
    uint64_t in_memory = 0;       // waiting + in flight, at most queue_size
    uint64_t in_memory_peak = 0;  // the most in memory at once so far
    uint64_t delivered = 0;       // alerts
    uint64_t failed = 0;          // alerts dead-lettered
    uint64_t retries = 0;         // failed attempts that were retried
    uint64_t abandoned = 0;       // left to the spool at drain or stop
    uint64_t low_watermark = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    core::AlertPtr alert;
    // When it was accepted (read back from the spool: the time the spool
    // kept) or pushed (live, moments after acceptance): retry.max_age, the
    // delivery latency and batch waits count from here.
    absl::Time accepted;
  };

  void WorkerLoop();
  // The reader: refills memory from the spool while the queue pages.
  void ReadLoop();
  // Notes that the router offered `seq`; true when the queue takes it now
  // (false: read from the spool already, or left to the reader).
  bool Offer(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Leaves every seq after taken_through_ to the reader.
  void StartPaging() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Finishes the seqs in [from, to), which have no record in the spool.
  void FinishMissing(uint64_t from, uint64_t to)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t InMemory() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return static_cast<int64_t>(waiting_.size()) + in_flight_;
  }
  uint64_t Queued() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Brings the gauges (and the peak) up to date after a change.
  void Update() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
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
  core::Gauge* in_memory_gauge_;
  core::Histogram* latency_;

  mutable absl::Mutex mu_;
  std::deque<Entry> waiting_ ABSL_GUARDED_BY(mu_);
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Every seq <= taken_through_ is in memory, finished or skipped; later ones
  // are taken from Push, or (paging_) by the reader from cursor_ on (seqs
  // between taken_through_ and cursor_.after_seq have no readable record).
  uint64_t taken_through_ ABSL_GUARDED_BY(mu_) = 0;
  bool paging_ ABSL_GUARDED_BY(mu_) = false;
  SpoolCursor cursor_ ABSL_GUARDED_BY(mu_);
  const Spool* spool_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The highest seq offered by Push/Skip: the reader hands intake back to
  // Push only once it has taken every seq up to it.
  uint64_t offered_through_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t resume_head_ ABSL_GUARDED_BY(mu_) = 0;  // spool's last seq then
  // What this queue adds to the gauges (queues of one name share them).
  double depth_reported_ ABSL_GUARDED_BY(mu_) = 0;
  double in_memory_reported_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t in_memory_peak_ ABSL_GUARDED_BY(mu_) = 0;
  bool flush_now_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  CompletionTracker progress_ ABSL_GUARDED_BY(mu_);
  uint64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t abandoned_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> workers_;
  std::thread reader_;
};

}  // namespace corral::router

#endif  // CORRAL_ROUTER_OUTPUT_QUEUE_H_
