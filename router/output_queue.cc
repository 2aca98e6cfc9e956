#include "router/output_queue.h"

#include <pthread.h>

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"

namespace corral::router {
namespace {

// A cheap estimate of an alert's encoded size, for batch byte limits.
uint64_t ApproxSize(const core::Alert& alert) {
  return 200 + alert.rule.size() + alert.output.size() +
         alert.output_fields_json.size() + alert.hostname.size();
}

// How long one Send() may take at most; outputs apply their own, usually
// shorter, timeouts.
constexpr absl::Duration kSendDeadline = absl::Seconds(120);

}  // namespace

OutputQueue::OutputQueue(const core::OutputConfig& config,
                         std::unique_ptr<outputs::Output> output,
                         DeadLetterFile* dead_letters,
                         core::MetricsRegistry* metrics, core::Clock* clock)
    : name_(config.name),
      type_(config.type),
      filter_(config),
      retry_(config.retry),
      concurrency_(std::max<int64_t>(1, config.concurrency)),
      queue_size_(std::max<int64_t>(1, config.queue_size)),
      max_batch_items_(
          std::clamp<int64_t>(output->MaxBatchItems(), 1,
                              std::max<int64_t>(1, config.batch.max_items))),
      max_batch_bytes_(
          std::min(output->MaxBatchBytes(), config.batch.max_bytes)),
      max_batch_wait_(config.batch.max_wait),
      output_(std::move(output)),
      dead_letters_(dead_letters),
      clock_(clock) {
  const std::vector<std::string> by_output = {name_};
  auto* outputs_total = metrics->AddCounter(
      "corral_outputs_total", "Alerts finished per output, by outcome.",
      {"output", "status"});
  delivered_total_ = outputs_total->With({name_, "delivered"});
  failed_total_ = outputs_total->With({name_, "failed"});
  retries_total_ =
      metrics
          ->AddCounter("corral_retries_total",
                       "Delivery attempts that failed and were retried.",
                       {"output"})
          ->With(by_output);
  dead_letter_errors_total_ =
      metrics
          ->AddCounter("corral_dead_letter_errors_total",
                       "Alerts given up on that the dead-letter file could not "
                       "take (they are logged instead).",
                       {"output"})
          ->With(by_output);
  dead_letters_total_ =
      metrics
          ->AddCounter("corral_dead_letters_total",
                       "Alerts written to the dead-letter file.", {"output"})
          ->With(by_output);
  depth_gauge_ =
      metrics
          ->AddGauge("corral_queue_depth",
                     "Alerts waiting for or in delivery, per output.",
                     {"output"})
          ->With(by_output);
  latency_ = metrics
                 ->AddHistogram("corral_delivery_latency_seconds",
                                "Time from acceptance to delivery, per output.",
                                {"output"}, core::LatencyBuckets())
                 ->With(by_output);
}

OutputQueue::~OutputQueue() { Stop(); }

bool OutputQueue::TryReserve() {
  absl::MutexLock lock(&mu_);
  if (static_cast<int64_t>(waiting_.size()) + in_flight_ + reserved_ >=
      queue_size_) {
    return false;
  }
  ++reserved_;
  return true;
}

void OutputQueue::CancelReservation() {
  absl::MutexLock lock(&mu_);
  --reserved_;
}

void OutputQueue::Push(core::AlertPtr alert, bool reserved) {
  absl::MutexLock lock(&mu_);
  if (reserved) --reserved_;
  waiting_.push_back({std::move(alert), clock_->Now()});
  depth_gauge_->Add(1);
}

void OutputQueue::Skip(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  progress_.Finish(seq);
}

void OutputQueue::ResumeFrom(uint64_t low_watermark,
                             const std::set<uint64_t>& finished_above) {
  absl::MutexLock lock(&mu_);
  progress_ = CompletionTracker(low_watermark);
  for (uint64_t seq : finished_above) progress_.Finish(seq);
}

CompletionTracker OutputQueue::Progress() const {
  absl::MutexLock lock(&mu_);
  return progress_;
}

void OutputQueue::Start() {
  // "out:<name>" in top, perf and gdb (the kernel keeps 15 characters).
  const std::string thread_name = absl::StrCat("out:", name_).substr(0, 15);
  for (int64_t i = 0; i < concurrency_; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
    pthread_setname_np(workers_.back().native_handle(), thread_name.c_str());
  }
}

bool OutputQueue::Drain(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  flush_now_ = true;
  drain_deadline_ = std::min(drain_deadline_, deadline);
  const uint64_t abandoned_before = abandoned_;
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return waiting_.empty() && in_flight_ == 0;
  };
  mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
  // Idle because batches were left to the spool is not drained.
  return idle() && abandoned_ == abandoned_before;
}

void OutputQueue::Hold(bool hold) {
  absl::MutexLock lock(&mu_);
  held_ = hold;
}

void OutputQueue::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
  // What is left stays unfinished in the spool, for the next start to replay.
  absl::MutexLock lock(&mu_);
  depth_gauge_->Add(-static_cast<double>(waiting_.size()));
  waiting_.clear();
}

OutputQueue::Stats OutputQueue::stats() const {
  absl::MutexLock lock(&mu_);
  Stats stats;
  stats.queued = waiting_.size() + static_cast<uint64_t>(in_flight_);
  stats.delivered = delivered_;
  stats.failed = failed_;
  stats.retries = retries_total_->Value();
  stats.abandoned = abandoned_;
  stats.low_watermark = progress_.low_watermark();
  return stats;
}

void OutputQueue::WorkerLoop() {
  while (true) {
    std::vector<Entry> batch = TakeBatch();
    if (batch.empty()) return;
    Deliver(batch);
  }
}

std::vector<OutputQueue::Entry> OutputQueue::TakeBatch() {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return stopping_ || (!held_ && !waiting_.empty());
  };
  auto full = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return stopping_ || flush_now_ || waiting_.empty() ||
           static_cast<int64_t>(waiting_.size()) >= max_batch_items_;
  };
  // Another worker may take the alerts this one waited for: then wait again.
  // An empty batch means only one thing: the queue is stopping.
  while (true) {
    mu_.Await(absl::Condition(&ready));
    if (stopping_) return {};
    if (max_batch_items_ > 1) {
      // Let a batch fill up, but never hold the oldest alert past max_wait.
      mu_.AwaitWithDeadline(absl::Condition(&full),
                            waiting_.front().enqueued + max_batch_wait_);
      if (stopping_) return {};
    }
    if (!held_ && !waiting_.empty()) break;
  }

  std::vector<Entry> batch;
  uint64_t bytes = 0;
  while (!waiting_.empty() &&
         static_cast<int64_t>(batch.size()) < max_batch_items_) {
    uint64_t size = ApproxSize(*waiting_.front().alert);
    if (!batch.empty() && bytes + size > max_batch_bytes_) break;
    bytes += size;
    batch.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  in_flight_ += static_cast<int64_t>(batch.size());
  return batch;
}

absl::Time OutputQueue::SendDeadline(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return std::min(now + kSendDeadline, drain_deadline_);
}

void OutputQueue::Deliver(const std::vector<Entry>& batch) {
  std::vector<core::AlertPtr> alerts;
  alerts.reserve(batch.size());
  absl::Time accepted = absl::InfiniteFuture();
  for (const Entry& e : batch) {
    alerts.push_back(e.alert);
    accepted = std::min(accepted, e.enqueued);
  }

  absl::BitGen gen;
  outputs::SendResult result;
  int attempt = 1;
  for (;; ++attempt) {
    result = output_->Send(alerts, SendDeadline(clock_->Now()));
    const absl::Time now = clock_->Now();
    if (result.delivered()) {
      for (const Entry& e : batch) {
        latency_->Observe(absl::ToDoubleSeconds(now - e.enqueued));
      }
      delivered_total_->Inc(batch.size());
      {
        absl::MutexLock lock(&mu_);
        delivered_ += batch.size();
      }
      Finish(batch);
      return;
    }
    if (result.kind == outputs::SendResult::Kind::kPermanent) {
      DeadLetter(batch, alerts, result.reason, attempt, result.status);
      return;
    }
    const absl::Duration wait =
        retry_.Backoff(attempt, result.retry_after, gen);
    // max_age counts from acceptance, not from this worker's first attempt.
    if (std::optional<std::string> why =
            retry_.GiveUpReason(attempt, accepted, now + wait)) {
      DeadLetter(batch, alerts,
                 absl::StrCat(result.reason, "; gave up: ", *why), attempt,
                 result.status);
      return;
    }
    {
      // Past the drain deadline every attempt would fail at once: leave the
      // batch to the spool instead of burning attempts.
      absl::MutexLock lock(&mu_);
      if (stopping_ || now >= drain_deadline_) break;
    }
    retries_total_->Inc();
    core::LogWarn("delivery failed, will retry",
                  {{"output", name_},
                   {"alerts", absl::StrCat(batch.size())},
                   {"attempt", absl::StrCat(attempt)},
                   {"reason", result.reason},
                   {"retry_in", absl::FormatDuration(wait)}});
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait)) break;
  }
  // Stopped (shutdown, or a reload replaced the output) while waiting to
  // retry: the batch stays unfinished in the spool, which replays it on the
  // next start or to the replacement.
  core::LogWarn("delivery abandoned: the queue stopped, the spool keeps it",
                {{"output", name_},
                 {"alerts", absl::StrCat(batch.size())},
                 {"reason", result.reason}});
  absl::MutexLock lock(&mu_);
  in_flight_ -= static_cast<int64_t>(batch.size());
  abandoned_ += batch.size();
  depth_gauge_->Add(-static_cast<double>(batch.size()));
}

void OutputQueue::DeadLetter(const std::vector<Entry>& batch,
                             std::span<const core::AlertPtr> alerts,
                             const std::string& reason, int attempts,
                             int last_status) {
  // The dead-letter file may be on a full or failing disk. The alerts are
  // still in the spool, so keep trying (with backoff) rather than count them
  // as recorded; stopping leaves them unfinished for the next start.
  absl::BitGen gen;
  for (int attempt = 1;; ++attempt) {
    absl::Status written =
        dead_letters_->Write(alerts, name_, reason, attempts, last_status);
    if (written.ok()) break;
    dead_letter_errors_total_->Inc(batch.size());
    const absl::Duration wait =
        retry_.Backoff(attempt, absl::ZeroDuration(), gen);
    core::LogError("cannot write dead letters, will retry",
                   {{"output", name_},
                    {"alerts", absl::StrCat(batch.size())},
                    {"error", written.message()},
                    {"retry_in", absl::FormatDuration(wait)}});
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait)) {
      in_flight_ -= static_cast<int64_t>(batch.size());
      abandoned_ += batch.size();
      depth_gauge_->Add(-static_cast<double>(batch.size()));
      return;
    }
  }
  core::LogError("gave up on delivery, alerts dead-lettered",
                 {{"output", name_},
                  {"alerts", absl::StrCat(batch.size())},
                  {"attempts", absl::StrCat(attempts)},
                  {"reason", reason},
                  {"file", dead_letters_->path()}});
  failed_total_->Inc(batch.size());
  dead_letters_total_->Inc(batch.size());
  {
    absl::MutexLock lock(&mu_);
    failed_ += batch.size();
  }
  Finish(batch);
}

void OutputQueue::Finish(const std::vector<Entry>& batch) {
  absl::MutexLock lock(&mu_);
  for (const Entry& e : batch) progress_.Finish(e.alert->seq);
  in_flight_ -= static_cast<int64_t>(batch.size());
  depth_gauge_->Add(-static_cast<double>(batch.size()));
}

}  // namespace corral::router
