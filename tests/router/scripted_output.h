#ifndef CORRAL_TESTS_ROUTER_SCRIPTED_OUTPUT_H_
#define CORRAL_TESTS_ROUTER_SCRIPTED_OUTPUT_H_

#include <cstdint>
#include <deque>
#include <limits>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "core/config.h"
#include "outputs/output.h"

namespace corral::router {

// The config of a test output that retries after a millisecond or two.
inline core::OutputConfig FastRetryConfig(std::string name) {
  core::OutputConfig c;
  c.name = std::move(name);
  c.type = "scripted";
  c.retry.initial_backoff = absl::Milliseconds(1);
  c.retry.max_backoff = absl::Milliseconds(2);
  return c;
}

// An Output that answers from a script (then with the default) and records
// every batch it got, and which of them it answered Delivered.
class ScriptedOutput : public outputs::Output {
 public:
  explicit ScriptedOutput(
      int64_t max_batch = 1,
      uint64_t max_batch_bytes = std::numeric_limits<uint64_t>::max())
      : max_batch_(max_batch), max_batch_bytes_(max_batch_bytes) {}

  void Script(std::vector<outputs::SendResult> results) {
    absl::MutexLock lock(&mu_);
    for (auto& r : results) script_.push_back(std::move(r));
  }
  void SetDefault(outputs::SendResult result) {
    absl::MutexLock lock(&mu_);
    default_ = std::move(result);
  }
  // Blocks every Send until Release().
  void Hold() {
    absl::MutexLock lock(&mu_);
    held_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }

  outputs::SendResult Send(std::span<const core::AlertPtr> batch,
                           absl::Time) override {
    absl::MutexLock lock(&mu_);
    std::vector<uint64_t> seqs;
    for (const auto& a : batch) seqs.push_back(a->seq);
    calls_.push_back(seqs);
    mu_.Await(absl::Condition(
        +[](bool* held) { return !*held; }, &held_));
    outputs::SendResult r = default_;
    if (!script_.empty()) {
      r = script_.front();
      script_.pop_front();
    }
    if (r.delivered())
      delivered_.insert(delivered_.end(), seqs.begin(), seqs.end());
    return r;
  }
  int64_t MaxBatchItems() const override { return max_batch_; }
  uint64_t MaxBatchBytes() const override { return max_batch_bytes_; }

  bool WaitForCalls(size_t n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() { return calls_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  std::vector<std::vector<uint64_t>> calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  // The seqs of every batch answered Delivered, in the order answered.
  std::vector<uint64_t> delivered() {
    absl::MutexLock lock(&mu_);
    return delivered_;
  }

 private:
  const int64_t max_batch_;
  const uint64_t max_batch_bytes_;
  absl::Mutex mu_;
  std::deque<outputs::SendResult> script_;
  outputs::SendResult default_ = outputs::SendResult::Delivered(200);
  bool held_ = false;
  std::vector<std::vector<uint64_t>> calls_;
  std::vector<uint64_t> delivered_;
};

}  // namespace corral::router

#endif  // CORRAL_TESTS_ROUTER_SCRIPTED_OUTPUT_H_
