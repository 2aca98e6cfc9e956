#include "core/backoff.h"

#include <algorithm>
#include <cstdint>

#include "absl/random/distributions.h"

namespace corral::core {

absl::Duration FullJitterBackoff(absl::Duration initial_backoff,
                                 absl::Duration max_backoff, int attempt,
                                 absl::BitGenRef gen) {
  absl::Duration cap = initial_backoff;
  for (int i = 1; i < attempt && cap < max_backoff; ++i) cap *= 2;
  cap = std::min(cap, max_backoff);
  return absl::Nanoseconds(absl::Uniform<int64_t>(
      absl::IntervalClosed, gen, 0, absl::ToInt64Nanoseconds(cap)));
}

}  // namespace corral::core
