#ifndef CORRAL_OUTPUTS_REGISTRY_H_
#define CORRAL_OUTPUTS_REGISTRY_H_

#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/config_node.h"
#include "outputs/output.h"

namespace corral::outputs {

// What an output may use besides its own config. Outlives every output.
struct OutputContext {
  core::Clock* clock = core::Clock::Real();
  std::string user_agent = "corral/" CORRAL_VERSION;
  // The environment outputs consult (PUBSUB_EMULATOR_HOST); tests pass their
  // own rather than change the process's.
  core::EnvLookup env = &std::getenv;
};

// Builds an output of one type from its config. Type-specific keys are read
// from `map` (the output's mapping, with the common keys already known); errors
// are recorded there. Return nullptr after recording errors, or the output.
// Must not do I/O: that is Output::Start().
using OutputFactory = std::function<std::unique_ptr<Output>(
    const core::OutputConfig& common, core::ConfigMap& map,
    const OutputContext& context)>;

// Type name → factory. Filled explicitly (RegisterBuiltinOutputs), never by
// static initialisers.
class Registry {
 public:
  // Fails when the type is already registered.
  absl::Status Register(const std::string& type, OutputFactory factory);
  bool Has(const std::string& type) const { return factories_.count(type) > 0; }
  std::vector<std::string> Types() const;

  // Builds the output, rejecting unknown types and unknown keys. On failure:
  // InvalidArgument listing every problem with file, line and key path.
  absl::StatusOr<std::unique_ptr<Output>> Create(
      const core::OutputConfig& config, const std::string& config_source,
      const OutputContext& context) const;

 private:
  std::map<std::string, OutputFactory> factories_;
};

// Registers stdout, file and webhook (and every other built-in destination).
void RegisterBuiltinOutputs(Registry& registry);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_REGISTRY_H_
