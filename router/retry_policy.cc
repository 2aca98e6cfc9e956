#include "router/retry_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/backoff.h"

namespace corral::router {

absl::Duration RetryPolicy::Backoff(int attempt, absl::Duration retry_after,
                                    absl::BitGenRef gen) const {
  return std::max(core::FullJitterBackoff(config_.initial_backoff,
                                          config_.max_backoff, attempt, gen),
                  retry_after);
}

std::optional<std::string> RetryPolicy::GiveUpReason(
    int attempts, absl::Time first_attempt, absl::Time next_attempt) const {
  if (config_.max_attempts > 0 && attempts >= config_.max_attempts) {
    return absl::StrCat(attempts, " attempts made (max_attempts ",
                        config_.max_attempts, ")");
  }
  if (config_.max_age > absl::ZeroDuration() &&
      next_attempt - first_attempt > config_.max_age) {
    return absl::StrCat("retrying longer than max_age ",
                        absl::FormatDuration(config_.max_age));
  }
  return std::nullopt;
}

}  // namespace corral::router
