#include "outputs/slack/slack_config.h"

#include <yaml-cpp/yaml.h>

#include <string>

#include "absl/strings/str_join.h"
#include "core/config_node.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/outputs/parse_output_keys.h"

namespace corral::outputs {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using Parsed = ParsedOutputKeys<SlackConfig>;

Parsed Parse(const std::string& yaml) {
  return ParseOutputKeys(&ParseSlackConfig, yaml);
}

TEST(SlackConfigTest, Defaults) {
  Parsed p = Parse("{webhook_url: 'https://hooks.slack.com/services/T/B/X'}");
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->webhook_url, "https://hooks.slack.com/services/T/B/X");
  EXPECT_EQ(p.config->output_format, SlackOutputFormat::kAll);
  EXPECT_EQ(p.config->footer, "corral");
  EXPECT_FALSE(p.config->message_template);
  EXPECT_EQ(p.config->rate_limit_per_second, 1.0);
  EXPECT_EQ(p.config->rate_limit_burst, 3);
  EXPECT_EQ(p.config->digest_after, 3);
  EXPECT_EQ(p.config->digest_examples, 3);
  EXPECT_EQ(p.config->timeout, absl::Seconds(10));
}

TEST(SlackConfigTest, EveryKey) {
  Parsed p = Parse(R"({webhook_url: 'http://127.0.0.1:9/services/a',
      channel: '#secops', username: falco, icon_url: 'https://x/i.png',
      footer: prod, output_format: fields,
      message_template: 'Alert {{rule}} on {{hostname}}',
      rate_limit_per_second: 0.5, rate_limit_burst: 2, digest_after: 0,
      digest_examples: 5, timeout: 3s, connect_timeout: 1s})");
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->channel, "#secops");
  EXPECT_EQ(p.config->username, "falco");
  EXPECT_EQ(p.config->icon_url, "https://x/i.png");
  EXPECT_EQ(p.config->footer, "prod");
  EXPECT_EQ(p.config->output_format, SlackOutputFormat::kFields);
  ASSERT_TRUE(p.config->message_template);
  EXPECT_EQ(p.config->message_template->parts().size(), 4u);
  EXPECT_EQ(p.config->rate_limit_per_second, 0.5);
  EXPECT_EQ(p.config->rate_limit_burst, 2);
  EXPECT_EQ(p.config->digest_after, 0);
  EXPECT_EQ(p.config->digest_examples, 5);
  EXPECT_EQ(p.config->timeout, absl::Seconds(3));
  EXPECT_EQ(p.config->connect_timeout, absl::Seconds(1));
}

TEST(SlackConfigTest, WebhookUrlIsRequiredAndHttp) {
  EXPECT_THAT(Parse("{}").errors, HasSubstr("outputs[0].webhook_url"));
  Parsed p = Parse("{webhook_url: 'ftp://hooks.slack.com/services/SECRET'}");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors, HasSubstr("must start with http:// or https://"));
  EXPECT_THAT(p.errors, Not(HasSubstr("SECRET")));
  EXPECT_THAT(Parse("{webhook_url: 'https:///x'}").errors,
              HasSubstr("has no host"));
}

TEST(SlackConfigTest, RejectsBadValues) {
  const std::string url = "webhook_url: 'https://h/s', ";
  EXPECT_THAT(Parse("{" + url + "output_format: html}").errors,
              HasSubstr("output_format"));
  EXPECT_THAT(Parse("{" + url + "rate_limit_per_second: 0}").errors,
              HasSubstr("rate_limit_per_second"));
  EXPECT_THAT(Parse("{" + url + "rate_limit_per_second: -1}").errors,
              HasSubstr("rate_limit_per_second"));
  EXPECT_THAT(Parse("{" + url + "rate_limit_per_second: fast}").errors,
              HasSubstr("rate_limit_per_second"));
  EXPECT_THAT(Parse("{" + url + "rate_limit_burst: 0}").errors,
              HasSubstr("rate_limit_burst"));
  EXPECT_THAT(Parse("{" + url + "digest_after: 1}").errors,
              HasSubstr("digest_after"));
  EXPECT_THAT(Parse("{" + url + "digest_after: -2}").errors,
              HasSubstr("digest_after"));
  EXPECT_THAT(Parse("{" + url + "timeout: 0s}").errors, HasSubstr("timeout"));
}

TEST(SlackConfigTest, UnknownKeysAreRejected) {
  Parsed p = Parse("{webhook_url: 'https://h/s', webhookurl: 'https://h/s'}");
  EXPECT_THAT(p.errors, HasSubstr("webhookurl"));
  EXPECT_THAT(p.errors, HasSubstr("unknown key"));
}

TEST(SlackConfigTest, TemplateErrorsAtConfigTime) {
  const std::string url = "webhook_url: 'https://h/s', ";
  Parsed p = Parse("{" + url + "message_template: 'x {{rulez}} y'}");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors, HasSubstr("unknown placeholder \"{{rulez}}\""));
  EXPECT_THAT(Parse("{" + url + "message_template: 'x {{rule'}").errors,
              HasSubstr("never closed"));
  EXPECT_THAT(
      Parse("{" + url + "message_template: '{{output_fields.}}'}").errors,
      HasSubstr("unknown placeholder"));
  EXPECT_THAT(
      Parse("{" + url + "message_template: '{{ index .Foo \"a\" }}'}").errors,
      HasSubstr("unknown placeholder"));
}

TEST(SlackTemplateTest, NativeAndFalcosidekickSpellings) {
  absl::StatusOr<SlackTemplate> t = SlackTemplate::Parse(
      "{{rule}}|{{ .Priority }}|{{output_fields.proc.name}}|"
      "{{ index .OutputFields \"fd.name\" }}");
  ASSERT_TRUE(t.ok()) << t.status();
  using Kind = SlackTemplate::Part::Kind;
  ASSERT_EQ(t->parts().size(), 7u);
  EXPECT_EQ(t->parts()[0].kind, Kind::kRule);
  EXPECT_EQ(t->parts()[2].kind, Kind::kPriority);
  EXPECT_EQ(t->parts()[4].kind, Kind::kOutputField);
  EXPECT_EQ(t->parts()[4].text, "proc.name");
  EXPECT_EQ(t->parts()[6].kind, Kind::kOutputField);
  EXPECT_EQ(t->parts()[6].text, "fd.name");
}

}  // namespace
}  // namespace corral::outputs
