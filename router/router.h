#ifndef CORRAL_ROUTER_ROUTER_H_
#define CORRAL_ROUTER_ROUTER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/intake.h"
#include "router/output_queue.h"

namespace corral::router {

// The Intake behind every input: gives each accepted alert its uuid (unless it
// has one) and the next sequence number, and hands it to the queue of every
// output whose filter matches. An alert is refused, never half-accepted: with
// ResourceExhausted when a matching output's queue is full, with Unavailable
// once intake has stopped. Thread-safe.
class Router : public core::Intake {
 public:
  // Takes ownership of the queues; they are started by Start().
  explicit Router(std::vector<std::unique_ptr<OutputQueue>> queues);
  ~Router() override;

  void Start();
  void Submit(core::Alert alert, core::IntakeDone done) override;

  // Refuses every later Submit with Unavailable.
  void StopIntake();
  // Waits until every queue is idle or `deadline` passes; true when all are
  // idle.
  bool Drain(absl::Time deadline);
  // Stops every queue's workers.
  void Stop();

  const std::vector<std::unique_ptr<OutputQueue>>& queues() const {
    return queues_;
  }
  uint64_t last_seq() const;

 private:
  const std::vector<std::unique_ptr<OutputQueue>> queues_;
  // Orders seq assignment with the pushes to the queues.
  mutable absl::Mutex mu_;
  bool intake_stopped_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace corral::router

#endif  // CORRAL_ROUTER_ROUTER_H_
