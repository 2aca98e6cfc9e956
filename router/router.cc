#include "router/router.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace corral::router {

Router::Router(std::vector<std::unique_ptr<OutputQueue>> queues)
    : queues_(std::move(queues)) {}

Router::~Router() { Stop(); }

void Router::Start() {
  for (const auto& queue : queues_) queue->Start();
}

void Router::Submit(core::Alert alert, core::IntakeDone done) {
  if (alert.uuid.empty()) alert.uuid = core::NewUuid();

  // Filters are immutable: match before taking the lock.
  std::vector<bool> matches(queues_.size());
  for (size_t i = 0; i < queues_.size(); ++i)
    matches[i] = queues_[i]->Matches(alert);

  absl::StatusOr<uint64_t> result = uint64_t{0};
  {
    absl::MutexLock lock(&mu_);
    // Checked under the lock, so that once StopIntake() returns no alert can
    // still reach a queue that is being drained.
    if (intake_stopped_) {
      result = absl::UnavailableError("corral is shutting down");
    }
    // Queues only shrink while the lock is held, so room checked here is room
    // at the push.
    for (size_t i = 0; result.ok() && i < queues_.size(); ++i) {
      if (matches[i] && !queues_[i]->HasRoom()) {
        result = absl::ResourceExhaustedError(absl::StrCat(
            "output \"", queues_[i]->name(), "\" has a full queue"));
        break;
      }
    }
    if (result.ok()) {
      alert.seq = ++last_seq_;
      auto shared = std::make_shared<const core::Alert>(std::move(alert));
      for (size_t i = 0; i < queues_.size(); ++i) {
        if (matches[i]) {
          queues_[i]->Push(shared);
        } else {
          queues_[i]->Skip(shared->seq);
        }
      }
      result = shared->seq;
    }
  }
  std::move(done)(std::move(result));
}

void Router::StopIntake() {
  absl::MutexLock lock(&mu_);
  intake_stopped_ = true;
}

bool Router::Drain(absl::Time deadline) {
  bool idle = true;
  for (const auto& queue : queues_) idle = queue->Drain(deadline) && idle;
  return idle;
}

void Router::Stop() {
  StopIntake();
  for (const auto& queue : queues_) queue->Stop();
}

uint64_t Router::last_seq() const {
  absl::MutexLock lock(&mu_);
  return last_seq_;
}

}  // namespace corral::router
