#include "outputs/pubsub/pubsub_config.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace corral::outputs {
namespace {

bool IsAlertAttribute(absl::string_view key) {
  return std::find(kPubSubAlertAttributes.begin(), kPubSubAlertAttributes.end(),
                   key) != kPubSubAlertAttributes.end();
}

// The `attributes` map, each key checked where it is written.
std::map<std::string, std::string> ParseAttributes(core::ConfigMap& map) {
  std::map<std::string, std::string> out;
  core::ConfigMap attributes = map.Map("attributes");
  // Absent: empty; not a map: ConfigMap reported it.
  if (!attributes.node().IsMap()) return out;
  for (auto it = attributes.node().begin(); it != attributes.node().end();
       ++it) {
    if (!it->first.IsScalar()) {
      map.Error("attributes", "expected string keys and string values");
      continue;
    }
    const std::string key = it->first.Scalar();
    if (!it->second.IsScalar()) {
      // String() reports the value's type at its position.
      (void)attributes.String(key);
      continue;
    }
    std::string value = attributes.String(key);
    if (key.empty()) {
      attributes.Error(key, "an attribute needs a non-empty name");
    } else if (IsAlertAttribute(key)) {
      attributes.Error(
          key, absl::StrCat("\"", key, "\" is set by corral from each alert (",
                            absl::StrJoin(kPubSubAlertAttributes, ", "),
                            "); give this attribute another name"));
    } else if (absl::StartsWith(key, "goog")) {
      attributes.Error(key,
                       "names starting with \"goog\" are reserved by "
                       "Pub/Sub");
    } else if (key.size() > kPubSubMaxAttributeKeyBytes) {
      attributes.Error(key, absl::StrCat("the name is ", key.size(),
                                         " bytes, Pub/Sub takes at most ",
                                         kPubSubMaxAttributeKeyBytes));
    } else if (value.size() > kPubSubMaxAttributeValueBytes) {
      attributes.Error(key, absl::StrCat("the value is ", value.size(),
                                         " bytes, Pub/Sub takes at most ",
                                         kPubSubMaxAttributeValueBytes));
    }
    out[key] = std::move(value);
  }
  const size_t room = kPubSubMaxAttributes - kPubSubAlertAttributes.size();
  if (out.size() > room) {
    map.Error("attributes",
              absl::StrCat(
                  out.size(), " attributes; Pub/Sub takes ",
                  kPubSubMaxAttributes, " per message, and corral sets ",
                  kPubSubAlertAttributes.size(), " itself, so at most ", room));
  }
  return out;
}

}  // namespace

std::optional<PubSubConfig> ParsePubSubConfig(core::ConfigMap& map,
                                              const core::EnvLookup& env) {
  const size_t errors_before = map.errors()->messages().size();
  PubSubConfig config;
  config.topic = map.RequiredString("topic");
  if (!config.topic.empty() &&
      !core::IsPubSubResourceName(config.topic, "topics")) {
    map.Error("topic",
              absl::StrCat("expected projects/PROJECT/topics/TOPIC, got \"",
                           config.topic, "\""));
  }
  config.connection = core::ParsePubSubConnection(map, env);
  config.attributes = ParseAttributes(map);
  config.timeout = map.Duration("timeout", config.timeout);
  if (config.timeout <= absl::ZeroDuration())
    map.Error("timeout", "must be more than 0");
  if (map.errors()->messages().size() != errors_before) return std::nullopt;
  return config;
}

}  // namespace corral::outputs
