#ifndef CORRAL_CORE_PRIORITY_H_
#define CORRAL_CORE_PRIORITY_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace corral::core {

// Alert severity on Falcosidekick's rising scale (Debug lowest, Emergency
// highest), so that "at least Warning" is a plain comparison. Falco's own gRPC
// enum runs the other way (EMERGENCY = 0); convert by name, never by number.
enum class Priority : int {
  kDebug = 1,
  kInformational = 2,
  kNotice = 3,
  kWarning = 4,
  kError = 5,
  kCritical = 6,
  kAlert = 7,
  kEmergency = 8,
};

// Parses a priority name in any case; "info" is accepted for Informational.
// Returns InvalidArgument naming the value when it is not a priority.
absl::StatusOr<Priority> ParsePriority(absl::string_view name);

// The long, Title-case form Falco writes ("Warning", "Informational").
absl::string_view PriorityName(Priority priority);

}  // namespace corral::core

#endif  // CORRAL_CORE_PRIORITY_H_
