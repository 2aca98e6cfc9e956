#ifndef CORRAL_OUTPUTS_OUTPUT_H_
#define CORRAL_OUTPUTS_OUTPUT_H_

#include <cstdint>
#include <limits>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/alert.h"

namespace corral::outputs {

// What one delivery attempt came to. An output only reports; backoff, attempt
// counting, dead-lettering and metrics live once, in the router's OutputQueue.
struct SendResult {
  enum class Kind { kDelivered, kRetry, kPermanent };

  Kind kind = Kind::kDelivered;
  // kRetry: the destination's own wait (Retry-After); zero lets the retry
  // policy choose.
  absl::Duration retry_after = absl::ZeroDuration();
  // Why it failed, for logs and the dead-letter file; never contains a secret.
  std::string reason;
  // The destination's status: the HTTP status code, or the gRPC status code
  // for gRPC destinations; 0 when there was none (an HTTP connection error).
  int status = 0;

  static SendResult Delivered(int status = 0) {
    return {Kind::kDelivered, absl::ZeroDuration(), "", status};
  }
  static SendResult Retry(std::string reason, int status = 0,
                          absl::Duration after = absl::ZeroDuration()) {
    return {Kind::kRetry, after, std::move(reason), status};
  }
  static SendResult Permanent(std::string reason, int status = 0) {
    return {Kind::kPermanent, absl::ZeroDuration(), std::move(reason), status};
  }
  bool delivered() const { return kind == Kind::kDelivered; }
};

// A destination. Implementations are thread-safe: the queue calls Send() from
// up to `concurrency` worker threads at once. Send() blocks until the attempt
// is over and must return by `deadline`.
class Output {
 public:
  virtual ~Output() = default;

  // Opens what the output needs (files, connections). Called once before the
  // first Send(); a failure stops corral from starting. Not called by
  // `check-config`.
  virtual absl::Status Start() { return absl::OkStatus(); }

  // Delivers `batch` (one alert, or up to MaxBatchItems()) as one attempt: all
  // or nothing.
  virtual SendResult Send(std::span<const core::AlertPtr> batch,
                          absl::Time deadline) = 0;

  // How many alerts one Send() may carry; 1 for destinations that take one at a
  // time.
  virtual int64_t MaxBatchItems() const { return 1; }
  // The most the queue puts in one batch, by its estimate of the alerts' size,
  // whatever batch.max_bytes says: a destination's request limit, so that a
  // batch normally fits one request. The estimate is rough; an output whose
  // requests have a hard limit still checks the exact size.
  virtual uint64_t MaxBatchBytes() const {
    return std::numeric_limits<uint64_t>::max();
  }
};

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_OUTPUT_H_
