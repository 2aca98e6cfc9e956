#ifndef CORRAL_TESTS_OUTPUTS_PARSE_OUTPUT_KEYS_H_
#define CORRAL_TESTS_OUTPUTS_PARSE_OUTPUT_KEYS_H_

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>

#include "absl/strings/str_join.h"
#include "core/config_node.h"

namespace corral::outputs {

// What an output's config parser made of an `outputs[0]` mapping: the config
// (nullopt on errors) and every error, one per line.
template <typename Config>
struct ParsedOutputKeys {
  std::optional<Config> config;
  std::string errors;
};

// Runs `parse` (any callable ConfigMap& -> std::optional<Config>, e.g. a
// lambda that passes an injected environment) on `yaml` as the registry does:
// name and type already known, unknown keys then rejected.
template <typename Config, typename Parse>
ParsedOutputKeys<Config> ParseOutputKeysWith(Parse&& parse,
                                             const std::string& yaml) {
  core::ConfigErrors errors("test.yaml");
  core::ConfigMap map(YAML::Load(yaml), "outputs[0]", &errors,
                      {"name", "type"});
  ParsedOutputKeys<Config> p;
  p.config = parse(map);
  map.RejectUnknownKeys();
  p.errors = absl::StrJoin(errors.messages(), "\n");
  return p;
}

// The same for a plain parser (ParseSlackConfig, ParseChronicleConfig, ...).
template <typename Config>
ParsedOutputKeys<Config> ParseOutputKeys(
    std::optional<Config> (*parse)(core::ConfigMap&), const std::string& yaml) {
  return ParseOutputKeysWith<Config>(parse, yaml);
}

}  // namespace corral::outputs

#endif  // CORRAL_TESTS_OUTPUTS_PARSE_OUTPUT_KEYS_H_
