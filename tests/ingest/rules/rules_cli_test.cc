#include "ingest/rules/rules_cli.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "core/alert_json.h"
#include "core/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::ingest::rules {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kFixtures = std::string(CORRAL_FIXTURES_DIR) + "/gcpaudit/";
const std::string kUpstream = kFixtures + "upstream_gcp_auditlog_rules.yaml";

std::string Read(const std::string& name) {
  // One line per entry: the fixture's own trailing newline is dropped.
  return std::string(absl::StripTrailingAsciiWhitespace(
      core::ReadFileToString(kFixtures + name).value_or("")));
}

std::string WriteTemp(const std::string& name, const std::string& content) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << content;
  return path;
}

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

CliRun Cli(const std::vector<std::string>& args,
           const std::string& input = "") {
  std::istringstream in(input);
  std::ostringstream out, err;
  int code = RunRulesCli(args, in, out, err);
  return {code, out.str(), err.str()};
}

std::vector<std::string> Lines(const std::string& s) {
  return absl::StrSplit(s, '\n', absl::SkipEmpty());
}

TEST(RulesCliTest, TestFromStdinWritesOneAlertPerMatch) {
  std::string input = Read("compute_instances_insert.json") + "\n" +
                      "not json\n\n" + Read("crm_set_iam_policy.json") + "\n" +
                      R"({"timestamp":"2024-11-19T13:13:13Z"})" + "\n";
  CliRun r =
      Cli({"test", "--rules", kUpstream, "--input", "-", "--hostname", "h1"},
          input);
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  auto first = core::DecodeFalcoAlert(lines[0]);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->rule, "GCP VM modified");
  EXPECT_EQ(first->hostname, "h1");
  auto second = core::DecodeFalcoAlert(lines[1]);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->rule, "GCP IAM policy modified");
  EXPECT_THAT(r.err, HasSubstr("line 2: LogEntry is not valid JSON"));
  EXPECT_THAT(r.err, HasSubstr("line 5: LogEntry has no protoPayload"));
}

TEST(RulesCliTest, AllReportsEveryMatchingRule) {
  std::string extra = WriteTemp("extra_rules.yaml", R"(
- rule: Any compute call
  desc: d
  condition: is_compute_service
  output: "%gcp.methodName"
  priority: INFO
)");
  std::string input =
      WriteTemp("entries.jsonl", Read("compute_instances_insert.json") + "\n");
  CliRun first = Cli({"test", "--rules", kUpstream, extra, "--input", input});
  EXPECT_EQ(first.code, 0) << first.err;
  EXPECT_EQ(Lines(first.out).size(), 1u);
  CliRun all =
      Cli({"test", "--rules", kUpstream, extra, "--input", input, "--all"});
  EXPECT_EQ(all.code, 0) << all.err;
  std::vector<std::string> lines = Lines(all.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(core::DecodeFalcoAlert(lines[1])->rule, "Any compute call");
  EXPECT_EQ(core::DecodeFalcoAlert(lines[1])->output,
            "v1.compute.instances.insert");
}

TEST(RulesCliTest, TestFailsWhenRulesDoNotLoad) {
  std::string bad = WriteTemp("bad_rules.yaml", "- nonsense: 1\n");
  CliRun r = Cli({"test", "--rules", bad, "--input", "-"}, "");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr(bad + ":1: unknown item"));
  EXPECT_THAT(r.out, IsEmpty());
}

TEST(RulesCliTest, ValidateReportsEveryError) {
  std::string bad = WriteTemp("bad2.yaml",
                              "- nonsense: 1\n- rule: R\n  desc: d\n"
                              "  condition: gcp.user = x\n  output: o\n");
  CliRun r = Cli({"validate", kUpstream, bad});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr(bad + ":1: unknown item"));
  EXPECT_THAT(r.err,
              HasSubstr(bad + ":2: rule \"R\": expected key \"priority\""));
  CliRun ok = Cli({"validate", kUpstream});
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_EQ(ok.out, "ok: 39 rules\n");
}

TEST(RulesCliTest, WithoutRulesFilesTheBuiltInRulesAreUsed) {
  CliRun r = Cli({"test", "--input", "-", "--hostname", "h1"},
                 Read("compute_instances_insert.json") + "\n" +
                     Read("crm_set_iam_policy.json") + "\n");
  EXPECT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  auto first = core::DecodeFalcoAlert(lines[0]);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->rule, "GCP VM instance created");
  auto second = core::DecodeFalcoAlert(lines[1]);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->rule, "GCP privileged IAM role granted");
}

TEST(RulesCliTest, UsageErrors) {
  EXPECT_EQ(Cli({}).code, 2);
  EXPECT_EQ(Cli({"frobnicate"}).code, 2);
  EXPECT_EQ(Cli({"validate"}).code, 2);
  EXPECT_EQ(Cli({"test", "--rules", kUpstream}).code, 2);
  CliRun missing =
      Cli({"test", "--rules", kUpstream, "--input", "/nonexistent/x"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("cannot open input /nonexistent/x"));
}

}  // namespace
}  // namespace corral::ingest::rules
