#ifndef CORRAL_TESTS_OUTPUTS_MAKE_OUTPUT_H_
#define CORRAL_TESTS_OUTPUTS_MAKE_OUTPUT_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/config.h"
#include "outputs/output.h"
#include "outputs/registry.h"

namespace corral::outputs {

// The common part of an output's config as the config reader makes it: name,
// type, batch.max_items, and the mapping `yaml` (with "type" set) as its node.
inline core::OutputConfig OutputCommon(const std::string& name,
                                       const std::string& type,
                                       const std::string& yaml,
                                       int64_t max_items) {
  core::OutputConfig common;
  common.name = name;
  common.type = type;
  common.batch.max_items = max_items;
  common.node = YAML::Load(yaml);
  common.node["type"] = type;
  return common;
}

// Creates the output through a registry holding the built-in types, as
// corral does at start-up (errors name test.yaml).
inline absl::StatusOr<std::unique_ptr<Output>> CreateBuiltinOutput(
    const core::OutputConfig& common, const OutputContext& context = {}) {
  Registry registry;
  RegisterBuiltinOutputs(registry);
  return registry.Create(common, "test.yaml", context);
}

}  // namespace corral::outputs

#endif  // CORRAL_TESTS_OUTPUTS_MAKE_OUTPUT_H_
