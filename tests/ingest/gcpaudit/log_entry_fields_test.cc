#include "ingest/gcpaudit/log_entry_fields.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/alert_json.h"
#include "core/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::ingest::gcpaudit {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;

std::string Fixture(const std::string& name) {
  auto text = core::ReadFileToString(std::string(CORRAL_FIXTURES_DIR) +
                                     "/gcpaudit/" + name);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.value_or("");
}

LogEntryFields MustParse(const std::string& json) {
  auto entry = LogEntryFields::Parse(json);
  EXPECT_TRUE(entry.ok()) << entry.status();
  return *std::move(entry);
}

// A minimal audit LogEntry with the given extra top-level members and
// protoPayload members.
std::string Entry(const std::string& top, const std::string& payload = "") {
  return R"({"timestamp":"2024-11-19T13:13:13.5Z",)" + top +
         (top.empty() ? "" : ",") +
         R"("protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog")" +
         (payload.empty() ? "" : ",") + payload + "}}";
}

TEST(LogEntryFieldsTest, ComputeInsertFixtureFields) {
  LogEntryFields e = MustParse(Fixture("compute_instances_insert.json"));
  EXPECT_THAT(
      e.Get("gcp.user"),
      Optional(std::string("project-id@cloudservices.gserviceaccount.com")));
  EXPECT_THAT(e.Get("gcp.callerIP"), Optional(std::string("175.16.199.45")));
  EXPECT_THAT(e.Get("gcp.userAgent"),
              Optional(std::string("Google-Deployment-Manager,gzip(gfe)")));
  EXPECT_THAT(e.Get("gcp.serviceName"),
              Optional(std::string("compute.googleapis.com")));
  EXPECT_THAT(e.Get("gcp.methodName"),
              Optional(std::string("v1.compute.instances.insert")));
  EXPECT_THAT(e.Get("gcp.resourceName"),
              Optional(std::string(
                  "projects/project-id/zones/us-central1-a/instances/x-logs")));
  EXPECT_THAT(e.Get("gcp.resourceType"), Optional(std::string("gce_instance")));
  // Compact JSON in input key order.
  EXPECT_THAT(e.Get("gcp.resourceLabels"),
              Optional(std::string(R"({"instance_id":"2525602744967966726",)"
                                   R"("project_id":"project-id",)"
                                   R"("zone":"us-central1-a"})")));
  // No location, no region: the zone minus its last two characters.
  EXPECT_THAT(e.Get("gcp.location"), Optional(std::string("us-central1")));
  EXPECT_THAT(e.Get("gcp.projectId"), Optional(std::string("project-id")));
  EXPECT_THAT(e.Get("gcp.compute.instanceId"),
              Optional(std::string("2525602744967966726")));
  EXPECT_THAT(e.Get("gcp.time"),
              Optional(std::string("2024-11-19T13:13:13.176899Z")));
  EXPECT_EQ(absl::ToUnixMicros(e.timestamp()), int64_t{1732021993176899});
  EXPECT_EQ(e.insert_id(), "-w5vrlhdm7gk");

  std::optional<std::string> auth = e.Get("gcp.authorizationInfo");
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(
      auth->rfind(
          R"([{"granted":true,"permission":"compute.instances.create",)", 0),
      0u)
      << *auth;
  std::optional<std::string> request = e.Get("gcp.request");
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(
      request->rfind(
          R"({"@type":"type.googleapis.com/compute.instances.insert","disks":[)",
          0),
      0u)
      << *request;

  // Fields this entry does not have.
  for (const char* absent :
       {"gcp.policyDelta", "gcp.logging.sink", "gcp.storage.bucket",
        "gcp.cloudfunctions.function", "gcp.cloudsql.databaseId",
        "gcp.compute.networkId", "gcp.compute.subnetwork",
        "gcp.compute.subnetworkId", "gcp.dns.zone", "gcp.iam.serviceAccount",
        "gcp.iam.serviceAccountId"}) {
    EXPECT_EQ(e.Get(absent), std::nullopt) << absent;
  }
}

TEST(LogEntryFieldsTest, SetIamPolicyFixtureFields) {
  LogEntryFields e = MustParse(Fixture("crm_set_iam_policy.json"));
  EXPECT_THAT(
      e.Get("gcp.policyDelta"),
      Optional(std::string(
          R"([{"action":"ADD","member":"serviceAccount:project-id@cloudservices.gserviceaccount.com",)"
          R"("role":"roles/resourcemanager.projectIamAdmin"}])")));
  EXPECT_THAT(e.Get("gcp.methodName"), Optional(std::string("SetIamPolicy")));
  EXPECT_THAT(e.Get("gcp.serviceName"),
              Optional(std::string("cloudresourcemanager.googleapis.com")));
  EXPECT_THAT(e.Get("gcp.resourceType"), Optional(std::string("project")));
  EXPECT_THAT(e.Get("gcp.resourceLabels"),
              Optional(std::string(R"({"project_id":"project-id"})")));
  EXPECT_EQ(e.Get("gcp.location"), std::nullopt);
  EXPECT_THAT(e.Get("gcp.user"),
              Optional(std::string(
                  "made-up-ci-account@project-id.iam.gserviceaccount.com")));
}

TEST(LogEntryFieldsTest, ResourceLabelFields) {
  LogEntryFields e = MustParse(Entry(
      R"("resource":{"type":"x","labels":{"bucket_name":"b","function_name":"f",)"
      R"("database_id":"d","network_id":"n","subnetwork_name":"sn",)"
      R"("subnetwork_id":"si","zone_name":"z","email_id":"e@x",)"
      R"("unique_id":"u","location":"europe-west1","region":"r","zone":"q-a"}})"));
  EXPECT_THAT(e.Get("gcp.storage.bucket"), Optional(std::string("b")));
  EXPECT_THAT(e.Get("gcp.cloudfunctions.function"), Optional(std::string("f")));
  EXPECT_THAT(e.Get("gcp.cloudsql.databaseId"), Optional(std::string("d")));
  EXPECT_THAT(e.Get("gcp.compute.networkId"), Optional(std::string("n")));
  EXPECT_THAT(e.Get("gcp.compute.subnetwork"), Optional(std::string("sn")));
  EXPECT_THAT(e.Get("gcp.compute.subnetworkId"), Optional(std::string("si")));
  EXPECT_THAT(e.Get("gcp.dns.zone"), Optional(std::string("z")));
  EXPECT_THAT(e.Get("gcp.iam.serviceAccount"), Optional(std::string("e@x")));
  EXPECT_THAT(e.Get("gcp.iam.serviceAccountId"), Optional(std::string("u")));
  // location wins over region and zone.
  EXPECT_THAT(e.Get("gcp.location"), Optional(std::string("europe-west1")));
  // Not a logging_sink: no sink name even though... there is none here.
  EXPECT_EQ(e.Get("gcp.logging.sink"), std::nullopt);
}

TEST(LogEntryFieldsTest, LocationFallsBackToRegionThenZone) {
  LogEntryFields region = MustParse(Entry(
      R"("resource":{"labels":{"region":"asia-east1","zone":"us-east1-b"}})"));
  EXPECT_THAT(region.Get("gcp.location"), Optional(std::string("asia-east1")));
  LogEntryFields zone =
      MustParse(Entry(R"("resource":{"labels":{"zone":"us-east1-b"}})"));
  EXPECT_THAT(zone.Get("gcp.location"), Optional(std::string("us-east1")));
  LogEntryFields tiny =
      MustParse(Entry(R"("resource":{"labels":{"zone":"ab"}})"));
  EXPECT_EQ(tiny.Get("gcp.location"), std::nullopt);
}

TEST(LogEntryFieldsTest, LoggingSinkOnlyForLoggingSinkResources) {
  LogEntryFields sink = MustParse(Entry(
      R"("resource":{"type":"logging_sink","labels":{"name":"my-sink"}})"));
  EXPECT_THAT(sink.Get("gcp.logging.sink"), Optional(std::string("my-sink")));
  LogEntryFields other = MustParse(
      Entry(R"("resource":{"type":"gcs_bucket","labels":{"name":"my-sink"}})"));
  EXPECT_EQ(other.Get("gcp.logging.sink"), std::nullopt);
}

TEST(LogEntryFieldsTest, PolicyDeltaFromBigQueryDatasetChange) {
  LogEntryFields e = MustParse(Entry(
      "",
      R"("metadata":{"datasetChange":{"bindingDeltas":[{"action":"ADD","member":"allUsers"}]}})"));
  EXPECT_THAT(
      e.Get("gcp.policyDelta"),
      Optional(std::string(R"([{"action":"ADD","member":"allUsers"}])")));
}

TEST(LogEntryFieldsTest, JsonValuePointer) {
  LogEntryFields e = MustParse(Fixture("compute_instances_insert.json"));
  EXPECT_THAT(e.Get("json.value[/protoPayload/methodName]"),
              Optional(std::string("v1.compute.instances.insert")));
  EXPECT_THAT(e.Get("json.value[/resource/labels]"),
              Optional(std::string(
                  R"({"instance_id":"2525602744967966726",)"
                  R"("project_id":"project-id","zone":"us-central1-a"})")));
  EXPECT_THAT(e.Get("json.value[/operation/first]"),
              Optional(std::string("true")));
  EXPECT_THAT(e.Get("json.value[/protoPayload/authorizationInfo/1/permission]"),
              Optional(std::string("compute.disks.create")));
  EXPECT_EQ(e.Get("json.value[/resource/labels/dataset_id]"), std::nullopt);
}

TEST(LogEntryFieldsTest, ResolveFieldRejectsUnknownAndBadArguments) {
  EXPECT_THAT(ResolveField("gcp.nope", std::nullopt).status().message(),
              HasSubstr("unknown field gcp.nope"));
  EXPECT_FALSE(ResolveField("gcp.user", "x").ok());
  EXPECT_FALSE(ResolveField("json.value", std::nullopt).ok());
  EXPECT_FALSE(ResolveField("json.value", "a/b").ok());
  auto ok = ResolveField("json.value", "/a/b");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->id, FieldId::kJsonValue);
  EXPECT_EQ(ok->name, "json.value[/a/b]");
  // Every documented field resolves, to distinct extractors.
  EXPECT_EQ(AllGcpFieldNames().size(), 25u);
  for (const std::string& name : AllGcpFieldNames()) {
    EXPECT_TRUE(ResolveField(name, std::nullopt).ok()) << name;
  }
}

TEST(LogEntryFieldsTest, MalformedEntriesAreErrors) {
  for (
      const char* bad :
      {"", "not json", "[1,2]", "{\"timestamp\":\"2024-11-19T13:13:13Z\"}",
       R"({"timestamp":"2024-11-19T13:13:13Z","protoPayload":"x"})",
       R"({"timestamp":"2024-11-19T13:13:13Z","protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.Other"}})",
       R"({"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog"}})",
       R"({"timestamp":"yesterday","protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog"}})",
       R"({"timestamp":"2024-11-19T13:13:13Z","protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog"})"}) {
    auto e = LogEntryFields::Parse(bad);
    EXPECT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(LogEntryFieldsTest, NonStringScalarsAreJsonText) {
  LogEntryFields e = MustParse(Entry(
      R"("resource":{"labels":{"project_id":42}})", R"("serviceName":null)"));
  EXPECT_THAT(e.Get("gcp.projectId"), Optional(std::string("42")));
  EXPECT_EQ(e.Get("gcp.serviceName"), std::nullopt);
}

TEST(LogEntryFieldsTest, DeeplyNestedRequestsParse) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += R"({"a":)";
  deep += "1";
  for (int i = 0; i < 100; ++i) deep += "}";
  LogEntryFields e = MustParse(Entry("", R"("request":)" + deep));
  std::optional<std::string> request = e.Get("gcp.request");
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(*request, deep);
}

// Found by fuzzing: absl::ParseTime's "infinite-future" passed as a
// timestamp; a time past 2262 is one the spool cannot keep.
TEST(LogEntryFieldsTest, TimestampsCorralCannotKeepAreErrors) {
  for (const char* ts : {"infinite-future", "infinite-past",
                         "2300-01-01T00:00:00Z", "1600-01-01T00:00:00Z"}) {
    auto e = LogEntryFields::Parse(
        std::string(R"({"timestamp":")") + ts +
        R"(","protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog"}})");
    EXPECT_FALSE(e.ok()) << ts;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << ts;
  }
}
}  // namespace
}  // namespace corral::ingest::gcpaudit
