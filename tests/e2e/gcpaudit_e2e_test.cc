// End to end: the real corral binary subscribed to a fake Pub/Sub on
// loopback, GCP audit log entries published to it, alerts arriving at a fake
// webhook receiver.
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/file_util.h"
#include "core/http_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/fakes/fake_google_token.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/fakes/fake_pubsub.h"
#include "tests/fakes/tls_pubsub.h"

namespace corral::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kWait = absl::Seconds(20);
constexpr char kTopic[] = "projects/test-project/topics/audit";
constexpr char kSubscription[] = "projects/test-project/subscriptions/corral";

std::string ReadFile(const std::string& path) {
  return core::ReadFileToString(path).value_or("");
}

std::string Fixture(const std::string& name) {
  std::string text =
      ReadFile(absl::StrCat(CORRAL_FIXTURES_DIR, "/gcpaudit/", name));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// The VM-creation sample with its own insertId: a distinct audit entry.
std::string VmCreated(absl::string_view insert_id) {
  return absl::StrReplaceAll(
      Fixture("compute_instances_insert.json"),
      {{"\"insertId\":\"-w5vrlhdm7gk\"",
        absl::StrCat("\"insertId\":\"", insert_id, "\"")}});
}

// A rule that alerts on every VM creation and names the entry it came from,
// so that tests can tell which entries made it.
constexpr char kInsertIdRules[] = R"(
- rule: VM created
  desc: every compute instance insert
  condition: gcp.methodName = v1.compute.instances.insert
  output: entry %json.value[/insertId]
  priority: NOTICE
  source: gcp_auditlog
)";

class GcpAuditE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    ASSERT_TRUE(pubsub_->Start().ok());
    ASSERT_TRUE(pubsub_->CreateTopic(kTopic).ok());
    ASSERT_TRUE(pubsub_->CreateSubscription(kSubscription, kTopic).ok());
    // corral asks for (and extends) 10 s deadlines; the fake makes them 200 ms
    // so that redelivery is seen quickly.
    pubsub_->SetDeadlineScale(0.02);
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/e2e_gcpaudit_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "corral stderr:\n" << corral_->Stderr();
  }

  // One gcpaudit entry for the fake's subscription, one webhook output.
  std::string Config(absl::string_view entry_extra = "") const {
    return absl::StrCat(
        "listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n"
        "spool:\n  dir: ./data\n"
        "ingest:\n"
        "  gcpaudit:\n"
        "    - name: audit\n"
        "      subscription: ",
        kSubscription,
        "\n"
        "      ack_deadline: 10s\n",
        entry_extra,
        "outputs:\n"
        "  - name: hook\n"
        "    type: webhook\n"
        "    url: ",
        receiver_.Url("/alerts"),
        "\n"
        "    retry: {initial_backoff: 50ms, max_backoff: 200ms}\n");
  }

  // The entry lines that load kInsertIdRules.
  std::string InsertIdRules() {
    std::filesystem::create_directories(dir_);
    const std::string path = dir_ + "/insert-id-rules.yaml";
    std::ofstream(path) << kInsertIdRules;
    return absl::StrCat("      rules_files: [", path, "]\n");
  }
  // The insertIds named by the alerts received (kInsertIdRules).
  std::multiset<std::string> InsertIds() const {
    std::multiset<std::string> ids;
    for (const auto& a : Alerts()) {
      const auto* fields = a.if_contains("output_fields");
      if (fields == nullptr || !fields->is_object()) continue;
      const auto* id = fields->as_object().if_contains("json.value[/insertId]");
      if (id != nullptr && id->is_string()) {
        ids.insert(std::string(id->as_string()));
      }
    }
    return ids;
  }

  // Pub/Sub over TLS demanding tokens from a fake token endpoint, and corral
  // started against it with a service-account key (one the endpoint refuses
  // when `wrong_key`).
  void StartWithGoogleAuth(bool wrong_key) {
    absl::StatusOr<fakes::TlsPubSub> tls =
        fakes::StartTlsPubSub(dir_ + "-certs", wrong_key);
    ASSERT_TRUE(tls.ok()) << tls.status();
    tokens_ = std::move(tls->tokens);
    pubsub_ = std::move(tls->pubsub);
    ASSERT_TRUE(pubsub_->CreateTopic(kTopic).ok());
    ASSERT_TRUE(pubsub_->CreateSubscription(kSubscription, kTopic).ok());
    ASSERT_TRUE(corral_
                    ->StartWithConfig(Config(absl::StrCat(
                        "      endpoint: ", pubsub_->address(), "\n",
                        "      tls: {ca_file: ", tls->ca_file, "}\n",
                        "      credentials_file: ", tls->key_file, "\n")))
                    .ok())
        << corral_->Stderr();
  }

  std::map<std::string, std::string> EmulatorEnv() const {
    return {{"PUBSUB_EMULATOR_HOST", pubsub_->address()}};
  }

  // Every alert the receiver got: its rule and the LogEntry insertId it came
  // from (rules used here print it as %json.value[/insertId]).
  std::vector<boost::json::object> Alerts() const {
    std::vector<boost::json::object> out;
    for (const fakes::RecordedRequest& r : receiver_.Requests()) {
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(r.body, ec);
      if (!ec && v.is_object()) out.push_back(v.as_object());
    }
    return out;
  }
  std::multiset<std::string> Rules() const {
    std::multiset<std::string> rules;
    for (const auto& a : Alerts()) {
      if (const auto* r = a.if_contains("rule"); r && r->is_string()) {
        rules.insert(std::string(r->as_string()));
      }
    }
    return rules;
  }

  fakes::FakeHttpServer receiver_;
  // Declared before pubsub_, so that it outlives the fake's token check.
  std::unique_ptr<fakes::FakeGoogleTokenServer> tokens_;
  std::unique_ptr<fakes::FakePubSub> pubsub_ =
      std::make_unique<fakes::FakePubSub>();
  std::string dir_;
  std::unique_ptr<CorralProcess> corral_;
};

TEST_F(GcpAuditE2eTest, SamplesBecomeAlertsAndEveryMessageIsAcked) {
  ASSERT_TRUE(corral_->StartWithConfig(Config(), EmulatorEnv()).ok())
      << corral_->Stderr();
  // Two samples the built-in rules alert on, one entry they do not, and one
  // message that is no audit entry at all.
  const std::string unmatched = absl::StrReplaceAll(
      VmCreated("quiet-1"),
      {{"v1.compute.instances.insert", "v1.compute.instances.get"}});
  const std::string poison = "this is not a LogEntry";
  pubsub_->Publish(kTopic, Fixture("compute_instances_insert.json"));
  pubsub_->Publish(kTopic, Fixture("crm_set_iam_policy.json"));
  pubsub_->Publish(kTopic, unmatched);
  const std::string poison_id = pubsub_->Publish(kTopic, poison);

  ASSERT_TRUE(pubsub_->WaitForAcked(kSubscription, 4, kWait));
  ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));
  EXPECT_THAT(Rules(), UnorderedElementsAre("GCP VM instance created",
                                            "GCP privileged IAM role granted"));
  for (const auto& alert : Alerts()) {
    EXPECT_EQ(boost::json::value_to<std::string>(alert.at("source")),
              "gcp_auditlog");
    EXPECT_EQ(boost::json::value_to<std::string>(
                  alert.at("output_fields").as_object().at("gcp.projectId")),
              "project-id");
  }
  EXPECT_THAT(pubsub_->Nacked(kSubscription), IsEmpty());
  EXPECT_TRUE(pubsub_->Pending(kSubscription).empty());

  // The poison message was kept, byte for byte, before it was acked.
  std::istringstream lines(ReadFile(dir_ + "/data/dead-letter.jsonl"));
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  boost::json::object dead = boost::json::parse(line).as_object();
  EXPECT_EQ(boost::json::value_to<std::string>(dead.at("input")),
            "gcpaudit/audit");
  EXPECT_EQ(boost::json::value_to<std::string>(dead.at("message_id")),
            poison_id);
  EXPECT_EQ(boost::json::value_to<std::string>(dead.at("data_base64")),
            "dGhpcyBpcyBub3QgYSBMb2dFbnRyeQ==");

  EXPECT_TRUE(corral_->WaitForMetric(
      "corral_gcpaudit_acked_total{subscription=\"audit\"} 4", kWait));
  const std::string metrics = corral_->Metrics();
  EXPECT_THAT(
      metrics,
      HasSubstr("corral_gcpaudit_received_total{subscription=\"audit\"} 4"));
  EXPECT_THAT(metrics, HasSubstr("corral_gcpaudit_dead_lettered_total{"
                                 "subscription=\"audit\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("corral_gcpaudit_unmatched_total{"
                                 "subscription=\"audit\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("corral_gcpaudit_rule_matches_total{"
                                 "subscription=\"audit\",rule=\"GCP VM "
                                 "instance created\"} 1"));
  // Flow control and the deadline went to Pub/Sub.
  ASSERT_FALSE(pubsub_->FirstRequests().empty());
  EXPECT_EQ(pubsub_->FirstRequests()[0].subscription(), kSubscription);
  EXPECT_EQ(pubsub_->FirstRequests()[0].stream_ack_deadline_seconds(), 10);
  EXPECT_EQ(pubsub_->FirstRequests()[0].max_outstanding_messages(), 1000);
  EXPECT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
}

TEST_F(GcpAuditE2eTest, SighupReloadsAChangedRulesFile) {
  const std::string config = Config(InsertIdRules());
  ASSERT_TRUE(corral_->StartWithConfig(config, EmulatorEnv()).ok())
      << corral_->Stderr();
  pubsub_->Publish(kTopic, VmCreated("first-1"));
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));

  // Nothing changed: the subscription keeps running untouched.
  absl::StatusOr<bool> applied = corral_->ReloadWithConfig(config, kWait);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_TRUE(*applied);
  EXPECT_THAT(corral_->Stderr(), HasSubstr(R"(ingest_restarted="")"));

  // A rules file that does not load is refused; the old rules go on.
  const std::string rules_path = dir_ + "/insert-id-rules.yaml";
  std::ofstream(rules_path) << "- rule: broken\n  condition: (\n";
  applied = corral_->ReloadWithConfig(config, kWait);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_FALSE(*applied);
  pubsub_->Publish(kTopic, VmCreated("second-2"));
  ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));

  // The same config with an edited rules file restarts the entry with them.
  std::ofstream(rules_path) << absl::StrReplaceAll(
      kInsertIdRules, {{"rule: VM created", "rule: VM created (edited)"}});
  applied = corral_->ReloadWithConfig(config, kWait);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_TRUE(*applied);
  EXPECT_THAT(corral_->Stderr(), HasSubstr("ingest_restarted=gcpaudit/audit"));
  pubsub_->Publish(kTopic, VmCreated("third-3"));
  ASSERT_TRUE(receiver_.WaitForRequests(3, kWait));
  ASSERT_TRUE(pubsub_->WaitForAcked(kSubscription, 3, kWait));
  EXPECT_THAT(Rules(), UnorderedElementsAre("VM created", "VM created",
                                            "VM created (edited)"));
  EXPECT_THAT(InsertIds(),
              UnorderedElementsAre("first-1", "second-2", "third-3"));
  EXPECT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
}

TEST_F(GcpAuditE2eTest, AMessageOverMaxMessageBytesIsDeadLetteredAndAcked) {
  ASSERT_TRUE(corral_
                  ->StartWithConfig(
                      Config(absl::StrCat(InsertIdRules(),
                                          "      max_message_bytes: 64KiB\n")),
                      EmulatorEnv())
                  .ok())
      << corral_->Stderr();
  // A real audit entry, padded past the limit: refused unparsed. The entry
  // after it is an alert as usual.
  const std::string big = absl::StrReplaceAll(
      VmCreated("big"),
      {{"\"insertId\":",
        absl::StrCat("\"padding\":\"", std::string(100 << 10, 'p'),
                     "\",\"insertId\":")}});
  const std::string big_id = pubsub_->Publish(kTopic, big);
  pubsub_->Publish(kTopic, VmCreated("small"));
  ASSERT_TRUE(pubsub_->WaitForAcked(kSubscription, 2, kWait));
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  EXPECT_EQ(InsertIds(), std::multiset<std::string>{"small"});
  EXPECT_THAT(pubsub_->Nacked(kSubscription), IsEmpty());

  std::vector<boost::json::object> dead = corral_->DeadLetters();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(boost::json::value_to<std::string>(dead[0].at("message_id")),
            big_id);
  EXPECT_EQ(boost::json::value_to<std::string>(dead[0].at("reason")),
            absl::StrCat("message of ", big.size(),
                         " bytes is larger than max_message_bytes (65536)"));
  EXPECT_THAT(corral_->Metrics(),
              HasSubstr("corral_gcpaudit_dead_lettered_total{"
                        "subscription=\"audit\"} 1"));
  EXPECT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
}

TEST_F(GcpAuditE2eTest, ARedeliveredEntryMakesNoSecondAlert) {
  ASSERT_TRUE(corral_->StartWithConfig(Config(), EmulatorEnv()).ok())
      << corral_->Stderr();
  // Pub/Sub may deliver the same LogEntry again (a sink retry publishes a new
  // message with the same insertId; a missed deadline redelivers).
  pubsub_->Publish(kTopic, VmCreated("dup-1"));
  ASSERT_TRUE(pubsub_->WaitForAcked(kSubscription, 1, kWait));
  pubsub_->Publish(kTopic, VmCreated("dup-1"));
  pubsub_->Publish(kTopic, VmCreated("other-2"));
  ASSERT_TRUE(pubsub_->WaitForAcked(kSubscription, 3, kWait));
  ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));
  EXPECT_TRUE(corral_->WaitForMetric(
      "corral_gcpaudit_deduplicated_total{subscription=\"audit\"} 1", kWait));
  EXPECT_EQ(receiver_.RequestCount(), 2u);
}

TEST_F(GcpAuditE2eTest, StreamDropsAndRefusalsReconnectAndLoseNothing) {
  ASSERT_TRUE(
      corral_->StartWithConfig(Config(InsertIdRules()), EmulatorEnv()).ok())
      << corral_->Stderr();
  ASSERT_TRUE(pubsub_->WaitForOpenStreams(1, kWait));
  int published = 0;
  std::set<std::string> ids;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 20; ++i) {
      ids.insert(absl::StrCat("r", round, "-", i));
      pubsub_->Publish(kTopic, VmCreated(absl::StrCat("r", round, "-", i)));
      ++published;
    }
    pubsub_->RejectStreams(2);  // the reconnect is refused twice
    pubsub_->DropStreams();
  }
  ASSERT_TRUE(pubsub_->WaitFor(
      [&] { return pubsub_->Pending(kSubscription).empty(); }, kWait))
      << pubsub_->Pending(kSubscription).size() << " never acked";
  ASSERT_TRUE(receiver_.WaitForRequests(published, kWait));
  const std::multiset<std::string> alerted = InsertIds();
  EXPECT_EQ(std::set<std::string>(alerted.begin(), alerted.end()), ids);
  EXPECT_GE(pubsub_->StreamsOpened(), 4);
  EXPECT_TRUE(pubsub_->WaitForOpenStreams(1, kWait));
}

TEST_F(GcpAuditE2eTest, PubSubGoingAwayAndComingBackLosesNothing) {
  ASSERT_TRUE(corral_->StartWithConfig(Config(), EmulatorEnv()).ok())
      << corral_->Stderr();
  ASSERT_TRUE(pubsub_->WaitForOpenStreams(1, kWait));
  pubsub_->Publish(kTopic, VmCreated("before"));
  ASSERT_TRUE(pubsub_->WaitForAcked(kSubscription, 1, kWait));
  pubsub_->Stop();
  pubsub_->Publish(kTopic, VmCreated("while-down"));
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(pubsub_->Start(pubsub_->port()).ok());
  ASSERT_TRUE(pubsub_->WaitForAcked(kSubscription, 2, kWait));
  ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));
}

TEST_F(GcpAuditE2eTest, SigkillWithMessagesInFlightLosesNoAlert) {
  // The receiver is down: alerts pile up in the spool while messages are
  // pulled, spooled and acked; corral is killed in the middle of it.
  const int port = receiver_.port();
  receiver_.Stop();
  std::set<std::string> published;
  for (int i = 0; i < 2000; ++i) {
    const std::string id = absl::StrCat("k", i);
    pubsub_->Publish(kTopic, VmCreated(id));
    published.insert(id);
  }
  const std::string config = Config(InsertIdRules());
  ASSERT_TRUE(corral_->StartWithConfig(config, EmulatorEnv()).ok())
      << corral_->Stderr();
  ASSERT_TRUE(pubsub_->WaitFor(
      [&] { return pubsub_->Acked(kSubscription).size() >= 50; }, kWait));
  EXPECT_EQ(corral_->Stop(SIGKILL, kWait).value_or(0), -SIGKILL);
  const size_t acked_before_kill = pubsub_->Acked(kSubscription).size();
  RecordProperty("acked_before_kill", static_cast<int>(acked_before_kill));
  // Some were still unacked: the restart must take them from Pub/Sub.
  ASSERT_LT(acked_before_kill, published.size());

  // Restart with the receiver up: what was acked comes from the spool, the
  // rest from Pub/Sub again.
  ASSERT_TRUE(receiver_.Start(port).ok());
  corral_ = std::make_unique<CorralProcess>(dir_, /*keep=*/true);
  ASSERT_TRUE(corral_->StartWithConfig(config, EmulatorEnv()).ok())
      << corral_->Stderr();
  ASSERT_TRUE(pubsub_->WaitFor(
      [&] { return pubsub_->Pending(kSubscription).empty(); }, kWait));
  std::set<std::string> missing = published;
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline && !missing.empty()) {
    for (const std::string& id : InsertIds()) missing.erase(id);
    if (!missing.empty()) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(missing.empty())
      << missing.size() << " entries never alerted, e.g. " << *missing.begin();
}

TEST_F(GcpAuditE2eTest, ServiceAccountTokenOverTlsIsCheckedByPubSub) {
  ASSERT_NO_FATAL_FAILURE(StartWithGoogleAuth(/*wrong_key=*/false));
  fakes::FakeGoogleTokenServer& tokens = *tokens_;
  pubsub_->Publish(kTopic, VmCreated("tls-1"));
  ASSERT_TRUE(pubsub_->WaitForAcked(kSubscription, 1, kWait))
      << tokens.LastRejection() << " rejected=" << tokens.Rejected()
      << " issued=" << tokens.TokensIssued()
      << " requests=" << tokens.http().RequestCount();
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  EXPECT_GE(tokens.TokensIssued(), 1u);
  ASSERT_FALSE(tokens.ScopeRequests().empty());
  EXPECT_THAT(tokens.ScopeRequests()[0],
              UnorderedElementsAre("https://www.googleapis.com/auth/pubsub"));
  EXPECT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  // Neither the token nor the key appears in what corral wrote.
  const std::string logs = corral_->Stderr() + corral_->Stdout();
  EXPECT_THAT(logs, Not(HasSubstr(tokens.LastToken())));
  EXPECT_THAT(logs, Not(HasSubstr("BEGIN PRIVATE KEY")));
}

TEST_F(GcpAuditE2eTest, AKeyGoogleRefusesIsReportedAndNothingIsAcked) {
  ASSERT_NO_FATAL_FAILURE(StartWithGoogleAuth(/*wrong_key=*/true));
  pubsub_->Publish(kTopic, VmCreated("refused-1"));
  // After a few refused attempts it is an error naming Google's reason.
  const std::string error =
      "level=error msg=\"cannot pull from Pub/Sub; retrying\"";
  const absl::Time deadline = absl::Now() + kWait;
  while (absl::Now() < deadline &&
         !absl::StrContains(corral_->Stderr(), error)) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  std::string logs = corral_->Stderr();
  ASSERT_THAT(logs, HasSubstr(error));
  logs = logs.substr(logs.find(error));
  EXPECT_THAT(logs.substr(0, logs.find('\n')),
              HasSubstr("invalid_grant: Invalid JWT Signature."));
  EXPECT_THAT(pubsub_->Acked(kSubscription), IsEmpty());
  EXPECT_EQ(receiver_.RequestCount(), 0u);
  EXPECT_THAT(corral_->Stderr(), Not(HasSubstr("BEGIN PRIVATE KEY")));
}

TEST_F(GcpAuditE2eTest, UpstreamRulesFileWithAllMatching) {
  ASSERT_TRUE(
      corral_
          ->StartWithConfig(Config(absl::StrCat(
                                "      rules_files: [", CORRAL_FIXTURES_DIR,
                                "/gcpaudit/upstream_gcp_auditlog_rules.yaml]\n"
                                "      rule_matching: all\n")),
                            EmulatorEnv())
          .ok())
      << corral_->Stderr();
  pubsub_->Publish(kTopic, Fixture("compute_instances_insert.json"));
  pubsub_->Publish(kTopic, Fixture("crm_set_iam_policy.json"));
  ASSERT_TRUE(pubsub_->WaitForAcked(kSubscription, 2, kWait));
  ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));
  // The upstream file's own rule names, as `corral rules test` prints them.
  EXPECT_EQ(Rules().size(), receiver_.RequestCount());
  EXPECT_THAT(Rules(), Not(IsEmpty()));
  for (const std::string& rule : Rules()) {
    EXPECT_THAT(rule, Not(HasSubstr("GCP VM instance created")));
  }
}

TEST_F(GcpAuditE2eTest, CheckConfigRefusesRulesThatDoNotLoad) {
  const std::string bad = dir_ + "-bad-rules.yaml";
  std::filesystem::create_directories(dir_);
  {
    std::ofstream out(bad);
    out << "- rule: broken\n  desc: d\n  condition: gcp.nope = 1\n"
           "  output: o\n  priority: WARNING\n";
  }
  std::ofstream(dir_ + "/corral.yaml")
      << Config(absl::StrCat("      rules_files: [", bad, "]\n"));
  ASSERT_TRUE(
      corral_->Start({"check-config", "-c", dir_ + "/corral.yaml"}).ok());
  EXPECT_EQ(corral_->Wait(kWait).value_or(-1), 1);
  EXPECT_THAT(corral_->Stdout(),
              HasSubstr("ingest.gcpaudit[0]: rules do not load"));
  EXPECT_THAT(corral_->Stdout(), HasSubstr("gcp.nope"));
}

}  // namespace
}  // namespace corral::e2e
