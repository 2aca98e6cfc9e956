#ifndef CORRAL_CORE_INTAKE_H_
#define CORRAL_CORE_INTAKE_H_

#include <cstdint>
#include <functional>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/alert.h"

namespace corral::core {

// Called exactly once per submitted alert: with the alert's sequence number
// once it is accepted (from then on corral owns its delivery), or with the
// reason it was refused:
//   InvalidArgument    the alert itself is bad (HTTP 400)
//   ResourceExhausted  no room to accept it now (HTTP 503, Pub/Sub nack,
//                      gRPC RESOURCE_EXHAUSTED)
//   Unavailable        corral is shutting down (HTTP 503)
// It may run on the caller's thread or on another thread; it must not block for
// long.
using IntakeDone = absl::AnyInvocable<void(absl::StatusOr<uint64_t> seq) &&>;

// Where an input records what it received and can never hand to the intake
// (a message that is no alert, an alert refused for good, or held when corral
// stops), so that it can let go of it without losing it: the dead-letter file
// (router::DeadLetterFile::WriteRejectedInput). OK only once the record is
// durable. `message_id` identifies the input's message, `data` is kept byte
// for byte.
using RejectedInputSink = std::function<absl::Status(
    absl::string_view message_id, absl::string_view reason,
    absl::string_view data)>;

// What every input hands alerts to. Inputs never see the spool or the router
// behind it. Implementations are thread-safe.
class Intake {
 public:
  virtual ~Intake() = default;
  virtual void Submit(Alert alert, IntakeDone done) = 0;
};

}  // namespace corral::core

#endif  // CORRAL_CORE_INTAKE_H_
