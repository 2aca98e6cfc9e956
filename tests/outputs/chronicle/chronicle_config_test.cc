#include "outputs/chronicle/chronicle_config.h"

#include <yaml-cpp/yaml.h>

#include <string>

#include "absl/strings/str_join.h"
#include "core/config_node.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/outputs/parse_output_keys.h"

namespace corral::outputs {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

using Parsed = ParsedOutputKeys<ChronicleConfig>;

Parsed Parse(const std::string& yaml) {
  return ParseOutputKeys(&ParseChronicleConfig, yaml);
}

TEST(ChronicleConfigTest, ChronicleApiDefaults) {
  Parsed p = Parse(
      "{project: my-proj, region: europe, "
      "instance: 0a1b2c3d-4e5f-6789-abcd-ef0123456789}");
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->api, ChronicleApi::kChronicle);
  EXPECT_EQ(p.config->log_type, "FALCO_IDS");
  EXPECT_EQ(p.config->endpoint, "https://chronicle.europe.rep.googleapis.com");
  EXPECT_EQ(p.config->credentials_file, "");
  EXPECT_EQ(p.config->timeout, absl::Seconds(30));
  EXPECT_EQ(p.config->MaxRequestBytes(), 4u << 20);
}

TEST(ChronicleConfigTest, ChronicleApiEveryKey) {
  Parsed p = Parse(
      "{api: chronicle, project: p, region: us, instance: i, log_type: "
      "CUSTOM_FALCO, endpoint: 'http://127.0.0.1:9/', credentials_file: "
      "/k.json, timeout: 5s, connect_timeout: 1s}");
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->log_type, "CUSTOM_FALCO");
  EXPECT_EQ(p.config->endpoint, "http://127.0.0.1:9");  // no trailing slash
  EXPECT_EQ(p.config->credentials_file, "/k.json");
  EXPECT_EQ(p.config->timeout, absl::Seconds(5));
  EXPECT_EQ(p.config->connect_timeout, absl::Seconds(1));
}

TEST(ChronicleConfigTest, LegacyHostsFollowTheRegion) {
  Parsed us = Parse("{api: legacy, instance: cust-1}");
  ASSERT_TRUE(us.config) << us.errors;
  EXPECT_EQ(us.config->endpoint,
            "https://malachiteingestion-pa.googleapis.com");
  EXPECT_EQ(us.config->MaxRequestBytes(), 1u << 20);
  Parsed eu = Parse("{api: legacy, instance: cust-1, region: europe}");
  ASSERT_TRUE(eu.config) << eu.errors;
  EXPECT_EQ(eu.config->endpoint,
            "https://europe-malachiteingestion-pa.googleapis.com");
  EXPECT_EQ(eu.config->instance, "cust-1");
}

TEST(ChronicleConfigTest, Webhook) {
  Parsed p = Parse(
      "{api: webhook, feed_url: 'https://x.googleapis.com/v1alpha/feeds/"
      "f:importPushLogs', api_key: k, secret: s}");
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->api, ChronicleApi::kWebhook);
  EXPECT_EQ(p.config->api_key, "k");
  EXPECT_EQ(p.config->secret, "s");
}

TEST(ChronicleConfigTest, AllErrorsAtOnce) {
  Parsed p = Parse("{region: 'us/x', colour: red, timeout: 0s}");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors,
              AllOf(HasSubstr("outputs[0].project: is required"),
                    HasSubstr("outputs[0].instance: is required"),
                    HasSubstr("outputs[0].region: \"us/x\" may only hold"),
                    HasSubstr("outputs[0].timeout: must be more than 0"),
                    HasSubstr("outputs[0].colour: unknown key")));
}

TEST(ChronicleConfigTest, KeysOfAnotherApiAreRefused) {
  Parsed p = Parse(
      "{api: webhook, feed_url: 'https://h/f', api_key: k, secret: s, "
      "project: p, credentials_file: /k.json}");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors,
              AllOf(HasSubstr("project: only applies to api: chronicle"),
                    HasSubstr("credentials_file: only applies to api: "
                              "chronicle or legacy"),
                    Not(HasSubstr("unknown key"))));
  Parsed q = Parse("{project: p, region: us, instance: i, secret: s}");
  EXPECT_FALSE(q.config);
  EXPECT_THAT(q.errors, HasSubstr("secret: only applies to api: webhook"));
}

TEST(ChronicleConfigTest, WebhookErrorsDoNotEchoSecrets) {
  Parsed p = Parse("{api: webhook, feed_url: 'ftp://h/SECRETPATH'}");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(
      p.errors,
      AllOf(HasSubstr("feed_url: must start with http:// or https://"),
            HasSubstr("api_key: is required"), HasSubstr("secret: is required"),
            Not(HasSubstr("SECRETPATH"))));
}

TEST(ChronicleConfigTest, BadApiAndEndpoint) {
  Parsed p = Parse("{api: grpc, project: p, region: us, instance: i}");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors, HasSubstr("outputs[0].api:"));
  Parsed q =
      Parse("{project: p, region: us, instance: i, endpoint: 'chronicle'}");
  EXPECT_FALSE(q.config);
  EXPECT_THAT(q.errors, HasSubstr("endpoint: must start with http://"));
}

}  // namespace
}  // namespace corral::outputs
