#include "outputs/pubsub/pubsub_config.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/outputs/parse_output_keys.h"

namespace corral::outputs {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using Parsed = ParsedOutputKeys<PubSubConfig>;

const char* NoEnv(const char*) { return nullptr; }

Parsed Parse(const std::string& yaml, core::EnvLookup env = NoEnv) {
  return ParseOutputKeys(
      [&env](core::ConfigMap& map) { return ParsePubSubConfig(map, env); },
      yaml);
}

TEST(PubSubConfigTest, Defaults) {
  Parsed p = Parse("{topic: projects/my-proj/topics/falco}");
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->topic, "projects/my-proj/topics/falco");
  EXPECT_EQ(p.config->connection.endpoint, "pubsub.googleapis.com:443");
  EXPECT_FALSE(p.config->connection.plaintext);
  EXPECT_EQ(p.config->connection.credentials_file, "");
  EXPECT_EQ(p.config->connection.ca_file, "");
  EXPECT_TRUE(p.config->attributes.empty());
  EXPECT_EQ(p.config->timeout, absl::Seconds(30));
}

TEST(PubSubConfigTest, EveryKey) {
  Parsed p = Parse(R"(
topic: projects/p/topics/t
endpoint: pubsub.example.test:8443
credentials_file: /etc/corral/sa.json
tls: {ca_file: /etc/corral/ca.pem}
attributes: {team: secops, env: prod}
timeout: 5s
)");
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->connection.endpoint, "pubsub.example.test:8443");
  EXPECT_EQ(p.config->connection.credentials_file, "/etc/corral/sa.json");
  EXPECT_EQ(p.config->connection.ca_file, "/etc/corral/ca.pem");
  EXPECT_EQ(p.config->attributes, (std::map<std::string, std::string>{
                                      {"env", "prod"}, {"team", "secops"}}));
  EXPECT_EQ(p.config->timeout, absl::Seconds(5));
}

TEST(PubSubConfigTest, EmulatorHostFromTheInjectedEnvironment) {
  Parsed p = Parse(
      "{topic: projects/p/topics/t, endpoint: 'elsewhere:443', "
      "credentials_file: /sa.json}",
      [](const char* name) -> const char* {
        return std::string(name) == "PUBSUB_EMULATOR_HOST" ? "127.0.0.1:8681"
                                                           : nullptr;
      });
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->connection.endpoint, "127.0.0.1:8681");
  EXPECT_TRUE(p.config->connection.plaintext);
  EXPECT_EQ(p.config->connection.credentials_file, "");
}

TEST(PubSubConfigTest, EveryMistakeWithItsPlace) {
  Parsed p = Parse(R"(topic: falco-alerts
endpoint: ''
timeout: 0s
tls: {ca_file: /ca.pem, insecure: true}
colour: blue
)");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors,
              HasSubstr("test.yaml:1:8: outputs[0].topic: expected "
                        "projects/PROJECT/topics/TOPIC, got \"falco-alerts\""));
  EXPECT_THAT(p.errors,
              HasSubstr("test.yaml:2:11: outputs[0].endpoint: must not be "
                        "empty"));
  EXPECT_THAT(p.errors,
              HasSubstr("test.yaml:3:10: outputs[0].timeout: must be more "
                        "than 0"));
  EXPECT_THAT(p.errors,
              HasSubstr("test.yaml:4:25: outputs[0].tls.insecure: unknown "
                        "key"));
  EXPECT_THAT(p.errors,
              HasSubstr("test.yaml:5:1: outputs[0].colour: unknown key"));
}

TEST(PubSubConfigTest, TopicIsRequired) {
  Parsed p = Parse("{endpoint: 'x:1'}");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors, HasSubstr("outputs[0].topic: "));
}

TEST(PubSubConfigTest, AttributesMayNotTakeTheAlertsNames) {
  Parsed p = Parse(R"(topic: projects/p/topics/t
attributes:
  rule: mine
  team: secops
  hostname: h
)");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors,
              HasSubstr("test.yaml:3:9: outputs[0].attributes.rule: \"rule\" "
                        "is set by corral from each alert (rule, priority, "
                        "source, hostname)"));
  EXPECT_THAT(p.errors,
              HasSubstr("test.yaml:5:13: outputs[0].attributes.hostname: "));
  EXPECT_THAT(p.errors, Not(HasSubstr("attributes.team")));
}

TEST(PubSubConfigTest, AttributesWithinPubSubsLimits) {
  const std::string long_key(257, 'k');
  Parsed p = Parse(absl::StrCat(
      "topic: projects/p/topics/t\nattributes:\n  googfoo: x\n  ", long_key,
      ": v\n  big: ", std::string(1025, 'v'), "\n  list: [a, b]\n"));
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors, HasSubstr("attributes.googfoo: names starting with "
                                  "\"goog\" are reserved"));
  EXPECT_THAT(p.errors, HasSubstr("the name is 257 bytes, Pub/Sub takes at "
                                  "most 256"));
  EXPECT_THAT(p.errors, HasSubstr("attributes.big: the value is 1025 bytes, "
                                  "Pub/Sub takes at most 1024"));
  EXPECT_THAT(p.errors, HasSubstr("attributes.list: expected a string"));

  std::string many = "topic: projects/p/topics/t\nattributes:\n";
  for (int i = 0; i < 97; ++i) absl::StrAppend(&many, "  a", i, ": v\n");
  Parsed too_many = Parse(many);
  EXPECT_FALSE(too_many.config);
  EXPECT_THAT(too_many.errors,
              HasSubstr("outputs[0].attributes: 97 attributes; Pub/Sub takes "
                        "100 per message, and corral sets 4 itself, so at "
                        "most 96"));

  Parsed not_a_map = Parse("{topic: projects/p/topics/t, attributes: [a]}");
  EXPECT_FALSE(not_a_map.config);
  EXPECT_THAT(not_a_map.errors, HasSubstr("outputs[0].attributes: "));
}

}  // namespace
}  // namespace corral::outputs
