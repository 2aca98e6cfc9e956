#ifndef CORRAL_ROUTER_RETRY_POLICY_H_
#define CORRAL_ROUTER_RETRY_POLICY_H_

#include <optional>
#include <string>

#include "absl/random/bit_gen_ref.h"
#include "absl/time/time.h"
#include "core/config.h"

namespace corral::router {

// corral's one retry policy: exponential backoff with full jitter
// (core::FullJitterBackoff), never shorter than the destination's own
// Retry-After, bounded by max_attempts and max_age. Stateless and thread-safe;
// randomness comes from the caller.
class RetryPolicy {
 public:
  explicit RetryPolicy(core::RetryConfig config) : config_(config) {}

  // The wait after failed attempt number `attempt` (1 for the first attempt).
  absl::Duration Backoff(int attempt, absl::Duration retry_after,
                         absl::BitGenRef gen) const;

  // Why no further attempt may be made (e.g. "5 attempts made (max_attempts
  // 5)"), or nullopt when one may: after `attempts` failed attempts of which
  // the first started at `first_attempt`, with the next one due at
  // `next_attempt`.
  std::optional<std::string> GiveUpReason(int attempts,
                                          absl::Time first_attempt,
                                          absl::Time next_attempt) const;

  const core::RetryConfig& config() const { return config_; }

 private:
  core::RetryConfig config_;
};

}  // namespace corral::router

#endif  // CORRAL_ROUTER_RETRY_POLICY_H_
