#ifndef CORRAL_TESTS_FAKES_RECORDING_INTAKE_H_
#define CORRAL_TESTS_FAKES_RECORDING_INTAKE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "core/intake.h"

namespace corral::fakes {

// An Intake for testing inputs: answers every alert at once with `answer`
// (a seq, or a refusal) and keeps every alert it was given. Not thread-safe.
class RecordingIntake : public core::Intake {
 public:
  void Submit(core::Alert alert, core::IntakeDone done) override {
    submitted.push_back(std::move(alert));
    std::move(done)(answer);
  }

  absl::StatusOr<uint64_t> answer = uint64_t{41};
  std::vector<core::Alert> submitted;
};

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_RECORDING_INTAKE_H_
