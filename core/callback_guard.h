#ifndef CORRAL_CORE_CALLBACK_GUARD_H_
#define CORRAL_CORE_CALLBACK_GUARD_H_

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace corral::core {

// For callbacks that may run after the object they call into is gone (an
// intake answering after its input was destroyed): they hold a Handle, and
// reach the object only while it is alive. The owner keeps the guard as a
// member (declared last, so that it closes first) or calls Close() itself.
// Thread-safe.
template <typename T>
class CallbackGuard {
  // Declared before Handle, which names it (clang requires it).
  struct State;

 public:
  class Handle {
   public:
    // Calls fn(target) and returns true while the target lives; false, and
    // nothing called, once the guard is closed. Close() waits for calls in
    // progress. fn must not Run() on the same guard again.
    template <typename Fn>
    bool Run(Fn&& fn) const {
      absl::ReaderMutexLock lock(&state_->mu);
      if (state_->target == nullptr) return false;
      std::forward<Fn>(fn)(*state_->target);
      return true;
    }

   private:
    friend class CallbackGuard;
    explicit Handle(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
  };

  explicit CallbackGuard(T* target) : state_(std::make_shared<State>()) {
    state_->target = target;
  }
  ~CallbackGuard() { Close(); }
  CallbackGuard(const CallbackGuard&) = delete;
  CallbackGuard& operator=(const CallbackGuard&) = delete;

  Handle handle() const { return Handle(state_); }
  // From now on Run() calls nothing; returns once calls in progress end.
  void Close() {
    absl::WriterMutexLock lock(&state_->mu);
    state_->target = nullptr;
  }

 private:
  struct State {
    absl::Mutex mu;
    T* target ABSL_GUARDED_BY(mu) = nullptr;
  };
  std::shared_ptr<State> state_;
};

}  // namespace corral::core

#endif  // CORRAL_CORE_CALLBACK_GUARD_H_
