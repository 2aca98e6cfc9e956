#include "outputs/registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace corral::outputs {

absl::Status Registry::Register(const std::string& type,
                                OutputFactory factory) {
  if (!factories_.emplace(type, std::move(factory)).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("output type \"", type, "\" is registered twice"));
  }
  return absl::OkStatus();
}

std::vector<std::string> Registry::Types() const {
  std::vector<std::string> types;
  for (const auto& [type, factory] : factories_) types.push_back(type);
  return types;
}

absl::StatusOr<std::unique_ptr<Output>> Registry::Create(
    const core::OutputConfig& config, const std::string& config_source,
    const OutputContext& context) const {
  core::ConfigErrors errors(config_source);
  auto it = factories_.find(config.type);
  if (it == factories_.end()) {
    core::ConfigMap map(config.node, config.path, &errors,
                        core::CommonOutputKeys());
    map.Error("type",
              absl::StrCat("unknown output type \"", config.type,
                           "\" (known: ", absl::StrJoin(Types(), ", "), ")"));
    return errors.ToStatus();
  }
  core::ConfigMap map(config.node, config.path, &errors,
                      core::CommonOutputKeys());
  std::unique_ptr<Output> output = it->second(config, map, context);
  map.RejectUnknownKeys();
  if (!errors.empty()) return errors.ToStatus();
  if (output == nullptr) {
    errors.Add(config.node, config.path, "could not be built");
    return errors.ToStatus();
  }
  return output;
}

}  // namespace corral::outputs
