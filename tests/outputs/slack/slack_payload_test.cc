#include "outputs/slack/slack_payload.h"

#include <boost/json.hpp>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/alert_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::outputs {
namespace {

using ::testing::HasSubstr;

core::AlertPtr Fixture(const std::string& name) {
  std::ifstream in(absl::StrCat(CORRAL_FIXTURES_DIR, "/falco/", name));
  std::stringstream s;
  s << in.rdbuf();
  absl::StatusOr<core::Alert> alert = core::DecodeFalcoAlert(s.str());
  EXPECT_TRUE(alert.ok()) << name << ": " << alert.status();
  return std::make_shared<core::Alert>(alert.value_or(core::Alert{}));
}

core::AlertPtr Simple(std::string rule, core::Priority priority,
                      std::string output) {
  auto alert = std::make_shared<core::Alert>();
  alert->rule = std::move(rule);
  alert->priority = priority;
  alert->output = std::move(output);
  alert->source = "syscall";
  alert->time = absl::FromUnixSeconds(1783277459);
  alert->output_fields_json = R"json({"a":1})json";
  return alert;
}

SlackConfig Config() {
  SlackConfig c;
  c.webhook_url = "https://hooks.slack.com/services/T/B/X";
  return c;
}

TEST(SlackPayloadTest, ColoursFollowFalcosidekick) {
  using core::Priority;
  EXPECT_EQ(SlackColor(Priority::kEmergency), "#e20b0b");
  EXPECT_EQ(SlackColor(Priority::kError), "#e20b0b");
  EXPECT_EQ(SlackColor(Priority::kAlert), "#ff5400");
  EXPECT_EQ(SlackColor(Priority::kCritical), "#ff5400");
  EXPECT_EQ(SlackColor(Priority::kWarning), "#ffc700");
  EXPECT_EQ(SlackColor(Priority::kNotice), "#5bffb5");
  EXPECT_EQ(SlackColor(Priority::kInformational), "#68c2ff");
  EXPECT_EQ(SlackColor(Priority::kDebug), "#ccfff2");
}

// Golden: every field type of Falco's output (strings, numbers, null), a
// long value (not short), tags sorted, and an output with "<NA>" escaped in
// the text but plain in the fallback.
TEST(SlackPayloadTest, GoldenSyscallAll) {
  EXPECT_EQ(
      BuildSlackMessage(Config(), *Fixture("syscall_read_sensitive_file.json")), R"json({"attachments":[{"fallback":"2026-07-05T18:50:59.430325374+0000: Warning Sensitive file opened for reading by non-trusted program (file=/etc/shadow gparent=<NA> ggparent=<NA> gggparent=<NA> evt_type=openat user=root user_uid=0 user_loginuid=-1 process=cat proc_exepath=/usr/bin/cat parent=bash command=cat /etc/shadow terminal=34816 container_id=452d47e1f06c container_name=hopeful_morse)","color":"#ffc700","text":"2026-07-05T18:50:59.430325374+0000: Warning Sensitive file opened for reading by non-trusted program (file=/etc/shadow gparent=&lt;NA&gt; ggparent=&lt;NA&gt; gggparent=&lt;NA&gt; evt_type=openat user=root user_uid=0 user_loginuid=-1 process=cat proc_exepath=/usr/bin/cat parent=bash command=cat /etc/shadow terminal=34816 container_id=452d47e1f06c container_name=hopeful_morse)","fields":[{"title":"rule","value":"Read sensitive file untrusted","short":true},{"title":"priority","value":"Warning","short":true},{"title":"source","value":"syscall","short":true},{"title":"hostname","value":"753144d3be64","short":true},{"title":"tags","value":"T1555, container, filesystem, host, maturity_stable, mitre_credential_access","short":true},{"title":"container.id","value":"452d47e1f06c","short":true},{"title":"container.name","value":"hopeful_morse","short":true},{"title":"evt.time","value":"1783277459430325374","short":true},{"title":"evt.type","value":"openat","short":true},{"title":"fd.name","value":"/etc/shadow","short":true},{"title":"k8s.ns.name","value":"&lt;NA&gt;","short":true},{"title":"k8s.pod.name","value":"&lt;NA&gt;","short":true},{"title":"proc.aname[2]","value":"&lt;NA&gt;","short":true},{"title":"proc.cmdline","value":"cat /etc/shadow","short":true},{"title":"proc.exepath","value":"/usr/bin/cat","short":true},{"title":"proc.name","value":"cat","short":true},{"title":"proc.pname","value":"bash","short":true},{"title":"proc.tty","value":"34816","short":true},{"title":"user.loginuid","value":"-1","short":true},{"title":"user.name","value":"root","short":true},{"title":"user.uid","value":"0","short":true},{"title":"time","value":"2026-07-05T18:50:59.430325374Z","short":false}],"footer":"corral"}]})json");
}

TEST(SlackPayloadTest, GoldenK8sWithIdentityAndTemplate) {
  SlackConfig c = Config();
  c.channel = "#secops";
  c.username = "Falco";
  c.icon_url = "https://example.com/falco.png";
  c.footer = "prod-eu";
  c.message_template = *SlackTemplate::Parse(
      "*{{rule}}* ({{priority}}) by {{output_fields.ka.user.name}} "
      "in {{ index .OutputFields \"ka.target.namespace\" "
      "}}{{output_fields.no}}");
  EXPECT_EQ(
      BuildSlackMessage(c, *Fixture("k8s_audit_exec.json")),
      R"json({"text":"*Attach/Exec Pod* (Notice) by system:admin in prod","username":"Falco","icon_url":"https://example.com/falco.png","channel":"#secops","attachments":[{"fallback":"2026-11-02T10:15:31.120938475+0000: Notice Attach/Exec to pod (user=system:admin pod=payments-5f7b ns=prod action=exec command=sh)","color":"#5bffb5","text":"2026-11-02T10:15:31.120938475+0000: Notice Attach/Exec to pod (user=system:admin pod=payments-5f7b ns=prod action=exec command=sh)","fields":[{"title":"rule","value":"Attach/Exec Pod","short":true},{"title":"priority","value":"Notice","short":true},{"title":"source","value":"k8s_audit","short":true},{"title":"hostname","value":"falco-7d9c","short":true},{"title":"tags","value":"k8s, mitre_execution","short":true},{"title":"evt.time","value":"1793614531120938475","short":true},{"title":"ka.target.name","value":"payments-5f7b","short":true},{"title":"ka.target.namespace","value":"prod","short":true},{"title":"ka.uri.param[command]","value":"sh","short":true},{"title":"ka.user.name","value":"system:admin","short":true},{"title":"time","value":"2026-11-02T10:15:31.120938475Z","short":false}],"footer":"prod-eu"}]})json");
}

TEST(SlackPayloadTest, GoldenGcpTextOnly) {
  SlackConfig c = Config();
  c.output_format = SlackOutputFormat::kText;
  EXPECT_EQ(
      BuildSlackMessage(c, *Fixture("gcp_bucket_deleted.json")),
      R"json({"attachments":[{"fallback":"10:22:05.000000000: Notice project=acme-prod A GCP bucket has been deleted by user=alice@example.com userIP=203.0.113.7 bucketName=acme-backups","color":"#5bffb5","text":"10:22:05.000000000: Notice project=acme-prod A GCP bucket has been deleted by user=alice@example.com userIP=203.0.113.7 bucketName=acme-backups"}]})json");
}

TEST(SlackPayloadTest, GoldenFieldsOnlyLongValueAndNoHostname) {
  SlackConfig c = Config();
  c.output_format = SlackOutputFormat::kFields;
  core::Alert alert = *Simple("R", core::Priority::kEmergency, "out");
  // 36 characters: not short (Falcosidekick: short when under 36).
  alert.output_fields_json =
      R"json({"long":"abcdefghijklmnopqrstuvwxyz0123456789","ok":true,"n":1.5,"e":"é"})json";
  EXPECT_EQ(
      BuildSlackMessage(c, alert),
      R"json({"attachments":[{"fallback":"out","color":"#e20b0b","fields":[{"title":"rule","value":"R","short":true},{"title":"priority","value":"Emergency","short":true},{"title":"source","value":"syscall","short":true},{"title":"e","value":"é","short":true},{"title":"long","value":"abcdefghijklmnopqrstuvwxyz0123456789","short":false},{"title":"n","value":"1.5","short":true},{"title":"ok","value":"true","short":true},{"title":"time","value":"2026-07-05T18:50:59Z","short":false}],"footer":"corral"}]})json");
}

TEST(SlackPayloadTest, GoldenDigest) {
  std::vector<core::AlertPtr> batch = {
      Simple("Shell", core::Priority::kWarning, "w1"),
      Simple("Read <secret>", core::Priority::kCritical, "c1"),
      Simple("Shell", core::Priority::kWarning, "w2"),
      Simple("Shell", core::Priority::kNotice, "n1"),
      Simple("Net", core::Priority::kWarning, "w3"),
  };
  auto late = std::make_shared<core::Alert>(*batch[4]);
  late->time += absl::Seconds(2);
  batch[4] = late;
  EXPECT_EQ(
      BuildSlackDigest(Config(), batch),
      R"json({"text":"5 alerts: Read &lt;secret&gt; × 1, Shell × 3, Net × 1","attachments":[{"fallback":"5 alerts: Read <secret> × 1, Shell × 3, Net × 1","color":"#ff5400","text":"• w1\n• c1\n• w2\n… and 2 more","fields":[{"title":"priorities","value":"Critical × 1, Warning × 3, Notice × 1","short":false},{"title":"time","value":"2026-07-05T18:50:59Z – 2026-07-05T18:51:01Z","short":false}],"footer":"corral"}]})json");
}

TEST(SlackPayloadTest, DigestAccountsForEveryAlertBeyondTheNamedRules) {
  std::vector<core::AlertPtr> batch;
  for (int i = 0; i < 30; ++i) {
    for (int j = 0; j <= i % 3; ++j) {
      batch.push_back(
          Simple(absl::StrCat("Rule ", i), core::Priority::kNotice, "x"));
    }
  }
  boost::json::object digest =
      boost::json::parse(BuildSlackDigest(Config(), batch)).as_object();
  std::string text(digest.at("text").as_string());
  EXPECT_THAT(text, HasSubstr(absl::StrCat(batch.size(), " alerts: ")));
  EXPECT_THAT(text, HasSubstr("10 other rules × "));
  // The counts add up to the batch.
  size_t sum = 0;
  for (size_t pos = text.find("× "); pos != std::string::npos;
       pos = text.find("× ", pos + 1)) {
    sum += std::stoul(text.substr(pos + std::string("× ").size()));
  }
  EXPECT_EQ(sum, batch.size());
}

TEST(SlackPayloadTest, TemplateEscapesValuesButNotItsOwnText) {
  SlackTemplate t =
      *SlackTemplate::Parse("<https://runbook|runbook> {{output}} {{tags}}");
  core::Alert alert = *Simple("R", core::Priority::kDebug, "a<b>&c");
  alert.tags = {"z", "a"};
  EXPECT_EQ(RenderSlackTemplate(t, alert),
            "<https://runbook|runbook> a&lt;b&gt;&amp;c a, z");
}

}  // namespace
}  // namespace corral::outputs
