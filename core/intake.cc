#include "core/intake.h"

namespace corral::core {

InputCounters::InputCounters(MetricsRegistry* metrics,
                             absl::string_view source) {
  CounterFamily* inputs = metrics->AddCounter(
      "corral_inputs_total", "Alerts received, by input and outcome.",
      {"source", "status"});
  const std::string s(source);
  accepted_ = inputs->With({s, "accepted"});
  invalid_ = inputs->With({s, "invalid"});
  refused_ = inputs->With({s, "refused"});
}

void InputCounters::Count(const absl::StatusOr<uint64_t>& answer) const {
  if (answer.ok()) {
    accepted_->Inc();
  } else if (absl::IsInvalidArgument(answer.status())) {
    invalid_->Inc();
  } else {
    refused_->Inc();
  }
}

}  // namespace corral::core
