#include "router/router.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/log.h"

namespace corral::router {
namespace {

// How often progress goes to disk: a crash re-sends at most this much.
constexpr absl::Duration kProgressInterval = absl::Seconds(1);

// How long Stop() waits for alerts already on their way to the disk.
constexpr absl::Duration kStopWaitForAppends = absl::Seconds(30);

bool operator==(const CompletionTracker& a, const CompletionTracker& b) {
  return a.low_watermark() == b.low_watermark() &&
         a.finished_above() == b.finished_above();
}

}  // namespace

Router::Router(std::vector<std::unique_ptr<OutputQueue>> queues, Spool* spool,
               AlertFeed* feed)
    : queues_(std::move(queues)), spool_(spool), feed_(feed) {}

Router::~Router() { Stop(); }

absl::Status Router::Start() {
  std::vector<std::string> names;
  for (const auto& queue : queues_) names.push_back(queue->name());
  if (absl::Status s = spool_->SetOutputs(names); !s.ok()) return s;
  for (const auto& queue : queues_) {
    absl::StatusOr<uint64_t> replayed = Replay(*queue);
    if (!replayed.ok()) return replayed.status();
    replayed_ += *replayed;
    if (*replayed > 0) {
      core::LogInfo(
          "replaying undelivered alerts",
          {{"output", queue->name()}, {"alerts", absl::StrCat(*replayed)}});
    }
  }
  {
    absl::MutexLock lock(&mu_);
    for (const auto& queue : queues_) persisted_.push_back(queue->Progress());
  }
  for (const auto& queue : queues_) queue->Start();
  progress_thread_ = std::thread([this] { ProgressLoop(); });
  absl::MutexLock lock(&mu_);
  started_ = true;
  if (!stopped_) intake_stopped_ = false;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Router::Replay(OutputQueue& queue) {
  std::optional<OutputProgress> progress = spool_->LoadProgress(queue.name());
  if (!progress) {
    return absl::InternalError(
        absl::StrCat("spool has no progress for output ", queue.name()));
  }
  queue.ResumeFrom(progress->low_watermark, progress->finished_above);
  uint64_t queued = 0;
  // Every seq between the watermark and the head must end up finished or
  // queued; seqs the spool no longer has (damaged records) are skipped.
  uint64_t next = progress->low_watermark + 1;
  const uint64_t head = spool_->last_seq();
  auto skip_until = [&](uint64_t end) {
    for (; next < end; ++next) {
      if (progress->finished_above.count(next) == 0) queue.Skip(next);
    }
  };
  absl::Status status = spool_->Replay(queue.name(), [&](core::Alert alert) {
    if (alert.seq > head) return false;
    skip_until(alert.seq);
    next = alert.seq + 1;
    if (queue.Matches(alert)) {
      queue.Push(std::make_shared<const core::Alert>(std::move(alert)));
      ++queued;
    } else {
      queue.Skip(alert.seq);
    }
    return true;
  });
  if (!status.ok()) return status;
  skip_until(head + 1);
  return queued;
}

void Router::Submit(core::Alert alert, core::IntakeDone done) {
  if (alert.uuid.empty()) alert.uuid = core::NewUuid();
  // Filters are immutable: match before taking the lock.
  auto matches = std::make_shared<std::vector<bool>>(queues_.size());
  for (size_t i = 0; i < queues_.size(); ++i) {
    (*matches)[i] = queues_[i]->Matches(alert);
  }
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    // Checked under the lock, so that once StopIntake() returns no new alert
    // starts on its way to a queue that is being drained.
    if (intake_stopped_) {
      refused = absl::UnavailableError("corral is shutting down");
    }
    for (size_t i = 0; refused.ok() && i < queues_.size(); ++i) {
      if ((*matches)[i] && !queues_[i]->TryReserve()) {
        refused = absl::ResourceExhaustedError(absl::StrCat(
            "output \"", queues_[i]->name(), "\" has a full queue"));
        for (size_t j = 0; j < i; ++j) {
          if ((*matches)[j]) queues_[j]->CancelReservation();
        }
      }
    }
    if (refused.ok()) ++appending_;
  }
  if (!refused.ok()) {
    std::move(done)(refused);
    return;
  }
  auto shared = std::make_shared<core::Alert>(std::move(alert));
  // Append encodes the alert before it returns; the seq is set once durable.
  spool_->Append(*shared, [this, shared, matches, done = std::move(done)](
                              absl::StatusOr<uint64_t> seq) mutable {
    if (seq.ok()) {
      shared->seq = *seq;
      Route(std::move(shared), *matches);
    } else {
      for (size_t i = 0; i < queues_.size(); ++i) {
        if ((*matches)[i]) queues_[i]->CancelReservation();
      }
    }
    {
      absl::MutexLock lock(&mu_);
      --appending_;
    }
    std::move(done)(std::move(seq));
  });
}

void Router::Route(core::AlertPtr alert, const std::vector<bool>& matches) {
  for (size_t i = 0; i < queues_.size(); ++i) {
    if (matches[i]) {
      queues_[i]->Push(alert, /*reserved=*/true);
    } else {
      queues_[i]->Skip(alert->seq);
    }
  }
  if (feed_ != nullptr) feed_->Publish(alert);
}

void Router::StopIntake() {
  absl::MutexLock lock(&mu_);
  intake_stopped_ = true;
}

bool Router::AwaitRouted(absl::Time deadline) {
  auto routed = [this]()
                    ABSL_SHARED_LOCKS_REQUIRED(mu_) { return appending_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&routed), deadline);
}

bool Router::Drain(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (!AwaitRouted(deadline)) return false;
  }
  bool idle = true;
  for (const auto& queue : queues_) idle = queue->Drain(deadline) && idle;
  return idle;
}

void Router::Stop() {
  bool started;
  {
    absl::MutexLock lock(&mu_);
    intake_stopped_ = true;
    if (stopped_) return;
    stopped_ = true;
    started = started_;
    // Their callbacks route into the queues: let them land first.
    if (!AwaitRouted(absl::Now() + kStopWaitForAppends)) {
      core::LogError("spool appends still pending at stop",
                     {{"alerts", absl::StrCat(appending_)}});
    }
  }
  if (progress_thread_.joinable()) progress_thread_.join();
  for (const auto& queue : queues_) queue->Stop();
  // Before a complete Start() the queues' progress is not the real one:
  // writing it would make every output replay from the beginning.
  if (started) PersistProgress();
}

void Router::ProgressLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopped_), kProgressInterval)) {
        return;
      }
    }
    PersistProgress();
    absl::StatusOr<int> compacted = spool_->Compact();
    if (!compacted.ok()) {
      core::LogError("cannot compact the spool",
                     {{"error", compacted.status().message()}});
    }
  }
}

void Router::PersistProgress() {
  for (size_t i = 0; i < queues_.size(); ++i) {
    CompletionTracker progress = queues_[i]->Progress();
    {
      absl::MutexLock lock(&mu_);
      if (i < persisted_.size() && persisted_[i] == progress) continue;
    }
    absl::Status s =
        spool_->MarkProgress(queues_[i]->name(), progress.low_watermark(),
                             progress.finished_above());
    if (!s.ok()) {
      core::LogError("cannot persist delivery progress",
                     {{"output", queues_[i]->name()}, {"error", s.message()}});
      continue;
    }
    absl::MutexLock lock(&mu_);
    if (i < persisted_.size()) persisted_[i] = std::move(progress);
  }
}

}  // namespace corral::router
