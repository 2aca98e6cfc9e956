#ifndef CORRAL_TESTS_OUTPUTS_PARSE_OUTPUT_KEYS_H_
#define CORRAL_TESTS_OUTPUTS_PARSE_OUTPUT_KEYS_H_

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <type_traits>

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

// Runs `parse` (ParseSlackConfig, ParseChronicleConfig, or any callable
// taking a core::ConfigMap& and returning std::optional<Config>) on `yaml` as
// the registry does: name and type already known, unknown keys then rejected.
template <typename Parse, typename Config = typename std::invoke_result_t<
                              Parse, core::ConfigMap&>::value_type>
ParsedOutputKeys<Config> ParseOutputKeys(Parse parse, const std::string& yaml) {
  core::ConfigErrors errors("test.yaml");
  core::ConfigMap map(YAML::Load(yaml), "outputs[0]", &errors,
                      {"name", "type"});
  ParsedOutputKeys<Config> p;
  p.config = parse(map);
  map.RejectUnknownKeys();
  p.errors = absl::StrJoin(errors.messages(), "\n");
  return p;
}

}  // namespace corral::outputs

#endif  // CORRAL_TESTS_OUTPUTS_PARSE_OUTPUT_KEYS_H_
