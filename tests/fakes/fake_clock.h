#ifndef CORRAL_TESTS_FAKES_FAKE_CLOCK_H_
#define CORRAL_TESTS_FAKES_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/clock.h"

namespace corral::fakes {

// A clock that moves only when a test says so. Starts at the real time unless
// told otherwise (file mtimes and the like stay comparable with it).
// Thread-safe.
class FakeClock : public core::Clock {
 public:
  FakeClock() : now_(absl::Now()) {}
  explicit FakeClock(absl::Time now) : now_(now) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time now) {
    absl::MutexLock lock(&mu_);
    now_ = now;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_FAKE_CLOCK_H_
