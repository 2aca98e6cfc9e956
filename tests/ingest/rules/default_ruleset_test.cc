// Proves every rule of corral's default ruleset, rules/gcp_audit.yaml: it
// loads cleanly, is tagged with MITRE ATT&CK, and each rule fires on a
// realistic LogEntry and stays quiet on a near miss.

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "core/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingest/gcpaudit/log_entry_fields.h"
#include "ingest/rules/rule_engine.h"
#include "ingest/rules/rules_loader.h"
#include "re2/re2.h"

namespace corral::ingest::rules {
namespace {

using gcpaudit::LogEntryFields;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const std::string kDefaultRules =
    std::string(CORRAL_SOURCE_DIR) + "/rules/gcp_audit.yaml";
const std::string kFixtures = std::string(CORRAL_FIXTURES_DIR) + "/gcpaudit/";
const std::string kUpstream = kFixtures + "upstream_gcp_auditlog_rules.yaml";

// A LogEntry of an admin-activity audit log in project p1. `labels` are extra
// resource labels (a JSON fragment starting with ','), `extra` extra
// protoPayload members (a fragment starting with ',', e.g. request).
std::string Log(const std::string& service, const std::string& method,
                const std::string& resource_type,
                const std::string& resource_name, const std::string& labels,
                const std::string& extra) {
  return R"({"insertId":"abc123","logName":"projects/p1/logs/cloudaudit.googleapis.com%2Factivity",)"
         R"("resource":{"type":")" +
         resource_type + R"(","labels":{"project_id":"p1")" + labels +
         R"(}},"timestamp":"2024-11-19T13:13:13.123Z","severity":"NOTICE",)"
         R"("protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog",)"
         R"("status":{},"serviceName":")" +
         service + R"(","methodName":")" + method + R"(","resourceName":")" +
         resource_name +
         R"(","authenticationInfo":{"principalEmail":"mallory@example.com"},)"
         R"("requestMetadata":{"callerIp":"203.0.113.7","callerSuppliedUserAgent":"google-cloud-sdk gcloud/501.0.0"})" +
         extra + "}}";
}

// serviceData carrying binding deltas (storage, projects).
std::string ServiceDataDelta(const std::string& deltas) {
  return R"(,"serviceData":{"@type":"type.googleapis.com/google.iam.v1.logging.AuditData","policyDelta":{"bindingDeltas":[)" +
         deltas + "]}}";
}

std::string Delta(const std::string& action, const std::string& role,
                  const std::string& member) {
  return R"({"action":")" + action + R"(","role":")" + role +
         R"(","member":")" + member + R"("})";
}

// --- builders per service ---------------------------------------------

std::string Crm(const std::string& deltas) {
  return Log(
      "cloudresourcemanager.googleapis.com", "SetIamPolicy", "project",
      "projects/p1", "",
      R"(,"request":{"@type":"type.googleapis.com/google.iam.v1.SetIamPolicyRequest","resource":"p1","policy":{"bindings":[],"etag":"BwYnObHBOBA="}})" +
          ServiceDataDelta(deltas));
}

std::string Iam(const std::string& method) {
  return Log(
      "iam.googleapis.com", method, "service_account",
      "projects/-/serviceAccounts/1234567890",
      R"(,"email_id":"ci@p1.iam.gserviceaccount.com","unique_id":"1234567890")",
      R"(,"request":{"@type":"type.googleapis.com/google.iam.admin.v1.CreateServiceAccountKeyRequest","name":"projects/-/serviceAccounts/ci@p1.iam.gserviceaccount.com","private_key_type":2})");
}

std::string Storage(const std::string& method, const std::string& extra) {
  return Log("storage.googleapis.com", method, "gcs_bucket",
             "projects/_/buckets/bkt",
             R"(,"bucket_name":"bkt","location":"us-central1")", extra);
}

std::string BigQuery(const std::string& method, const std::string& deltas) {
  std::string metadata =
      R"(,"metadata":{"@type":"type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata","datasetChange":{"dataset":{"datasetName":"projects/p1/datasets/ds1"})";
  if (!deltas.empty()) metadata += R"(,"bindingDeltas":[)" + deltas + "]";
  metadata += "}}";
  return Log("bigquery.googleapis.com", method, "bigquery_dataset",
             "projects/p1/datasets/ds1", R"(,"dataset_id":"ds1")", metadata);
}

std::string Compute(const std::string& method, const std::string& type,
                    const std::string& name, const std::string& extra) {
  return Log("compute.googleapis.com", method, type, "projects/p1/" + name,
             R"(,"zone":"us-central1-a")", extra);
}

std::string Firewall(const std::string& method, const std::string& request) {
  return Compute(
      method, "gce_firewall_rule", "global/firewalls/allow-ssh",
      R"(,"request":{"@type":"type.googleapis.com/compute.firewalls.insert","name":"allow-ssh",)"
      R"("network":"https://www.googleapis.com/compute/v1/projects/p1/global/networks/default",)" +
          request + "}");
}

std::string Armor(const std::string& method) {
  return Log(
      "compute.googleapis.com", method, "network_security_policy",
      "projects/p1/global/securityPolicies/edge-waf",
      R"(,"policy_name":"edge-waf")",
      R"(,"request":{"@type":"type.googleapis.com/compute.securityPolicies.removeRule","priority":"1000"})");
}

std::string Kms(const std::string& method, const std::string& state) {
  return Log(
      "cloudkms.googleapis.com", method, "cloudkms_cryptokeyversion",
      "projects/p1/locations/global/keyRings/kr/cryptoKeys/k/"
      "cryptoKeyVersions/1",
      R"(,"location":"global","key_ring_id":"kr","crypto_key_id":"k","crypto_key_version_id":"1")",
      R"(,"request":{"@type":"type.googleapis.com/google.cloud.kms.v1.UpdateCryptoKeyVersionRequest",)"
      R"("cryptoKeyVersion":{"name":"projects/p1/locations/global/keyRings/kr/cryptoKeys/k/cryptoKeyVersions/1","state":")" +
          state + R"("},"updateMask":"state"})");
}

std::string CloudSql(const std::string& method, const std::string& network) {
  return Log(
      "cloudsql.googleapis.com", method, "cloudsql_database",
      "projects/p1/instances/db1",
      R"(,"database_id":"p1:db1","region":"us-central1")",
      R"(,"request":{"@type":"type.googleapis.com/google.cloud.sql.v1beta4.SqlInstancesUpdateRequest","instance":"db1","project":"p1",)"
      R"("body":{"name":"db1","settings":{"ipConfiguration":{"ipv4Enabled":true,"authorizedNetworks":[{"name":"net","value":")" +
          network + R"("}]}}}})");
}

std::string PubSub(const std::string& method, const std::string& type,
                   const std::string& name) {
  return Log("pubsub.googleapis.com", method, type, "projects/p1/" + name,
             type == "pubsub_topic" ? R"(,"topic_id":"audit")"
                                    : R"(,"subscription_id":"audit-sub")",
             "");
}

std::string Logging(const std::string& method, const std::string& request) {
  return Log("logging.googleapis.com", method, "logging_sink",
             "projects/p1/sinks/audit-to-pubsub",
             R"(,"name":"audit-to-pubsub")", R"(,"request":)" + request);
}

std::string Functions(const std::string& method, const std::string& bindings) {
  return Log(
      "cloudfunctions.googleapis.com", method, "cloud_function",
      "projects/p1/locations/us-central1/functions/fn",
      R"(,"function_name":"fn","region":"us-central1")",
      R"(,"request":{"@type":"type.googleapis.com/google.iam.v1.SetIamPolicyRequest",)"
      R"("resource":"projects/p1/locations/us-central1/functions/fn","policy":{"bindings":[)" +
          bindings + "]}}");
}

// One rule, an entry that must fire it, and near misses that must not.
struct RuleCase {
  std::string rule;
  std::string hit;
  std::vector<std::string> misses;
};

const std::vector<RuleCase>& Cases() {
  static const auto* cases = new std::vector<RuleCase>{
      {"GCP project or org IAM granted to the public",
       Crm(Delta("ADD", "roles/viewer", "allUsers")),
       {Crm(Delta("REMOVE", "roles/viewer", "allUsers")),
        Crm(Delta("ADD", "roles/viewer", "user:bob@example.com"))}},
      {"GCP owner role granted to external principal",
       Crm(Delta("ADD", "roles/owner", "user:mallory.attacker@gmail.com")),
       {Crm(Delta("ADD", "roles/owner",
                  "serviceAccount:ci@p1.iam.gserviceaccount.com")),
        Crm(Delta("ADD", "roles/viewer", "user:mallory.attacker@gmail.com")),
        Crm(Delta("REMOVE", "roles/owner",
                  "user:mallory.attacker@gmail.com"))}},
      {"GCP privileged IAM role granted",
       Crm(Delta("ADD", "roles/resourcemanager.projectIamAdmin",
                 "serviceAccount:ci@p1.iam.gserviceaccount.com")),
       {Crm(Delta("REMOVE", "roles/resourcemanager.projectIamAdmin",
                  "serviceAccount:ci@p1.iam.gserviceaccount.com")),
        Crm(Delta("ADD", "roles/viewer", "user:bob@example.com")),
        Crm(Delta("ADD", "roles/editorial.reader", "user:bob@example.com")),
        Crm(Delta("ADD", "roles/iam.serviceAccountViewer",
                  "user:bob@example.com"))}},
      {"GCP service account key created",
       Iam("google.iam.admin.v1.CreateServiceAccountKey"),
       {Iam("google.iam.admin.v1.ListServiceAccountKeys"),
        Iam("google.iam.admin.v1.DeleteServiceAccountKey")}},
      {"GCS bucket made public",
       Storage("storage.setIamPermissions",
               ServiceDataDelta(Delta("ADD", "roles/storage.objectViewer",
                                      "allAuthenticatedUsers"))),
       {Storage("storage.setIamPermissions",
                ServiceDataDelta(Delta("ADD", "roles/storage.objectViewer",
                                       "user:alice@example.com"))),
        Storage("storage.setIamPermissions",
                ServiceDataDelta(
                    Delta("REMOVE", "roles/storage.objectViewer", "allUsers"))),
        Storage("storage.getIamPermissions", "")}},
      {"GCS bucket deleted",
       Storage("storage.buckets.delete", ""),
       {Storage("storage.buckets.get", ""),
        Storage("storage.buckets.update", "")}},
      {"GCP BigQuery dataset made public",
       BigQuery("google.iam.v1.IAMPolicy.SetIamPolicy",
                Delta("ADD", "roles/bigquery.dataViewer", "allUsers")),
       {BigQuery("google.iam.v1.IAMPolicy.SetIamPolicy",
                 Delta("ADD", "roles/bigquery.dataViewer",
                       "group:analysts@example.com")),
        BigQuery("google.iam.v1.IAMPolicy.GetIamPolicy", "")}},
      {"GCP BigQuery dataset deleted",
       BigQuery("google.cloud.bigquery.v2.DatasetService.DeleteDataset", ""),
       {BigQuery("google.cloud.bigquery.v2.DatasetService.GetDataset", "")}},
      {"GCP firewall rule open to the internet",
       Firewall(
           "v1.compute.firewalls.insert",
           R"("direction":"INGRESS","sourceRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}])"),
       {Firewall(
            "v1.compute.firewalls.insert",
            R"("direction":"INGRESS","sourceRanges":["10.0.0.0/8"],"allowed":[{"IPProtocol":"tcp","ports":["22"]}])"),
        Firewall(
            "v1.compute.firewalls.insert",
            R"("direction":"EGRESS","destinationRanges":["0.0.0.0/0"],"allowed":[{"IPProtocol":"all"}])"),
        Firewall("v1.compute.firewalls.get",
                 R"("sourceRanges":["0.0.0.0/0"])")}},
      {"GCP firewall rule deleted",
       Firewall("v1.compute.firewalls.delete", R"("direction":"INGRESS")"),
       {Firewall("v1.compute.firewalls.get", R"("direction":"INGRESS")")}},
      {"GCP VM instance created",
       Compute(
           "v1.compute.instances.insert", "gce_instance",
           "zones/us-central1-a/instances/vm1",
           R"(,"request":{"@type":"type.googleapis.com/compute.instances.insert","name":"vm1"})"),
       {Compute("v1.compute.instances.stop", "gce_instance",
                "zones/us-central1-a/instances/vm1", "")}},
      {"GCP VM instance deleted",
       Compute("v1.compute.instances.delete", "gce_instance",
               "zones/us-central1-a/instances/vm1", ""),
       {Compute("v1.compute.instances.reset", "gce_instance",
                "zones/us-central1-a/instances/vm1", "")}},
      {"GCP SSH keys added to instance or project metadata",
       Compute(
           "v1.compute.projects.setCommonInstanceMetadata", "gce_project", "",
           R"(,"metadata":{"@type":"type.googleapis.com/google.cloud.audit.GceProjectAuditMetadata","projectMetadataDelta":{"addedMetadataKeys":["ssh-keys"]}})"),
       {Compute(
           "v1.compute.projects.setCommonInstanceMetadata", "gce_project", "",
           R"(,"metadata":{"@type":"type.googleapis.com/google.cloud.audit.GceProjectAuditMetadata","projectMetadataDelta":{"addedMetadataKeys":["enable-oslogin"]}})")}},
      {"GCP Cloud Armor security policy deleted",
       Armor("v1.compute.securityPolicies.delete"),
       {Armor("v1.compute.securityPolicies.get"),
        Armor("v1.compute.securityPolicies.insert")}},
      {"GCP Cloud Armor security policy rule removed",
       Armor("v1.compute.securityPolicies.removeRule"),
       {Armor("v1.compute.securityPolicies.addRule")}},
      {"GCP KMS key version scheduled for destruction",
       Kms("DestroyCryptoKeyVersion", "DESTROY_SCHEDULED"),
       {Kms("RestoreCryptoKeyVersion", "DISABLED"),
        Kms("GetCryptoKeyVersion", "ENABLED")}},
      {"GCP KMS key version disabled",
       Kms("UpdateCryptoKeyVersion", "DISABLED"),
       {Kms("UpdateCryptoKeyVersion", "ENABLED")}},
      {"GCP Cloud SQL authorized network open to the internet",
       CloudSql("cloudsql.instances.update", "0.0.0.0/0"),
       {CloudSql("cloudsql.instances.update", "10.0.0.0/8"),
        CloudSql("cloudsql.instances.get", "0.0.0.0/0")}},
      {"GCP Cloud SQL instance deleted",
       CloudSql("cloudsql.instances.delete", "10.0.0.0/8"),
       {CloudSql("cloudsql.instances.restart", "10.0.0.0/8")}},
      {"GCP Pub/Sub topic removed",
       PubSub("google.pubsub.v1.Publisher.DeleteTopic", "pubsub_topic",
              "topics/audit"),
       {PubSub("google.pubsub.v1.Publisher.CreateTopic", "pubsub_topic",
               "topics/audit")}},
      {"GCP Pub/Sub subscription deleted or detached",
       PubSub("google.pubsub.v1.Subscriber.DeleteSubscription",
              "pubsub_subscription", "subscriptions/audit-sub"),
       {PubSub("google.pubsub.v1.Subscriber.UpdateSubscription",
               "pubsub_subscription", "subscriptions/audit-sub")}},
      {"GCP log sink deleted",
       Logging(
           "google.logging.v2.ConfigServiceV2.DeleteSink",
           R"({"@type":"type.googleapis.com/google.logging.v2.DeleteSinkRequest","sinkName":"projects/p1/sinks/audit-to-pubsub"})"),
       {Logging("google.logging.v2.ConfigServiceV2.GetSink",
                R"({"sinkName":"projects/p1/sinks/audit-to-pubsub"})")}},
      {"GCP log sink disabled",
       Logging(
           "google.logging.v2.ConfigServiceV2.UpdateSink",
           R"({"@type":"type.googleapis.com/google.logging.v2.UpdateSinkRequest","sinkName":"projects/p1/sinks/audit-to-pubsub",)"
           R"("sink":{"name":"audit-to-pubsub","destination":"pubsub.googleapis.com/projects/p1/topics/audit","disabled":true},"updateMask":"disabled"})"),
       {Logging(
           "google.logging.v2.ConfigServiceV2.UpdateSink",
           R"({"@type":"type.googleapis.com/google.logging.v2.UpdateSinkRequest","sinkName":"projects/p1/sinks/audit-to-pubsub",)"
           R"("sink":{"name":"audit-to-pubsub","destination":"pubsub.googleapis.com/projects/p1/topics/audit","filter":"logName:activity","disabled":false},"updateMask":"filter"})")}},
      {"GCP log exclusion created",
       Logging(
           "google.logging.v2.ConfigServiceV2.CreateExclusion",
           R"({"parent":"projects/p1","exclusion":{"name":"quiet","filter":"protoPayload.serviceName=iam.googleapis.com"}})"),
       {Logging("google.logging.v2.ConfigServiceV2.DeleteExclusion",
                R"({"name":"projects/p1/exclusions/quiet"})")}},
      {"GCP Cloud Function made public",
       Functions(
           "google.cloud.functions.v1.CloudFunctionsService.SetIamPolicy",
           R"({"role":"roles/cloudfunctions.invoker","members":["allUsers"]})"),
       {Functions(
            "google.cloud.functions.v1.CloudFunctionsService.SetIamPolicy",
            R"({"role":"roles/cloudfunctions.invoker","members":["serviceAccount:caller@p1.iam.gserviceaccount.com"]})"),
        Functions(
            "google.cloud.functions.v1.CloudFunctionsService.GetIamPolicy",
            R"({"role":"roles/cloudfunctions.invoker","members":["allUsers"]})")}},
      {"GCP Cloud Function deployed",
       Functions(
           "google.cloud.functions.v1.CloudFunctionsService.CreateFunction",
           ""),
       {Functions(
           "google.cloud.functions.v1.CloudFunctionsService.DeleteFunction",
           "")}},
  };
  return *cases;
}

LogEntryFields Parse(const std::string& json) {
  auto e = LogEntryFields::Parse(json);
  EXPECT_TRUE(e.ok()) << e.status() << "\n" << json;
  return *std::move(e);
}

std::vector<std::string> Names(const std::vector<const Rule*>& rules) {
  std::vector<std::string> out;
  for (const Rule* r : rules) out.push_back(r->name);
  return out;
}

class DefaultRulesetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    result_ = LoadRulesFiles({kDefaultRules});
    ASSERT_TRUE(result_.ok()) << ::testing::PrintToString(result_.errors);
  }
  LoadResult result_;
};

TEST_F(DefaultRulesetTest, LoadsWithoutErrorsOrWarnings) {
  EXPECT_THAT(result_.errors, IsEmpty());
  EXPECT_THAT(result_.warnings, IsEmpty());
  EXPECT_FALSE(result_.rules->rules().empty());
}

TEST_F(DefaultRulesetTest, EveryRuleHasACaseAndEveryCaseARule) {
  std::set<std::string> loaded;
  for (const Rule& r : result_.rules->rules()) loaded.insert(r.name);
  std::set<std::string> cased;
  for (const RuleCase& c : Cases()) {
    EXPECT_TRUE(cased.insert(c.rule).second) << "duplicate case " << c.rule;
  }
  EXPECT_EQ(loaded, cased);
  EXPECT_EQ(result_.rules->rules().size(), Cases().size());
}

TEST_F(DefaultRulesetTest, EveryRuleIsTaggedAndPrintsWhoWhereWhat) {
  const std::set<std::string> tactics = {
      "mitre_reconnaissance",  "mitre_resource_development",
      "mitre_initial_access",  "mitre_execution",
      "mitre_persistence",     "mitre_privilege_escalation",
      "mitre_defense_evasion", "mitre_credential_access",
      "mitre_discovery",       "mitre_lateral_movement",
      "mitre_collection",      "mitre_command_and_control",
      "mitre_exfiltration",    "mitre_impact"};
  const std::set<std::string> services = {
      "compute",  "kms",      "cloudarmor", "iam",     "storage",
      "bigquery", "cloudsql", "pubsub",     "logging", "cloudfunctions"};
  const RE2 technique(R"(T\d{4}(\.\d{3})?)");
  LogEntryFields entry = Parse(Cases().front().hit);
  for (const Rule& r : result_.rules->rules()) {
    SCOPED_TRACE(r.name);
    bool has_tactic = false, has_technique = false, has_service = false;
    for (const std::string& t : r.tags) {
      if (tactics.count(t)) has_tactic = true;
      if (RE2::FullMatch(t, technique)) has_technique = true;
      if (services.count(t)) has_service = true;
    }
    EXPECT_TRUE(has_tactic);
    EXPECT_TRUE(has_technique);
    EXPECT_TRUE(has_service);
    EXPECT_THAT(r.tags, Contains("gcp"));
    EXPECT_EQ(r.source, "gcp_auditlog");
    EXPECT_FALSE(r.desc.empty());
    EXPECT_GE(r.priority, core::Priority::kNotice);
    core::Alert alert = BuildAlert(r, entry, "host");
    EXPECT_THAT(alert.output_fields_json, HasSubstr(R"("gcp.user":)"));
    EXPECT_THAT(alert.output_fields_json, HasSubstr(R"("gcp.callerIP":)"));
    EXPECT_THAT(alert.output_fields_json, HasSubstr(R"("gcp.projectId":)"));
    EXPECT_THAT(alert.output, HasSubstr("mallory@example.com"));
    EXPECT_THAT(alert.output, HasSubstr("203.0.113.7"));
    EXPECT_THAT(alert.output, HasSubstr("project=p1"));
  }
}

TEST_F(DefaultRulesetTest, EachRuleFiresOnItsEntryAndNotOnNearMisses) {
  const RuleSet& rules = *result_.rules;
  for (const RuleCase& c : Cases()) {
    SCOPED_TRACE(c.rule);
    ASSERT_NE(rules.Find(c.rule), nullptr);
    LogEntryFields hit = Parse(c.hit);
    EXPECT_THAT(Names(rules.Evaluate(hit, RuleMatching::kAll)),
                Contains(c.rule));
    EXPECT_THAT(Names(rules.Evaluate(hit, RuleMatching::kFirst)),
                ElementsAre(c.rule));
    ASSERT_FALSE(c.misses.empty());
    for (size_t i = 0; i < c.misses.size(); ++i) {
      SCOPED_TRACE("near miss #" + std::to_string(i));
      LogEntryFields miss = Parse(c.misses[i]);
      EXPECT_THAT(Names(rules.Evaluate(miss, RuleMatching::kAll)),
                  Not(Contains(c.rule)));
    }
  }
}

TEST_F(DefaultRulesetTest, PriorityAndAlertOfThePublicBucketRule) {
  const Rule* r = result_.rules->Find("GCS bucket made public");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->priority, core::Priority::kCritical);
  EXPECT_THAT(r->tags, Contains("T1530"));
  auto it = std::find_if(Cases().begin(), Cases().end(),
                         [&](const RuleCase& c) { return c.rule == r->name; });
  ASSERT_NE(it, Cases().end());
  LogEntryFields e = Parse(it->hit);
  core::Alert alert = BuildAlert(*r, e, "host");
  EXPECT_THAT(alert.output, HasSubstr("bucket=bkt"));
  EXPECT_THAT(alert.output, HasSubstr("allAuthenticatedUsers"));
}

TEST_F(DefaultRulesetTest, SampleFixtures) {
  auto insert =
      core::ReadFileToString(kFixtures + "compute_instances_insert.json");
  ASSERT_TRUE(insert.ok()) << insert.status();
  EXPECT_THAT(
      Names(result_.rules->Evaluate(Parse(*insert), RuleMatching::kAll)),
      ElementsAre("GCP VM instance created"));
  // The sample grants roles/resourcemanager.projectIamAdmin to a service
  // account: whoever holds it can grant itself any role.
  auto crm = core::ReadFileToString(kFixtures + "crm_set_iam_policy.json");
  ASSERT_TRUE(crm.ok()) << crm.status();
  EXPECT_THAT(Names(result_.rules->Evaluate(Parse(*crm), RuleMatching::kAll)),
              ElementsAre("GCP privileged IAM role granted"));
}

TEST_F(DefaultRulesetTest, OwnerRuleHonoursTheTrustedDomainOverride) {
  auto text = core::ReadFileToString(kDefaultRules);
  ASSERT_TRUE(text.ok()) << text.status();
  LoadResult r = LoadRules({{kDefaultRules, *text}, {"local.yaml", R"(
- macro: corral_trusted_owner_member
  condition: gcp.policyDelta regex '.*"member":"(user|group):[^"]*@corp\.example".*'
  override:
    condition: replace
)"}});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  const std::string rule = "GCP owner role granted to external principal";
  EXPECT_THAT(
      Names(r.rules->Evaluate(
          Parse(Crm(Delta("ADD", "roles/owner", "user:ann@corp.example"))),
          RuleMatching::kAll)),
      Not(Contains(rule)));
  EXPECT_THAT(Names(r.rules->Evaluate(
                  Parse(Crm(Delta("ADD", "roles/owner", "user:eve@gmail.com"))),
                  RuleMatching::kAll)),
              Contains(rule));
}

TEST(DefaultRulesetWithUpstreamTest, LoadTogetherInOrder) {
  LoadResult alone = LoadRulesFiles({kDefaultRules});
  ASSERT_TRUE(alone.ok()) << ::testing::PrintToString(alone.errors);
  LoadResult r = LoadRulesFiles({kUpstream, kDefaultRules});
  ASSERT_TRUE(r.ok()) << ::testing::PrintToString(r.errors);
  EXPECT_THAT(r.warnings, IsEmpty());
  // No name collides: upstream's 39 rules plus every default rule.
  EXPECT_EQ(r.rules->rules().size(), 39u + alone.rules->rules().size());
  for (const RuleCase& c : Cases()) {
    SCOPED_TRACE(c.rule);
    ASSERT_NE(r.rules->Find(c.rule), nullptr);
    EXPECT_THAT(Names(r.rules->Evaluate(Parse(c.hit), RuleMatching::kAll)),
                Contains(c.rule));
  }
  EXPECT_NE(r.rules->Find("GCP Bucket configured to be public"), nullptr);
  // Upstream rules come first in file order.
  EXPECT_EQ(r.rules->rules().front().name,
            "GCP Cloud SQL database user modified or deleted");
}

}  // namespace
}  // namespace corral::ingest::rules
