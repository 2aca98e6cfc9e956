#include "router/retry_policy.h"

#include <algorithm>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"

namespace corral::router {

absl::Duration RetryPolicy::Backoff(int attempt, absl::Duration retry_after,
                                    absl::BitGenRef gen) const {
  absl::Duration cap = config_.initial_backoff;
  for (int i = 1; i < attempt && cap < config_.max_backoff; ++i) cap *= 2;
  cap = std::min(cap, config_.max_backoff);
  absl::Duration jittered = absl::Nanoseconds(absl::Uniform<int64_t>(
      absl::IntervalClosed, gen, 0, absl::ToInt64Nanoseconds(cap)));
  return std::max(jittered, retry_after);
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
