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

// Records one read of the spool hands over at most, matching or not, so that
// the seqs of a long run of alerts the filter skips are applied in pieces.
constexpr size_t kMaxRecordsPerRead = 65536;

// How long the reader waits before it tries a failed spool read again.
constexpr absl::Duration kReadRetry = absl::Seconds(1);

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
                     "Alerts waiting for or in delivery, per output, also "
                     "those not read back from the spool yet (an upper "
                     "bound).",
                     {"output"})
          ->With(by_output);
  in_memory_gauge_ =
      metrics
          ->AddGauge("corral_queue_in_memory",
                     "Alerts held in memory (waiting or in delivery), per "
                     "output; at most its queue_size.",
                     {"output"})
          ->With(by_output);
  latency_ = metrics
                 ->AddHistogram("corral_delivery_latency_seconds",
                                "Time from acceptance to delivery, per output.",
                                {"output"}, core::LatencyBuckets())
                 ->With(by_output);
}

OutputQueue::~OutputQueue() { Stop(); }

bool OutputQueue::Offer(uint64_t seq) {
  offered_through_ = std::max(offered_through_, seq);
  return !paging_ && seq > taken_through_;
}

void OutputQueue::StartPaging() {
  paging_ = true;
  // The position where the reader last handed back is before every seq
  // pushed since: reading goes on from there (or from the start of the
  // segment holding the next seq, when that is later).
  cursor_.after_seq = taken_through_;
}

void OutputQueue::Push(core::AlertPtr alert) {
  absl::MutexLock lock(&mu_);
  if (Offer(alert->seq)) {
    if (spool_ != nullptr && InMemory() >= queue_size_) {
      StartPaging();  // this alert is the first the reader will read
    } else {
      taken_through_ = alert->seq;
      waiting_.push_back({std::move(alert), clock_->Now()});
    }
  }
  Update();
}

void OutputQueue::Skip(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  if (Offer(seq)) {
    taken_through_ = seq;
    progress_.Finish(seq);
  }
  Update();
}

void OutputQueue::FinishMissing(uint64_t from, uint64_t to) {
  for (uint64_t seq = from; seq < to; ++seq) progress_.Finish(seq);
}

uint64_t OutputQueue::ResumeFrom(const Spool* spool, uint64_t low_watermark,
                                 const std::set<uint64_t>& finished_above) {
  const uint64_t head = spool->last_seq();
  absl::MutexLock lock(&mu_);
  progress_ = CompletionTracker(low_watermark);
  for (uint64_t seq : finished_above) progress_.Finish(seq);
  spool_ = spool;
  taken_through_ = low_watermark;
  cursor_ = SpoolCursor{};
  StartPaging();
  resume_head_ = head;
  uint64_t backlog =
      resume_head_ > low_watermark ? resume_head_ - low_watermark : 0;
  for (uint64_t seq : finished_above) {
    if (seq > low_watermark && seq <= resume_head_) --backlog;
  }
  Update();
  return backlog;
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
  absl::MutexLock lock(&mu_);
  if (spool_ != nullptr) {
    reader_ = std::thread([this] { ReadLoop(); });
    pthread_setname_np(reader_.native_handle(),
                       absl::StrCat("rd:", name_).substr(0, 15).c_str());
  }
}

bool OutputQueue::Drain(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  flush_now_ = true;
  drain_deadline_ = std::min(drain_deadline_, deadline);
  const uint64_t abandoned_before = abandoned_;
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !paging_ && waiting_.empty() && in_flight_ == 0;
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
  if (reader_.joinable()) reader_.join();
  // What is left stays unfinished in the spool, for the next start to replay.
  absl::MutexLock lock(&mu_);
  waiting_.clear();
  paging_ = false;
  Update();
}

uint64_t OutputQueue::Queued() const {
  uint64_t queued = static_cast<uint64_t>(InMemory());
  const uint64_t head = std::max(offered_through_, resume_head_);
  if (paging_ && head > taken_through_) queued += head - taken_through_;
  return queued;
}

void OutputQueue::Update() {
  const double depth = static_cast<double>(Queued());
  depth_gauge_->Add(depth - depth_reported_);
  depth_reported_ = depth;
  const double in_memory = static_cast<double>(InMemory());
  in_memory_gauge_->Add(in_memory - in_memory_reported_);
  in_memory_reported_ = in_memory;
  in_memory_peak_ =
      std::max(in_memory_peak_, static_cast<uint64_t>(InMemory()));
}

OutputQueue::Stats OutputQueue::stats() const {
  absl::MutexLock lock(&mu_);
  Stats stats;
  stats.queued = Queued();
  stats.in_memory = static_cast<uint64_t>(InMemory());
  stats.in_memory_peak = in_memory_peak_;
  stats.delivered = delivered_;
  stats.failed = failed_;
  stats.retries = retries_total_->Value();
  stats.abandoned = abandoned_;
  stats.low_watermark = progress_.low_watermark();
  return stats;
}

void OutputQueue::ReadLoop() {
  auto wanted = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return stopping_ || (paging_ && !held_ && 2 * InMemory() <= queue_size_);
  };
  // One record read from the spool; alert is null when it is not for this
  // output.
  struct Record {
    uint64_t seq;
    core::AlertPtr alert;
  };
  while (true) {
    const Spool* spool;
    SpoolCursor cursor;
    int64_t room;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&wanted));
      if (stopping_) return;
      spool = spool_;
      cursor = cursor_;
      room = queue_size_ - InMemory();
    }
    // Outside the lock: Push and the workers go on while the disk is read.
    // Nothing but this thread moves taken_through_ while paging_.
    std::vector<Record> reads;
    int64_t matched = 0;
    bool at_end = true;
    const absl::Status status = spool->Read(&cursor, [&](core::Alert alert) {
      Record read{alert.seq, nullptr};
      if (Matches(alert)) {
        read.alert = std::make_shared<const core::Alert>(std::move(alert));
        ++matched;
      }
      reads.push_back(std::move(read));
      at_end = matched < room && reads.size() < kMaxRecordsPerRead;
      return at_end;
    });

    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    const absl::Time now = clock_->Now();
    for (Record& read : reads) {
      // Seqs skipped over have no record (damaged).
      FinishMissing(taken_through_ + 1, read.seq);
      taken_through_ = read.seq;
      if (progress_.IsFinished(read.seq)) continue;  // by an earlier run
      if (read.alert == nullptr) {
        progress_.Finish(read.seq);
      } else {
        // Counted from acceptance (retry.max_age, latency), which may be
        // long before: a backlog, or a restart.
        const absl::Time accepted = std::min(read.alert->accepted, now);
        waiting_.push_back({std::move(read.alert),
                            accepted == absl::InfinitePast() ? now : accepted});
      }
    }
    if (!status.ok()) {
      // What was read is complete up to the cursor; go on from there later.
      cursor_ = cursor;
      Update();
      core::LogError(
          "cannot read the output's alerts from the spool, will retry",
          {{"output", name_},
           {"after_seq", absl::StrCat(taken_through_)},
           {"error", status.message()},
           {"retry_in", absl::FormatDuration(kReadRetry)}});
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), kReadRetry);
      continue;
    }
    if (at_end) {
      // Every seq up to cursor.after_seq was read or has no record.
      FinishMissing(taken_through_ + 1, cursor.after_seq + 1);
      taken_through_ = std::max(taken_through_, cursor.after_seq);
    }
    cursor_ = cursor;
    // Pushes of seqs above taken_through_ were left to this reader: it hands
    // intake back only when there was none, so no seq is skipped; those at or
    // below it that come later were read already and are not taken twice.
    if (at_end && offered_through_ <= taken_through_) paging_ = false;
    Update();
  }
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
                            waiting_.front().accepted + max_batch_wait_);
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
    accepted = std::min(accepted, e.accepted);
  }

  absl::BitGen gen;
  outputs::SendResult result;
  int attempt = 1;
  for (;; ++attempt) {
    result = output_->Send(alerts, SendDeadline(clock_->Now()));
    const absl::Time now = clock_->Now();
    if (result.delivered()) {
      for (const Entry& e : batch) {
        latency_->Observe(absl::ToDoubleSeconds(now - e.accepted));
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
  Update();
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
      Update();
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
  Update();
}

}  // namespace corral::router
