#include "ingest/falco_grpc/falco_response.h"

#include <boost/json.hpp>

#include "core/alert_json.h"
#include "falco/outputs.pb.h"
#include "falco/schema.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ingest/falco_grpc/falco_priorities.h"

namespace corral::ingest::falco_grpc {
namespace {

using ::testing::HasSubstr;

// Falco's "Terminal shell in container" alert of the shared fixtures, as its
// gRPC output sends it.
falco::outputs::response ShellResponse() {
  falco::outputs::response r;
  r.mutable_time()->set_seconds(1783277459);  // 2026-07-05T18:50:59Z
  r.mutable_time()->set_nanos(430325374);
  r.set_priority(falco::schema::NOTICE);
  r.set_rule("Terminal shell in container");
  r.set_output("A shell was spawned in a container with an attached terminal");
  (*r.mutable_output_fields())["proc.name"] = "bash";
  (*r.mutable_output_fields())["container.id"] = "452d47e1f06c";
  (*r.mutable_output_fields())["proc.pid"] = "4242";
  r.set_hostname("node-a");
  r.add_tags("container");
  r.add_tags("mitre_execution");
  r.set_source("syscall");
  return r;
}

core::Alert Convert(const falco::outputs::response& r,
                    absl::string_view hostname = "fallback-host") {
  absl::StatusOr<core::Alert> alert = AlertFromResponse(r, hostname);
  EXPECT_TRUE(alert.ok()) << alert.status();
  return alert.value_or(core::Alert{});
}

TEST(FalcoResponseTest, EveryFieldCarriesOver) {
  core::Alert a = Convert(ShellResponse());
  EXPECT_EQ(core::FormatAlertTime(a.time), "2026-07-05T18:50:59.430325374Z");
  EXPECT_EQ(a.priority, core::Priority::kNotice);
  EXPECT_EQ(a.rule, "Terminal shell in container");
  EXPECT_EQ(a.output,
            "A shell was spawned in a container with an attached terminal");
  EXPECT_EQ(a.hostname, "node-a");
  EXPECT_THAT(a.tags, ::testing::ElementsAre("container", "mitre_execution"));
  EXPECT_EQ(a.source, "syscall");
  // Strings all, as Falco sent them (even the pid), keys in order.
  EXPECT_EQ(a.output_fields_json,
            R"({"container.id":"452d47e1f06c","proc.name":"bash",)"
            R"("proc.pid":"4242"})");
  EXPECT_TRUE(a.uuid.empty());
  EXPECT_EQ(a.seq, 0u);
}

TEST(FalcoResponseTest, TimestampKeepsEveryNanosecond) {
  falco::outputs::response r = ShellResponse();
  r.mutable_time()->set_nanos(1);
  EXPECT_EQ(Convert(r).time,
            absl::FromUnixSeconds(1783277459) + absl::Nanoseconds(1));
  r.mutable_time()->set_nanos(999999999);
  EXPECT_EQ(core::FormatAlertTime(Convert(r).time),
            "2026-07-05T18:50:59.999999999Z");
  r.mutable_time()->set_nanos(0);
  EXPECT_EQ(core::FormatAlertTime(Convert(r).time), "2026-07-05T18:50:59Z");
}

TEST(FalcoResponseTest, EveryPriorityIsMappedByName) {
  const auto& want = FalcoPriorities();
  for (const auto& [falco_priority, corral_priority] : want) {
    falco::outputs::response r = ShellResponse();
    r.set_priority(falco_priority);
    EXPECT_EQ(Convert(r).priority, corral_priority)
        << falco::schema::priority_Name(falco_priority);
  }
  // The aliases are the same values.
  falco::outputs::response r = ShellResponse();
  r.set_priority(falco::schema::Warning);
  EXPECT_EQ(core::PriorityName(Convert(r).priority), "Warning");
}

TEST(FalcoResponseTest, FalcosEnumRunsDownCorralsScaleUp) {
  // EMERGENCY is 0 and DEBUG 7: a lower number is a higher priority.
  EXPECT_EQ(falco::schema::EMERGENCY, 0);
  EXPECT_EQ(falco::schema::DEBUG, 7);
  for (int n = 0; n < 7; ++n) {
    falco::outputs::response higher = ShellResponse();
    higher.set_priority(static_cast<falco::schema::priority>(n));
    falco::outputs::response lower = ShellResponse();
    lower.set_priority(static_cast<falco::schema::priority>(n + 1));
    EXPECT_GT(Convert(higher).priority, Convert(lower).priority) << n;
  }
}

TEST(FalcoResponseTest, PriorityOutsideTheEnumIsRefused) {
  falco::outputs::response r = ShellResponse();
  r.set_priority(static_cast<falco::schema::priority>(8));
  absl::StatusOr<core::Alert> a = AlertFromResponse(r, "h");
  ASSERT_FALSE(a.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(a.status()));
  EXPECT_THAT(a.status().message(),
              HasSubstr("priority 8 is not in falco.schema.priority"));
}

TEST(FalcoResponseTest, SourceFallsBackToTheDeprecatedEnum) {
  const std::vector<std::pair<falco::schema::source, std::string>> want = {
      {falco::schema::SYSCALL, "syscall"},
      {falco::schema::K8S_AUDIT, "k8s_audit"},
      {falco::schema::INTERNAL, "internal"},
      {falco::schema::PLUGIN, "plugin"}};
  for (const auto& [deprecated, name] : want) {
    falco::outputs::response r = ShellResponse();
    r.clear_source();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    r.set_source_deprecated(deprecated);
#pragma GCC diagnostic pop
    EXPECT_EQ(Convert(r).source, name);
  }
  // A plugin's own source name wins over the enum.
  falco::outputs::response r = ShellResponse();
  r.set_source("aws_cloudtrail");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  r.set_source_deprecated(falco::schema::PLUGIN);
#pragma GCC diagnostic pop
  EXPECT_EQ(Convert(r).source, "aws_cloudtrail");
}

TEST(FalcoResponseTest, HostnameFallsBackWhenFalcoSendsNone) {
  falco::outputs::response r = ShellResponse();
  r.clear_hostname();
  EXPECT_EQ(Convert(r, "falco-b.internal").hostname, "falco-b.internal");
}

TEST(FalcoResponseTest, OutputFieldsAreEscapedJsonStrings) {
  falco::outputs::response r = ShellResponse();
  r.mutable_output_fields()->clear();
  (*r.mutable_output_fields())["proc.cmdline"] = "sh -c \"echo \\\\ ok\"\n";
  (*r.mutable_output_fields())["user.name"] = "rénée";
  (*r.mutable_output_fields())["evt.arg.flags"] = "<NA>";
  core::Alert a = Convert(r);
  boost::json::value v = boost::json::parse(a.output_fields_json);
  const boost::json::object& fields = v.as_object();
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields.at("proc.cmdline").as_string(), "sh -c \"echo \\\\ ok\"\n");
  EXPECT_EQ(fields.at("user.name").as_string(), "rénée");
  EXPECT_EQ(fields.at("evt.arg.flags").as_string(), "<NA>");
  // No fields at all is an empty object (Falco's internal alerts).
  r.mutable_output_fields()->clear();
  EXPECT_EQ(Convert(r).output_fields_json, "{}");
}

TEST(FalcoResponseTest, ResponsesThatCannotBeAlertsAreRefused) {
  falco::outputs::response no_rule = ShellResponse();
  no_rule.clear_rule();
  EXPECT_THAT(AlertFromResponse(no_rule, "h").status().message(),
              HasSubstr("missing rule"));
  falco::outputs::response no_time = ShellResponse();
  no_time.clear_time();
  EXPECT_THAT(AlertFromResponse(no_time, "h").status().message(),
              HasSubstr("missing time"));
  falco::outputs::response bad_nanos = ShellResponse();
  bad_nanos.mutable_time()->set_nanos(-1);
  EXPECT_THAT(AlertFromResponse(bad_nanos, "h").status().message(),
              HasSubstr("invalid time (seconds 1783277459, nanos -1)"));
  EXPECT_TRUE(
      absl::IsInvalidArgument(AlertFromResponse(no_rule, "h").status()));
}

TEST(FalcoResponseTest, ResponseJsonKeepsProtoFieldNames) {
  const std::string json = ResponseToJson(ShellResponse());
  EXPECT_THAT(json, HasSubstr(R"("rule":"Terminal shell in container")"));
  EXPECT_THAT(json, HasSubstr(R"("output_fields":{)"));
  EXPECT_THAT(json, HasSubstr(R"("priority":"NOTICE")"));
  EXPECT_THAT(json, HasSubstr(R"("time":"2026-07-05T18:50:59.430325374Z")"));
}

}  // namespace
}  // namespace corral::ingest::falco_grpc
