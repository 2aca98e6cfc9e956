#include "router/router.h"

#include <algorithm>
#include <set>

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
    : spool_(spool),
      feed_(feed),
      queues_(std::make_shared<const QueueSet>(
          std::make_move_iterator(queues.begin()),
          std::make_move_iterator(queues.end()))) {}

Router::~Router() { Stop(); }

std::shared_ptr<const Router::QueueSet> Router::queues() const {
  absl::MutexLock lock(&mu_);
  return queues_;
}

absl::Status Router::Start() {
  const std::shared_ptr<const QueueSet> queues = this->queues();
  std::vector<std::string> names;
  for (const auto& queue : *queues) names.push_back(queue->name());
  if (absl::Status s = spool_->SetOutputs(names); !s.ok()) return s;
  for (const auto& queue : *queues) {
    absl::StatusOr<uint64_t> replayed = Resume(*queue);
    if (!replayed.ok()) return replayed.status();
    replayed_ += *replayed;
  }
  {
    absl::MutexLock lock(&progress_mu_);
    for (const auto& queue : *queues) {
      persisted_.emplace(queue->name(), queue->Progress());
    }
  }
  for (const auto& queue : *queues) queue->Start();
  progress_thread_ = std::thread([this] { ProgressLoop(); });
  absl::MutexLock lock(&mu_);
  started_ = true;
  if (!stopped_) intake_stopped_ = false;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Router::Resume(OutputQueue& queue) {
  std::optional<OutputProgress> progress = spool_->LoadProgress(queue.name());
  if (!progress) {
    return absl::InternalError(
        absl::StrCat("spool has no progress for output ", queue.name()));
  }
  const uint64_t backlog = queue.ResumeFrom(spool_, progress->low_watermark,
                                            progress->finished_above);
  if (backlog > 0) {
    core::LogInfo("replaying undelivered alerts",
                  {{"output", queue.name()},
                   {"alerts", absl::StrCat(backlog)},
                   {"after_seq", absl::StrCat(progress->low_watermark)}});
  }
  return backlog;
}

void Router::Submit(core::Alert alert, core::IntakeDone done) {
  if (alert.uuid.empty()) alert.uuid = core::NewUuid();
  std::shared_ptr<const QueueSet> queues;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](bool* reconfiguring) { return !*reconfiguring; }, &reconfiguring_));
    // Checked under the lock, so that once StopIntake() returns no new alert
    // starts on its way to a queue that is being drained.
    if (!intake_stopped_) {
      queues = queues_;
      ++appending_;
    }
  }
  if (queues == nullptr) {
    std::move(done)(absl::UnavailableError("corral is shutting down"));
    return;
  }
  // No room to check: a queue without room leaves the alert in the spool.
  std::vector<bool> matches;
  matches.reserve(queues->size());
  for (const auto& queue : *queues) matches.push_back(queue->Matches(alert));
  auto shared = std::make_shared<core::Alert>(std::move(alert));
  // Append encodes the alert before it returns; the seq is set once durable.
  // Reconfigure waits for this callback, so `queues` is still the set in use
  // when it runs.
  spool_->Append(
      *shared,
      [this, shared, queues = std::move(queues), matches = std::move(matches),
       done = std::move(done)](absl::StatusOr<uint64_t> seq) mutable {
        if (seq.ok()) {
          shared->seq = *seq;
          Route(std::move(shared), *queues, matches);
        }
        {
          absl::MutexLock lock(&mu_);
          --appending_;
        }
        std::move(done)(std::move(seq));
      });
}

void Router::Route(core::AlertPtr alert, const QueueSet& queues,
                   const std::vector<bool>& matches) {
  for (size_t i = 0; i < queues.size(); ++i) {
    if (matches[i]) {
      queues[i]->Push(alert);
    } else {
      queues[i]->Skip(alert->seq);
    }
  }
  if (feed_ != nullptr) feed_->Publish(alert);
}

absl::StatusOr<uint64_t> Router::Reconfigure(QueueSet next) {
  std::set<std::string, std::less<>> names;
  for (const auto& queue : next) {
    if (!names.insert(queue->name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("two outputs are named \"", queue->name(), "\""));
    }
  }
  QueueSet retired;
  absl::StatusOr<uint64_t> replayed;
  {
    absl::MutexLock progress_lock(&progress_mu_);
    std::shared_ptr<const QueueSet> current;
    {
      absl::MutexLock lock(&mu_);
      if (!started_ || stopped_) {
        return absl::FailedPreconditionError("the router is not running");
      }
      reconfiguring_ = true;
      if (!AwaitRouted(absl::Now() + kStopWaitForAppends)) {
        reconfiguring_ = false;
        return absl::UnavailableError(
            "alerts on their way to the spool were not routed in time");
      }
      current = queues_;
    }
    // Intake is paused, and every accepted alert is in the current queues.
    replayed = SwitchProgress(*current, next);
    if (replayed.ok()) {
      for (const auto& queue : next) {
        if (!persisted_.contains(queue->name())) {
          persisted_.emplace(queue->name(), queue->Progress());
        }
      }
      std::erase_if(persisted_, [&](const auto& entry) {
        return !names.contains(entry.first);
      });
      for (const auto& queue : *current) {
        if (std::find(next.begin(), next.end(), queue) == next.end()) {
          retired.push_back(queue);
        }
      }
    }
    absl::MutexLock lock(&mu_);
    if (replayed.ok()) {
      queues_ = std::make_shared<const QueueSet>(std::move(next));
    }
    reconfiguring_ = false;
  }
  if (!replayed.ok()) return replayed.status();
  for (const auto& queue : retired) queue->Stop();
  return *replayed;
}

absl::StatusOr<uint64_t> Router::SwitchProgress(const QueueSet& current,
                                                const QueueSet& next) {
  auto is_current = [&](const std::shared_ptr<OutputQueue>& queue) {
    return std::find(current.begin(), current.end(), queue) != current.end();
  };
  // A new queue that takes over from a retired one of its name starts from
  // that one's progress as of now; the retired one is held so that it starts
  // nothing more (only what it is sending now may be sent twice).
  std::vector<OutputQueue*> held;
  auto release = [&] {
    for (OutputQueue* queue : held) queue->Hold(false);
  };
  for (const auto& queue : current) {
    if (std::find(next.begin(), next.end(), queue) != next.end()) continue;
    const bool succeeded =
        std::any_of(next.begin(), next.end(), [&](const auto& successor) {
          return successor->name() == queue->name();
        });
    if (!succeeded) continue;
    queue->Hold(true);
    held.push_back(queue.get());
    CompletionTracker progress = queue->Progress();
    if (absl::Status s = spool_->MarkProgress(
            queue->name(), progress.low_watermark(), progress.finished_above());
        !s.ok()) {
      release();
      return s;
    }
    persisted_.erase(queue->name());
  }
  std::vector<std::string> names;
  for (const auto& queue : next) names.push_back(queue->name());
  if (absl::Status s = spool_->SetOutputs(names); !s.ok()) {
    release();
    return s;
  }
  uint64_t replayed = 0;
  for (const auto& queue : next) {
    if (is_current(queue)) continue;
    absl::StatusOr<uint64_t> backlog = Resume(*queue);
    if (!backlog.ok()) {
      // Declare the outputs still running again, so that their progress keeps
      // being written; the next reload can try again.
      std::vector<std::string> running;
      for (const auto& q : current) running.push_back(q->name());
      if (absl::Status s = spool_->SetOutputs(running); !s.ok()) {
        core::LogError("cannot restore the spool's outputs",
                       {{"error", s.message()}});
      }
      persisted_.clear();
      release();
      return backlog.status();
    }
    replayed += *backlog;
  }
  for (const auto& queue : next) {
    if (!is_current(queue)) queue->Start();
  }
  return replayed;
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
  for (const auto& queue : *queues()) idle = queue->Drain(deadline) && idle;
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
  absl::MutexLock progress_lock(&progress_mu_);
  for (const auto& queue : *queues()) queue->Stop();
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
    {
      absl::MutexLock progress_lock(&progress_mu_);
      PersistProgress();
    }
    absl::StatusOr<int> compacted = spool_->Compact();
    if (!compacted.ok()) {
      core::LogError("cannot compact the spool",
                     {{"error", compacted.status().message()}});
    }
  }
}

void Router::PersistProgress() {
  for (const auto& queue : *queues()) {
    CompletionTracker progress = queue->Progress();
    auto persisted = persisted_.find(queue->name());
    if (persisted != persisted_.end() && persisted->second == progress) {
      continue;
    }
    absl::Status s = spool_->MarkProgress(
        queue->name(), progress.low_watermark(), progress.finished_above());
    if (!s.ok()) {
      core::LogError("cannot persist delivery progress",
                     {{"output", queue->name()}, {"error", s.message()}});
      continue;
    }
    persisted_.insert_or_assign(queue->name(), std::move(progress));
  }
}

}  // namespace corral::router
