#include "ingest/rules/output.h"

#include <string>

#include "boost/json.hpp"
#include "core/alert_json.h"
#include "core/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingest/gcpaudit/log_entry_fields.h"
#include "ingest/rules/rule_engine.h"
#include "ingest/rules/rules_loader.h"

namespace corral::ingest::rules {
namespace {

using gcpaudit::LogEntryFields;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kFixtures = std::string(CORRAL_FIXTURES_DIR) + "/gcpaudit/";

LogEntryFields Fixture(const std::string& name) {
  auto e = LogEntryFields::Parse(
      core::ReadFileToString(kFixtures + name).value_or(""));
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

std::string Format(const std::string& text, const LogEntryFields& e) {
  auto f = OutputFormat::Compile(text);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? f->Format(e) : "";
}

TEST(OutputFormatTest, InterpolatesFieldsArgumentsAndNA) {
  LogEntryFields e = Fixture("compute_instances_insert.json");
  EXPECT_EQ(Format("user=%gcp.user ip=%gcp.callerIP", e),
            "user=project-id@cloudservices.gserviceaccount.com "
            "ip=175.16.199.45");
  EXPECT_EQ(Format("m=%json.value[/protoPayload/methodName]!", e),
            "m=v1.compute.instances.insert!");
  EXPECT_EQ(Format("bucket=%gcp.storage.bucket ds=%json.value[/nope]", e),
            "bucket=<NA> ds=<NA>");
  // A % that does not start a field is literal text.
  EXPECT_EQ(Format("100% sure, %% and % x and %1", e),
            "100% sure, %% and % x and %1");
  EXPECT_EQ(Format("%gcp.projectId/%gcp.projectId", e),
            "project-id/project-id");
  EXPECT_EQ(Format("no fields", e), "no fields");
}

TEST(OutputFormatTest, CompileErrors) {
  EXPECT_THAT(OutputFormat::Compile("x=%gcp.nope").status().message(),
              HasSubstr("at column 3: unknown field gcp.nope"));
  EXPECT_THAT(OutputFormat::Compile("%json.value[/a").status().message(),
              HasSubstr("missing ']'"));
  EXPECT_FALSE(OutputFormat::Compile("%json.value").ok());
}

TEST(OutputFormatTest, FieldsAreDistinctInFirstUseOrderAndJsonHasNulls) {
  LogEntryFields e = Fixture("compute_instances_insert.json");
  auto f = OutputFormat::Compile(
      "%gcp.user %gcp.storage.bucket %gcp.user %json.value[/insertId]");
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(f->fields().size(), 3u);
  EXPECT_EQ(f->fields()[0].name, "gcp.user");
  EXPECT_EQ(f->fields()[2].name, "json.value[/insertId]");
  EXPECT_EQ(
      f->FieldsJson(e),
      R"({"gcp.user":"project-id@cloudservices.gserviceaccount.com",)"
      R"("gcp.storage.bucket":null,"json.value[/insertId]":"-w5vrlhdm7gk"})");
}

TEST(BuildAlertTest, FromUpstreamRuleOnFixture) {
  LoadResult r =
      LoadRulesFiles({kFixtures + "upstream_gcp_auditlog_rules.yaml"});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  LogEntryFields e = Fixture("crm_set_iam_policy.json");
  auto matches = r.rules->Evaluate(e, RuleMatching::kFirst);
  ASSERT_EQ(matches.size(), 1u);
  core::Alert a = BuildAlert(*matches[0], e, "host-1");
  EXPECT_EQ(a.rule, "GCP IAM policy modified");
  EXPECT_EQ(a.source, "gcp_auditlog");
  EXPECT_EQ(a.hostname, "host-1");
  EXPECT_EQ(a.priority, core::Priority::kNotice);
  EXPECT_EQ(core::FormatAlertTime(a.time), "2024-11-19T13:12:20.942393Z");
  EXPECT_THAT(a.tags,
              ElementsAre("GCP", "IAM", "abuse-elevation-control-mechanism"));
  EXPECT_THAT(
      a.output,
      StartsWith("project=project-id A GCP IAM policy was modified by "
                 "user=made-up-ci-account@project-id.iam.gserviceaccount.com "
                 "bindingPolicy=[{\"action\":\"ADD\","));
  boost::json::object fields = core::ParseOutputFields(a);
  std::vector<std::string> keys;
  for (const auto& kv : fields) keys.emplace_back(kv.key());
  EXPECT_THAT(keys, ElementsAre("gcp.projectId", "gcp.user", "gcp.policyDelta",
                                "gcp.callerIP", "gcp.userAgent",
                                "gcp.authorizationInfo", "gcp.request"));
  EXPECT_EQ(fields["gcp.callerIP"], "192.168.0.1");
  EXPECT_EQ(fields["gcp.policyDelta"].as_string().subview().substr(0, 20),
            "[{\"action\":\"ADD\",\"me");
}

TEST(BuildAlertTest, EncodesAsFalcoJson) {
  LoadResult r =
      LoadRulesFiles({kFixtures + "upstream_gcp_auditlog_rules.yaml"});
  ASSERT_TRUE(r.ok());
  LogEntryFields e = Fixture("compute_instances_insert.json");
  auto matches = r.rules->Evaluate(e, RuleMatching::kFirst);
  ASSERT_EQ(matches.size(), 1u);
  std::string json = core::EncodeFalcoAlert(BuildAlert(*matches[0], e, "h"));
  auto decoded = core::DecodeFalcoAlert(json);
  ASSERT_TRUE(decoded.ok()) << decoded.status() << "\n" << json;
  EXPECT_EQ(decoded->rule, "GCP VM modified");
  EXPECT_EQ(decoded->source, "gcp_auditlog");
  EXPECT_EQ(core::FormatAlertTime(decoded->time),
            "2024-11-19T13:13:13.176899Z");
}

TEST(RuleMatchingTest, Parse) {
  EXPECT_EQ(*ParseRuleMatching("first"), RuleMatching::kFirst);
  EXPECT_EQ(*ParseRuleMatching("all"), RuleMatching::kAll);
  EXPECT_FALSE(ParseRuleMatching("some").ok());
}

}  // namespace
}  // namespace corral::ingest::rules
