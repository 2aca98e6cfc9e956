#include "outputs/partial_deliveries.h"

#include "absl/strings/str_cat.h"

namespace corral::outputs {
namespace {

std::string AlertKey(const core::Alert& alert) {
  return absl::StrCat(alert.uuid, "/", alert.seq);
}

}  // namespace

std::vector<core::AlertPtr> PartialDeliveries::Undelivered(
    std::span<const core::AlertPtr> batch) const {
  std::vector<core::AlertPtr> pending;
  pending.reserve(batch.size());
  absl::MutexLock lock(&mu_);
  for (const core::AlertPtr& alert : batch) {
    if (!delivered_.contains(AlertKey(*alert))) pending.push_back(alert);
  }
  return pending;
}

void PartialDeliveries::Add(const core::Alert& alert) {
  absl::MutexLock lock(&mu_);
  if (delivered_.size() >= max_remembered_) delivered_.clear();
  delivered_.insert(AlertKey(alert));
}

void PartialDeliveries::Forget(std::span<const core::AlertPtr> batch) {
  absl::MutexLock lock(&mu_);
  for (const core::AlertPtr& alert : batch) delivered_.erase(AlertKey(*alert));
}

}  // namespace corral::outputs
