#include "core/priority.h"

#include <array>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace corral::core {
namespace {

constexpr std::array<std::pair<absl::string_view, Priority>, 8> kNames = {{
    {"Debug", Priority::kDebug},
    {"Informational", Priority::kInformational},
    {"Notice", Priority::kNotice},
    {"Warning", Priority::kWarning},
    {"Error", Priority::kError},
    {"Critical", Priority::kCritical},
    {"Alert", Priority::kAlert},
    {"Emergency", Priority::kEmergency},
}};

}  // namespace

absl::StatusOr<Priority> ParsePriority(absl::string_view name) {
  for (const auto& [canonical, priority] : kNames) {
    if (absl::EqualsIgnoreCase(name, canonical)) return priority;
  }
  if (absl::EqualsIgnoreCase(name, "info")) return Priority::kInformational;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown priority \"", name,
      "\" (want emergency, alert, critical, error, warning, notice, "
      "informational or debug)"));
}

absl::string_view PriorityName(Priority priority) {
  for (const auto& [canonical, p] : kNames) {
    if (p == priority) return canonical;
  }
  return "Debug";
}

}  // namespace corral::core
