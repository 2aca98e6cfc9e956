#ifndef CORRAL_OUTPUTS_PARTIAL_DELIVERIES_H_
#define CORRAL_OUTPUTS_PARTIAL_DELIVERIES_H_

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "core/alert.h"

namespace corral::outputs {

// For an output that sends one batch as several requests: the alerts that got
// through before a later request failed. Send() is all or nothing for the
// queue, which retries the whole batch; the output skips the alerts recorded
// here, so none reaches the destination twice. Alerts are known by uuid and
// seq. Thread-safe.
//
//   std::vector<core::AlertPtr> pending = partial_.Undelivered(batch);
//   ... for each request that succeeds: partial_.Add(alert) for its alerts;
//   ... when the batch is over (delivered, or failed for good):
//   partial_.Forget(batch);
class PartialDeliveries {
 public:
  // Alerts are only remembered past their batch when the queue gives up on
  // it midway; beyond `max_remembered` everything is forgotten, so that this
  // cannot grow without bound.
  explicit PartialDeliveries(size_t max_remembered)
      : max_remembered_(max_remembered) {}

  // The alerts of `batch` not delivered yet, in batch order.
  std::vector<core::AlertPtr> Undelivered(
      std::span<const core::AlertPtr> batch) const;
  // Records that `alert` reached the destination.
  void Add(const core::Alert& alert);
  // The batch is finished: forgets its alerts.
  void Forget(std::span<const core::AlertPtr> batch);

 private:
  const size_t max_remembered_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> delivered_ ABSL_GUARDED_BY(mu_);
};

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_PARTIAL_DELIVERIES_H_
