#include "ingest/gcpaudit/gcpaudit_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::ingest::gcpaudit {
namespace {

using ::testing::HasSubstr;

const char* NoEnv(const char*) { return nullptr; }

absl::StatusOr<std::vector<GcpAuditConfig>> Parse(const std::string& yaml,
                                                  core::EnvLookup env = NoEnv) {
  return ParseGcpAuditConfigs(YAML::Load(yaml), "corral.yaml", env);
}

TEST(GcpAuditConfigTest, DefaultsAndEveryKey) {
  auto c = Parse(R"(
- name: prod-audit
  subscription: projects/my-proj/subscriptions/falco-gcpaudit
- name: staging
  subscription: projects/stg/subscriptions/audit
  endpoint: pubsub.example.test:8443
  credentials_file: /etc/corral/sa.json
  tls: {ca_file: /etc/corral/ca.pem}
  rules_files: [/etc/corral/a.yaml, /etc/corral/b.yaml]
  rule_matching: all
  hostname: gke-staging
  max_outstanding_messages: 50
  max_outstanding_bytes: 8MiB
  ack_deadline: 30s
  dedup_window: 1h
  max_message_bytes: 512KiB
)");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->size(), 2u);
  const GcpAuditConfig& d = (*c)[0];
  EXPECT_EQ(d.connection.endpoint, "pubsub.googleapis.com:443");
  EXPECT_FALSE(d.connection.plaintext);
  EXPECT_TRUE(d.rules_files.empty());
  EXPECT_EQ(d.rule_matching, rules::RuleMatching::kFirst);
  EXPECT_EQ(d.max_outstanding_messages, 1000);
  EXPECT_EQ(d.ack_deadline, absl::Seconds(60));
  EXPECT_EQ(d.dedup_window, absl::Minutes(10));
  EXPECT_EQ(d.max_message_bytes, 1u << 20);
  const GcpAuditConfig& s = (*c)[1];
  EXPECT_EQ(s.connection.endpoint, "pubsub.example.test:8443");
  EXPECT_EQ(s.connection.credentials_file, "/etc/corral/sa.json");
  EXPECT_EQ(s.connection.ca_file, "/etc/corral/ca.pem");
  EXPECT_EQ(s.rules_files.size(), 2u);
  EXPECT_EQ(s.rule_matching, rules::RuleMatching::kAll);
  EXPECT_EQ(s.hostname, "gke-staging");
  EXPECT_EQ(s.max_outstanding_messages, 50);
  EXPECT_EQ(s.max_outstanding_bytes, 8u << 20);
  EXPECT_EQ(s.ack_deadline, absl::Seconds(30));
  EXPECT_EQ(s.dedup_window, absl::Hours(1));
  EXPECT_EQ(s.max_message_bytes, 512u << 10);
}

TEST(GcpAuditConfigTest, EmulatorHostMeansPlaintextWithoutCredentials) {
  auto c = Parse(R"(
- name: a
  subscription: projects/p/subscriptions/s
  credentials_file: /etc/sa.json
)",
                 [](const char* name) -> const char* {
                   return std::string(name) == "PUBSUB_EMULATOR_HOST"
                              ? "127.0.0.1:8085"
                              : nullptr;
                 });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)[0].connection.endpoint, "127.0.0.1:8085");
  EXPECT_TRUE((*c)[0].connection.plaintext);
  EXPECT_TRUE((*c)[0].connection.credentials_file.empty());
}

TEST(GcpAuditConfigTest, EveryMistakeIsReportedWithItsPlace) {
  auto c = Parse(R"(
- name: a
  subscription: my-subscription
  ack_deadline: 5s
  rule_matching: some
  max_outstanding_bytes: 1KiB
  max_message_bytes: 20MiB
  colour: blue
- subscription: projects/p/subscriptions/s
- name: a
  subscription: projects/p/subscriptions/t
)");
  ASSERT_FALSE(c.ok());
  const std::string m(c.status().message());
  EXPECT_THAT(m, HasSubstr("corral.yaml:3:17: ingest.gcpaudit[0].subscription: "
                           "expected projects/PROJECT/subscriptions/NAME"));
  EXPECT_THAT(m, HasSubstr("ingest.gcpaudit[0].ack_deadline: must be between "
                           "10s and 600s"));
  EXPECT_THAT(m, HasSubstr("ingest.gcpaudit[0].rule_matching"));
  EXPECT_THAT(m, HasSubstr("ingest.gcpaudit[0].max_outstanding_bytes"));
  EXPECT_THAT(m, HasSubstr("ingest.gcpaudit[0].max_message_bytes: must be "
                           "between 1KiB and 10MiB"));
  EXPECT_THAT(m, HasSubstr("ingest.gcpaudit[0].colour"));
  EXPECT_THAT(m, HasSubstr("ingest.gcpaudit[1].name"));
  EXPECT_THAT(m, HasSubstr("ingest.gcpaudit[2].name: \"a\" is already"));
}

TEST(GcpAuditConfigTest, AbsentMeansNone) {
  auto c = ParseGcpAuditConfigs(YAML::Node(), "corral.yaml", NoEnv);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->empty());
}

}  // namespace
}  // namespace corral::ingest::gcpaudit
