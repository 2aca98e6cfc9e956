#ifndef CORRAL_CORE_INTAKE_H_
#define CORRAL_CORE_INTAKE_H_

#include <cstdint>
#include <functional>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/alert.h"
#include "core/metrics.h"

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

// corral_inputs_total{source, status}: the alerts one kind of input (`source`:
// http, grpc, falco_grpc, gcpaudit) received, by outcome: accepted (spooled),
// invalid (never acceptable: it does not decode, or the intake refused it as
// InvalidArgument), refused (no room now, or shutting down). Every input
// counts into this one family, so that a dashboard sums them all. Each answer
// counts: an alert submitted again after a refusal (a sender's retry, or
// falco_grpc holding it) counts once per refusal. gcpaudit counts the alerts
// its rules make; Pub/Sub messages that are no audit entry are counted by
// corral_gcpaudit_dead_lettered_total.
class InputCounters {
 public:
  InputCounters(MetricsRegistry* metrics, absl::string_view source);

  // Counts the intake's answer for one alert.
  void Count(const absl::StatusOr<uint64_t>& answer) const;
  // Counts an alert that was invalid before it reached the intake.
  void CountInvalid() const { invalid_->Inc(); }

 private:
  Counter* accepted_;
  Counter* invalid_;
  Counter* refused_;
};

}  // namespace corral::core

#endif  // CORRAL_CORE_INTAKE_H_
