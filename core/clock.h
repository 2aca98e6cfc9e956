#ifndef CORRAL_CORE_CLOCK_H_
#define CORRAL_CORE_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace corral::core {

// Wall-clock time, injected so that code that reasons about time (Retry-After
// dates, retry deadlines, token expiry) can be tested without waiting.
// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The process-wide real clock.
  static Clock* Real();
};

}  // namespace corral::core

#endif  // CORRAL_CORE_CLOCK_H_
