#ifndef CORRAL_CORE_BACKOFF_H_
#define CORRAL_CORE_BACKOFF_H_

#include "absl/random/bit_gen_ref.h"
#include "absl/time/time.h"

namespace corral::core {

// corral's one backoff formula: exponential backoff with full jitter (the AWS
// architecture blog's "full jitter"), a uniform wait in
// [0, min(max_backoff, initial_backoff * 2^(attempt-1))]. `attempt` counts
// from 1 (the wait after the first failure). Randomness comes from the caller.
absl::Duration FullJitterBackoff(absl::Duration initial_backoff,
                                 absl::Duration max_backoff, int attempt,
                                 absl::BitGenRef gen);

}  // namespace corral::core

#endif  // CORRAL_CORE_BACKOFF_H_
