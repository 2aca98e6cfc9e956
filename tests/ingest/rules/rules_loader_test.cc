#include "ingest/rules/rules_loader.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingest/gcpaudit/log_entry_fields.h"

namespace corral::ingest::rules {
namespace {

using gcpaudit::LogEntryFields;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kFixtures = std::string(CORRAL_FIXTURES_DIR) + "/gcpaudit/";
const std::string kUpstream = kFixtures + "upstream_gcp_auditlog_rules.yaml";

LogEntryFields FixtureEntry(const std::string& name) {
  auto text = core::ReadFileToString(kFixtures + name);
  EXPECT_TRUE(text.ok()) << text.status();
  auto e = LogEntryFields::Parse(text.value_or(""));
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

// An entry for service `svc`, method `method`, caller `ip`, user `user`.
LogEntryFields Entry(const std::string& svc, const std::string& method,
                     const std::string& ip = "10.0.0.1",
                     const std::string& user = "alice@example.com") {
  auto e = LogEntryFields::Parse(
      R"({"timestamp":"2024-11-19T13:13:13Z","protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",)"
      R"("serviceName":")" +
      svc + R"(","methodName":")" + method +
      R"(","authenticationInfo":{"principalEmail":")" + user +
      R"("},"requestMetadata":{"callerIp":")" + ip + R"("}}})");
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

LoadResult Load(std::vector<std::string> texts) {
  std::vector<RulesText> files;
  for (size_t i = 0; i < texts.size(); ++i) {
    files.push_back({"f" + std::to_string(i + 1) + ".yaml", texts[i]});
  }
  return LoadRules(files);
}

std::vector<std::string> Names(const std::vector<const Rule*>& rules) {
  std::vector<std::string> out;
  for (const Rule* r : rules) out.push_back(r->name);
  return out;
}

// Names of the rules matching `e` with rule_matching: all.
std::vector<std::string> AllMatches(const LoadResult& r,
                                    const LogEntryFields& e) {
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  if (!r.ok()) return {};
  return Names(r.rules->Evaluate(e, RuleMatching::kAll));
}

constexpr char kBase[] = R"(
- list: admin_ips
  items: [10.0.0.1, 10.0.0.2]
- macro: is_compute
  condition: gcp.serviceName = compute.googleapis.com
- rule: Compute call
  desc: d
  condition: is_compute and gcp.methodName startswith v1.
  output: "call by %gcp.user"
  priority: WARNING
  tags: [a, b]
)";

TEST(UpstreamRulesTest, LoadsUnmodifiedWithoutErrors) {
  LoadResult r = LoadRulesFiles({kUpstream});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  EXPECT_THAT(r.warnings, IsEmpty());
  EXPECT_EQ(r.rules->rules().size(), 39u);
  const Rule* vm = r.rules->Find("GCP VM modified");
  ASSERT_NE(vm, nullptr);
  EXPECT_EQ(vm->priority, core::Priority::kNotice);
  EXPECT_THAT(vm->tags, ElementsAre("GCP", "VM", "TA0005-defense-evasion",
                                    "T1562-impair-defenses"));
  EXPECT_EQ(vm->source, "gcp_auditlog");
  EXPECT_EQ(vm->desc, "Detect when a virtual machine is modified or created.");
}

TEST(UpstreamRulesTest, FixturesFireTheExpectedRules) {
  LoadResult r = LoadRulesFiles({kUpstream});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  EXPECT_THAT(
      Names(r.rules->Evaluate(FixtureEntry("compute_instances_insert.json"),
                              RuleMatching::kFirst)),
      ElementsAre("GCP VM modified"));
  EXPECT_THAT(Names(r.rules->Evaluate(FixtureEntry("crm_set_iam_policy.json"),
                                      RuleMatching::kFirst)),
              ElementsAre("GCP IAM policy modified"));
  // Nothing else in the upstream file matches these entries.
  EXPECT_THAT(AllMatches(r, FixtureEntry("compute_instances_insert.json")),
              ElementsAre("GCP VM modified"));
  EXPECT_THAT(AllMatches(r, FixtureEntry("crm_set_iam_policy.json")),
              ElementsAre("GCP IAM policy modified"));
}

TEST(UpstreamRulesTest, PublicBucketRuleFiresOnObjectValuedPolicyDelta) {
  // The upstream Go plugin returns "" for gcp.policyDelta, so this CRITICAL
  // rule never fires there; here it must.
  LoadResult r = LoadRulesFiles({kUpstream});
  ASSERT_TRUE(r.ok());
  auto e = LogEntryFields::Parse(
      R"({"timestamp":"2024-11-19T13:13:13Z","resource":{"type":"gcs_bucket","labels":{"bucket_name":"bkt"}},)"
      R"("protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",)"
      R"("serviceName":"storage.googleapis.com","methodName":"storage.setIamPermissions",)"
      R"("serviceData":{"policyDelta":{"bindingDeltas":[{"action":"ADD","member":"allUsers","role":"roles/storage.objectViewer"}]}}}})");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_THAT(AllMatches(r, *e),
              ElementsAre("GCP Bucket configured to be public",
                          "GCP Bucket permissions modified"));
  EXPECT_THAT(Names(r.rules->Evaluate(*e, RuleMatching::kFirst)),
              ElementsAre("GCP Bucket configured to be public"));
}

TEST(RulesLoaderTest, FirstVersusAllAcrossFiles) {
  LoadResult r = LoadRules(
      {{kUpstream, *core::ReadFileToString(kUpstream)}, {"extra.yaml", R"(
- rule: Any compute call
  desc: d
  condition: is_compute_service
  output: "%gcp.methodName"
  priority: INFO
)"}});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  LogEntryFields e = FixtureEntry("compute_instances_insert.json");
  EXPECT_THAT(Names(r.rules->Evaluate(e, RuleMatching::kFirst)),
              ElementsAre("GCP VM modified"));
  EXPECT_THAT(Names(r.rules->Evaluate(e, RuleMatching::kAll)),
              ElementsAre("GCP VM modified", "Any compute call"));
}

TEST(RulesLoaderTest, ListsAndMacrosResolve) {
  LoadResult r = Load({std::string(kBase) + R"(
- rule: Admin IP
  desc: d
  condition: gcp.callerIP in (admin_ips)
  output: o
  priority: INFO
)"});
  EXPECT_THAT(AllMatches(r, Entry("compute.googleapis.com", "v1.x")),
              ElementsAre("Compute call", "Admin IP"));
  EXPECT_THAT(AllMatches(r, Entry("iam.googleapis.com", "v1.x", "10.0.0.9")),
              IsEmpty());
}

TEST(RulesLoaderTest, ListItemsMayNameEarlierLists) {
  LoadResult r = Load({R"(
- list: a
  items: [1.1.1.1]
- list: b
  items: [a, 2.2.2.2]
- rule: R
  desc: d
  condition: gcp.callerIP in (b)
  output: o
  priority: INFO
)"});
  EXPECT_THAT(AllMatches(r, Entry("s", "m", "1.1.1.1")), ElementsAre("R"));
  EXPECT_THAT(AllMatches(r, Entry("s", "m", "2.2.2.2")), ElementsAre("R"));
  EXPECT_THAT(AllMatches(r, Entry("s", "m", "3.3.3.3")), IsEmpty());
}

TEST(RulesLoaderTest, OverrideAppendAndReplace) {
  LoadResult r = Load({kBase, R"(
- list: admin_ips
  items: [10.0.0.3]
  override:
    items: append
- macro: is_compute
  condition: or gcp.serviceName = iam.googleapis.com
  override:
    condition: append
- rule: Compute call
  condition: and gcp.callerIP in (admin_ips)
  output: "replaced %gcp.callerIP"
  override:
    condition: append
    output: replace
)"});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  // Macro condition grew "or iam"; rule condition grew "and ip in list";
  // the list grew 10.0.0.3.
  EXPECT_THAT(AllMatches(r, Entry("iam.googleapis.com", "v1.x", "10.0.0.3")),
              ElementsAre("Compute call"));
  EXPECT_THAT(
      AllMatches(r, Entry("compute.googleapis.com", "v1.x", "10.0.0.9")),
      IsEmpty());
  LogEntryFields e = Entry("compute.googleapis.com", "v1.x", "10.0.0.1");
  const Rule* rule = r.rules->Find("Compute call");
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->output.Format(e), "replaced 10.0.0.1");
  EXPECT_EQ(rule->priority, core::Priority::kWarning);  // untouched
}

TEST(RulesLoaderTest, OverrideReplaceOfCondition) {
  LoadResult r = Load({kBase, R"(
- rule: Compute call
  condition: gcp.methodName = only.this
  override:
    condition: replace
- list: admin_ips
  items: [9.9.9.9]
  override:
    items: replace
)"});
  EXPECT_THAT(AllMatches(r, Entry("compute.googleapis.com", "v1.x")),
              IsEmpty());
  EXPECT_THAT(AllMatches(r, Entry("x", "only.this")),
              ElementsAre("Compute call"));
}

TEST(RulesLoaderTest, DeprecatedAppend) {
  LoadResult r = Load({kBase, R"(
- list: admin_ips
  items: [10.0.0.7]
  append: true
- macro: is_compute
  condition: and gcp.callerIP in (admin_ips)
  append: true
- rule: Compute call
  condition: and gcp.user = alice@example.com
  append: true
)"});
  EXPECT_THAT(
      AllMatches(r, Entry("compute.googleapis.com", "v1.x", "10.0.0.7")),
      ElementsAre("Compute call"));
  EXPECT_THAT(
      AllMatches(r, Entry("compute.googleapis.com", "v1.x", "10.0.0.8")),
      IsEmpty());
  EXPECT_THAT(AllMatches(r, Entry("compute.googleapis.com", "v1.x", "10.0.0.7",
                                  "bob@example.com")),
              IsEmpty());
}

TEST(RulesLoaderTest, RedefinitionReplacesInPlace) {
  LoadResult r = Load({kBase + std::string(R"(
- rule: Second
  desc: d
  condition: gcp.methodName exists
  output: o
  priority: INFO
)"),
                       R"(
- rule: Compute call
  desc: new
  condition: gcp.methodName exists
  output: o
  priority: ERROR
)"});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  // Still first in file order, with the new definition.
  EXPECT_THAT(AllMatches(r, Entry("s", "m")),
              ElementsAre("Compute call", "Second"));
  EXPECT_EQ(r.rules->Find("Compute call")->priority, core::Priority::kError);
  EXPECT_THAT(r.rules->Find("Compute call")->tags, IsEmpty());
}

TEST(RulesLoaderTest, EnabledFalseDisablesAndOverrideReenables) {
  LoadResult off = Load({kBase, "- rule: Compute call\n  enabled: false\n"});
  ASSERT_TRUE(off.ok()) << ::testing::PrintToString(off.errors);
  EXPECT_EQ(off.rules->Find("Compute call"), nullptr);
  EXPECT_THAT(AllMatches(off, Entry("compute.googleapis.com", "v1.x")),
              IsEmpty());

  LoadResult on = Load({kBase, "- rule: Compute call\n  enabled: false\n",
                        "- rule: Compute call\n  enabled: true\n"
                        "  override:\n    enabled: replace\n"});
  EXPECT_THAT(AllMatches(on, Entry("compute.googleapis.com", "v1.x")),
              ElementsAre("Compute call"));

  LoadResult defined_off = Load({R"(
- rule: Off
  desc: d
  condition: gcp.methodName exists
  output: o
  priority: INFO
  enabled: false
)"});
  EXPECT_THAT(AllMatches(defined_off, Entry("s", "m")), IsEmpty());
}

TEST(RulesLoaderTest, ExceptionsMultiField) {
  LoadResult r = Load({R"(
- rule: R
  desc: d
  condition: gcp.methodName exists
  output: o
  priority: INFO
  exceptions:
    - name: trusted
      fields: [gcp.user, gcp.callerIP]
      comps: [=, in]
      values:
        - [alice@example.com, [10.0.0.1, 10.0.0.2]]
        - [bob@example.com, [10.0.0.3]]
)"});
  EXPECT_THAT(AllMatches(r, Entry("s", "m", "10.0.0.2", "alice@example.com")),
              IsEmpty());
  EXPECT_THAT(AllMatches(r, Entry("s", "m", "10.0.0.3", "bob@example.com")),
              IsEmpty());
  EXPECT_THAT(AllMatches(r, Entry("s", "m", "10.0.0.3", "alice@example.com")),
              ElementsAre("R"));
}

TEST(RulesLoaderTest, ExceptionsSingleFieldDefaultsToInAndAppend) {
  LoadResult r = Load({R"(
- list: more_ips
  items: [10.0.0.9]
- rule: R
  desc: d
  condition: gcp.methodName exists
  output: o
  priority: INFO
  exceptions:
    - name: ips
      fields: gcp.callerIP
      values: [10.0.0.1]
)",
                       R"(
- rule: R
  exceptions:
    - name: ips
      values: [more_ips]
    - name: by_user
      fields: [gcp.user]
      comps: [startswith]
      values: [[carol]]
  override:
    exceptions: append
)"});
  EXPECT_THAT(AllMatches(r, Entry("s", "m", "10.0.0.1")), IsEmpty());
  EXPECT_THAT(AllMatches(r, Entry("s", "m", "10.0.0.9")), IsEmpty());
  EXPECT_THAT(AllMatches(r, Entry("s", "m", "10.0.0.5", "carol@x")), IsEmpty());
  EXPECT_THAT(AllMatches(r, Entry("s", "m", "10.0.0.5")), ElementsAre("R"));
}

TEST(RulesLoaderTest, RulesOfOtherSourcesAreSkippedWithAWarning) {
  LoadResult r = Load({R"(
- rule: Syscall
  desc: d
  condition: proc.name = bash
  output: o
  priority: INFO
  source: syscall
)"});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  EXPECT_TRUE(r.rules->rules().empty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0],
              HasSubstr("f1.yaml:2: rule \"Syscall\": source \"syscall\""));
}

TEST(RulesLoaderTest, EmptyFileAndVersionItemsAreAccepted) {
  LoadResult r = Load({"", R"(
- required_engine_version: 0.31.0
- required_plugin_versions:
  - name: gcpaudit
    version: 0.3.0
    alternatives:
      - name: other
        version: 1.0.0
)"});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  EXPECT_TRUE(r.rules->rules().empty());
}

// Every error: file, line, the item, and what was expected; nothing loaded.
TEST(RulesLoaderErrorsTest, ErrorsNameFileLineRuleAndExpectation) {
  struct Case {
    std::string text;
    std::string error;
  } cases[] = {
      {"- foo: bar\n",
       "f1.yaml:1: unknown item; expected one of: rule, macro, list"},
      {"- rule: R\n  desc: d\n  condition: gcp.user = \n  output: o\n  "
       "priority: INFO\n",
       "f1.yaml:3: rule \"R\": condition: at column 11: expected a value"},
      {"- rule: R\n  desc: d\n  condition: gcp.usr = x\n  output: o\n  "
       "priority: INFO\n",
       "f1.yaml:3: rule \"R\": condition: at column 1: unknown field gcp.usr"},
      {"- rule: R\n  desc: d\n  condition: gcp.user = x\n  output: "
       "'%gcp.nope'\n"
       "  priority: INFO\n",
       "f1.yaml:4: rule \"R\": output: at column 1: unknown field gcp.nope"},
      {"- rule: R\n  desc: d\n  condition: gcp.user = x\n  output: o\n",
       "f1.yaml:1: rule \"R\": expected key \"priority\""},
      {"- rule: R\n  desc: d\n  condition: gcp.user = x\n  output: o\n"
       "  priority: LOUD\n",
       "f1.yaml:5: rule \"R\": priority \"LOUD\" is not one of"},
      {"- rule: R\n  desc: d\n  condition: gcp.user = x\n  output: o\n"
       "  priority: INFO\n  colour: red\n",
       "f1.yaml:6: rule \"R\": unknown key \"colour\"; expected one of: rule,"},
      {"- rule: R\n  condition: and x\n  append: true\n",
       "f1.yaml:1: rule \"R\": append to an undefined rule"},
      {"- macro: M\n  condition: gcp.user = x\n  override:\n    condition: "
       "append\n",
       "f1.yaml:1: macro \"M\": override of an undefined macro"},
      {"- list: L\n  items: oops\n",
       "f1.yaml:2: list \"L\": items: expected a list"},
      {"- macro: M\n  condition: gcp.bad exists\n",
       "f1.yaml:2: macro \"M\": condition: at column 1: unknown field gcp.bad"},
      {"- rule: R\n  desc: d\n  condition: no_such_macro\n  output: o\n"
       "  priority: INFO\n",
       "f1.yaml:3: rule \"R\": condition: at column 1: \"no_such_macro\" is "
       "not "
       "a defined macro"},
      {"- rule: R\n  enabled: false\n",
       "f1.yaml:1: rule \"R\": enabled given for an undefined rule"},
      {"- rule: R\n  desc: d\n  condition: gcp.user = x\n  output: o\n"
       "  priority: INFO\n  exceptions:\n    - name: e\n      fields: "
       "[gcp.nah]\n",
       "f1.yaml:8: rule \"R\": exception \"e\": unknown field gcp.nah"},
      {"- rule: R\n  desc: d\n  condition: gcp.user = x\n  output: o\n"
       "  priority: INFO\n  exceptions:\n    - name: e\n      fields: "
       "[gcp.user, "
       "gcp.callerIP]\n      values: [[a]]\n",
       "f1.yaml:9: rule \"R\": exception \"e\": expected a list of 2 values "
       "per "
       "row"},
      {"- rule: R\n  desc: d\n  condition: gcp.user regex '('\n  output: o\n"
       "  priority: INFO\n",
       "f1.yaml:3: rule \"R\": condition: at column 1: bad regex"},
      {"- rule: R\n  desc: d\n  condition: gcp.user = x\n  output: o\n"
       "  priority: INFO\n  exceptions:\n    - name: e\n      fields: []\n",
       "f1.yaml:8: rule \"R\": exception \"e\": fields: expected at least one"},
      {"- rule: R\n  desc: d\n  condition: gcp.user = x\n  output: o\n"
       "  priority: INFO\n  exceptions:\n    - name: e\n      fields: "
       "[gcp.user]\n"
       "      comps: [like]\n",
       "f1.yaml:9: rule \"R\": exception \"e\": comps: \"like\" is not a "
       "comparison operator"},
      {"rule: R\n", "f1.yaml:1: expected a YAML sequence of items"},
      {"- rule: [\n", "f1.yaml:"},  // invalid YAML
  };
  for (const Case& c : cases) {
    LoadResult r = Load({c.text});
    EXPECT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.rules, nullptr) << c.text;
    ASSERT_FALSE(r.errors.empty()) << c.text;
    EXPECT_THAT(r.errors[0], HasSubstr(c.error)) << c.text;
  }
}

TEST(RulesLoaderErrorsTest, OverrideKeysMustMatchTheItem) {
  LoadResult r = Load({kBase, R"(
- rule: Compute call
  condition: and x
  output: o
  override:
    condition: append
- rule: Compute call
  priority: INFO
  override:
    priority: append
)"});
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(
      r.errors,
      ElementsAre(HasSubstr("f2.yaml:4: rule \"Compute call\": \"output\" "
                            "is given but not listed in override"),
                  HasSubstr("f2.yaml:10: rule \"Compute call\": override: "
                            "\"priority\" cannot be appended")));
}

TEST(RulesLoaderErrorsTest, EveryErrorOfEveryFileIsReportedAndNothingLoads) {
  LoadResult r =
      Load({"- rule: A\n  desc: d\n  condition: gcp.x = 1\n  output: o\n"
            "  priority: INFO\n- rule: Good\n  desc: d\n"
            "  condition: gcp.user = x\n  output: o\n  priority: INFO\n",
            "- weird: 1\n"});
  EXPECT_EQ(r.rules, nullptr);
  EXPECT_THAT(r.errors, ElementsAre(HasSubstr("f2.yaml:1: unknown item"),
                                    HasSubstr("f1.yaml:3: rule \"A\"")));
}

TEST(RulesLoaderErrorsTest, BrokenMacroIsReportedOnceNotPerRule) {
  LoadResult r = Load({R"(
- macro: bad
  condition: gcp.nope = 1
- rule: A
  desc: d
  condition: bad
  output: o
  priority: INFO
- rule: B
  desc: d
  condition: bad or gcp.user = x
  output: o
  priority: INFO
)"});
  EXPECT_THAT(r.errors, ElementsAre(HasSubstr("f1.yaml:3: macro \"bad\"")));
}

TEST(RulesLoaderErrorsTest, UnreadableFileIsNamed) {
  LoadResult r = LoadRulesFiles({"/nonexistent/rules.yaml", kUpstream});
  EXPECT_EQ(r.rules, nullptr);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_THAT(r.errors[0], HasSubstr("/nonexistent/rules.yaml: cannot read"));
}

// Appended exception rows join the exception of the same name, so they must
// have its fields and comps (found by fuzzing: rows of three values appended
// to a one-field exception read past its fields).
TEST(RulesLoaderErrorsTest, AppendedExceptionMustKeepFieldsAndComps) {
  const std::string base = R"(
- rule: R
  desc: d
  condition: gcp.methodName exists
  output: o
  priority: INFO
  exceptions:
    - name: e
      fields: [gcp.user]
      values: [[alice]]
)";
  LoadResult more_fields = Load({base, R"(
- rule: R
  exceptions:
    - name: e
      fields: [gcp.user, gcp.callerIP, gcp.methodName]
      comps: [=, =, =]
      values: [[a, b, c]]
  override:
    exceptions: append
)"});
  EXPECT_EQ(more_fields.rules, nullptr);
  EXPECT_THAT(more_fields.errors,
              ElementsAre(HasSubstr(
                  "f2.yaml:4: rule \"R\": exception \"e\": appending to an "
                  "existing exception gives only values")));

  LoadResult other_comps = Load({base, R"(
- rule: R
  append: true
  exceptions:
    - name: e
      fields: [gcp.user]
      comps: [startswith]
      values: [[bob]]
)"});
  EXPECT_THAT(other_comps.errors,
              ElementsAre(HasSubstr("exception \"e\": appending to an "
                                    "existing exception gives only values")));

  // Two new exceptions of one name in one append merge the same way.
  LoadResult twice = Load({base, R"(
- rule: R
  exceptions:
    - name: n
      fields: [gcp.user]
      values: [[x]]
    - name: n
      fields: [gcp.user, gcp.callerIP]
      values: [[x, y]]
  override:
    exceptions: append
)"});
  EXPECT_THAT(twice.errors, ElementsAre(HasSubstr("exception \"n\"")));

  // Values alone, or the same fields again, still append.
  LoadResult values = Load({base, R"(
- rule: R
  exceptions:
    - name: e
      values: [[bob]]
    - name: e
      fields: [gcp.user]
      comps: [=]
      values: [[carol]]
  override:
    exceptions: append
)"});
  ASSERT_TRUE(values.ok()) << ::testing::PrintToString(values.errors);
  EXPECT_THAT(AllMatches(values, Entry("s", "m", "1.1.1.1", "bob")), IsEmpty());
  EXPECT_THAT(AllMatches(values, Entry("s", "m", "1.1.1.1", "carol")),
              IsEmpty());
  EXPECT_THAT(AllMatches(values, Entry("s", "m", "1.1.1.1", "dave")),
              ElementsAre("R"));
}

// A list naming an earlier list twice doubles it: expanded lists are bounded
// so that a rules file cannot exhaust memory.
TEST(RulesLoaderErrorsTest, ExpandedListsAreBounded) {
  std::string text = "- list: l0\n  items: [a, b, c, d]\n";
  for (int i = 1; i <= 20; ++i) {
    absl::StrAppend(&text, "- list: l", i, "\n  items: [l", i - 1, ", l", i - 1,
                    "]\n");
  }
  LoadResult r = Load({text});
  EXPECT_EQ(r.rules, nullptr);
  // 4 * 2^15 items is the first past the bound; the lists after it name it.
  ASSERT_FALSE(r.errors.empty());
  EXPECT_THAT(r.errors[0], HasSubstr("list \"l15\": more than 100000 items"));
}

}  // namespace
}  // namespace corral::ingest::rules
