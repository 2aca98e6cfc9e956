#include "server/alert_proto.h"

#include <google/protobuf/util/message_differencer.h>

#include <cmath>
#include <limits>

#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::Alert ValidProto() {
  v1::Alert proto;
  proto.set_rule("Write below etc");
  proto.set_priority(v1::PRIORITY_ERROR);
  proto.mutable_time()->set_seconds(1796040000);
  proto.mutable_time()->set_nanos(123000000);
  proto.set_output("a file below /etc was opened for writing");
  proto.set_source("syscall");
  proto.set_hostname("node-a");
  proto.add_tags("filesystem");
  proto.add_tags("T1543");
  auto& fields = *proto.mutable_output_fields();
  fields["fd.name"].set_string_value("/etc/shadow");
  fields["proc.pid"].set_number_value(4242);
  fields["evt.is_open"].set_bool_value(true);
  fields["evt.latency"].set_number_value(0.25);
  fields["container.image"].set_null_value(google::protobuf::NULL_VALUE);
  fields["k8s.labels"].mutable_struct_value()->mutable_fields()->insert(
      {"app", google::protobuf::Value()});
  (*fields["k8s.labels"].mutable_struct_value()->mutable_fields())["app"]
      .set_string_value("web");
  fields["proc.args"].mutable_list_value()->add_values()->set_string_value(
      "-c");
  return proto;
}

core::Alert ValidAlert() {
  core::Alert alert;
  alert.seq = 17;
  alert.uuid = "5b0f7d3c-6a52-4d5e-9c1a-2f7b8e1d0a44";
  alert.time = absl::FromUnixNanos(1796040000123456789);
  alert.priority = core::Priority::kCritical;
  alert.rule = "Terminal shell in container";
  alert.output = "A shell was spawned";
  alert.source = "syscall";
  alert.hostname = "node-a";
  alert.tags = {"container", "T1059"};
  alert.output_fields_json =
      R"({"proc.name":"bash","proc.pid":4242,"evt.is_open":false,"user.uid":null,"k8s.labels":{"app":"web"}})";
  return alert;
}

// What a subscriber parses from SerializeAlert's bytes.
v1::Alert Parsed(const core::Alert& alert) {
  v1::Alert proto;
  EXPECT_TRUE(proto.ParseFromString(SerializeAlert(alert)));
  return proto;
}

// SerializeAlert writes the wire format by hand: what it writes must parse to
// the very message protobuf itself would have sent, every kind of Value
// included.
TEST(AlertProtoTest, SerializedAlertsParseToTheSameMessage) {
  const v1::Alert sent = ValidProto();
  absl::StatusOr<core::Alert> alert = AlertFromProto(sent);
  ASSERT_TRUE(alert.ok()) << alert.status();
  std::string diff;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(Parsed(*alert), sent)) << diff;

  // Defaults, a time before 1970, empty strings, lengths over 127 bytes
  // (two-byte varints), numbers only a double holds.
  core::Alert edge;
  edge.time = absl::FromUnixNanos(-1500000001);
  edge.priority = core::Priority::kDebug;
  edge.rule = std::string(300, 'r');
  edge.tags = {"", "t"};
  edge.output_fields_json =
      R"({"":"","big":18446744073709551615,"neg":-7,"tiny":1e-300,)"
      R"("list":[[],{},null,true,"x"],"obj":{"a":{"b":[1.5]}}})";
  v1::Alert want;
  want.mutable_time()->set_seconds(-2);
  want.mutable_time()->set_nanos(499999999);
  want.set_priority(v1::PRIORITY_DEBUG);
  want.set_rule(edge.rule);
  want.add_tags("");
  want.add_tags("t");
  auto& fields = *want.mutable_output_fields();
  fields[""].set_string_value("");
  fields["big"].set_number_value(18446744073709551615.0);
  fields["neg"].set_number_value(-7);
  fields["tiny"].set_number_value(1e-300);
  auto* list = fields["list"].mutable_list_value();
  list->add_values()->mutable_list_value();
  list->add_values()->mutable_struct_value();
  list->add_values()->set_null_value(google::protobuf::NULL_VALUE);
  list->add_values()->set_bool_value(true);
  list->add_values()->set_string_value("x");
  (*(*fields["obj"].mutable_struct_value()->mutable_fields())["a"]
        .mutable_struct_value()
        ->mutable_fields())["b"]
      .mutable_list_value()
      ->add_values()
      ->set_number_value(1.5);
  EXPECT_TRUE(differencer.Compare(Parsed(edge), want)) << diff;
}

TEST(AlertProtoTest, AValidProtoBecomesAnAlertWithItsJsonTypes) {
  absl::StatusOr<core::Alert> alert = AlertFromProto(ValidProto());
  ASSERT_TRUE(alert.ok()) << alert.status();
  EXPECT_EQ(alert->rule, "Write below etc");
  EXPECT_EQ(alert->priority, core::Priority::kError);
  EXPECT_EQ(alert->time, absl::FromUnixMillis(1796040000123));
  EXPECT_EQ(alert->hostname, "node-a");
  EXPECT_THAT(alert->tags, ElementsAre("filesystem", "T1543"));
  EXPECT_THAT(alert->output_fields_json, HasSubstr(R"("proc.pid":4242)"));
  EXPECT_THAT(alert->output_fields_json, HasSubstr(R"("evt.is_open":true)"));
  EXPECT_THAT(alert->output_fields_json, HasSubstr(R"("evt.latency":2.5E-1)"));
  EXPECT_THAT(alert->output_fields_json,
              HasSubstr(R"("container.image":null)"));
  EXPECT_THAT(alert->output_fields_json,
              HasSubstr(R"("k8s.labels":{"app":"web"})"));
  EXPECT_THAT(alert->output_fields_json, HasSubstr(R"("proc.args":["-c"])"));
  EXPECT_TRUE(alert->uuid.empty());
}

TEST(AlertProtoTest, RefusesWhatPostWouldRefuseNamingWhatIsWrong) {
  struct Case {
    std::function<void(v1::Alert&)> breakit;
    std::string why;
  };
  const Case cases[] = {
      {[](v1::Alert& a) { a.clear_rule(); }, "missing rule"},
      {[](v1::Alert& a) { a.set_priority(v1::PRIORITY_UNSPECIFIED); },
       "missing priority"},
      {[](v1::Alert& a) { a.set_priority(static_cast<v1::Priority>(99)); },
       "unknown priority value 99"},
      {[](v1::Alert& a) { a.clear_time(); }, "missing time"},
      {[](v1::Alert& a) { a.mutable_time()->set_nanos(-1); },
       "nanos out of range"},
      {[](v1::Alert& a) { a.mutable_time()->set_seconds(-62135596800); },
       "\"time\" is zero"},
      {[](v1::Alert& a) { a.clear_output_fields(); }, "empty output_fields"},
      // What JSON cannot hold, or the spool keep.
      {[](v1::Alert& a) {
         (*a.mutable_output_fields())["x"].set_number_value(
             std::numeric_limits<double>::infinity());
       },
       "output field \"x\" holds a number that is not finite"},
      {[](v1::Alert& a) {
         auto& labels = *(*a.mutable_output_fields())["k8s.labels"]
                             .mutable_struct_value()
                             ->mutable_fields();
         labels["n"].set_number_value(std::nan(""));
       },
       "output field \"k8s.labels\" holds a number that is not finite"},
      {[](v1::Alert& a) { a.mutable_time()->set_seconds(10000000000); },
       "\"time\" is out of range"},
  };
  for (const Case& c : cases) {
    v1::Alert proto = ValidProto();
    c.breakit(proto);
    absl::StatusOr<core::Alert> alert = AlertFromProto(proto);
    ASSERT_FALSE(alert.ok()) << c.why;
    EXPECT_TRUE(absl::IsInvalidArgument(alert.status()));
    EXPECT_THAT(alert.status().message(), HasSubstr(c.why));
  }
}

// Protobuf lets lists nest deeper than the 32 levels Boost.JSON parses by
// default: such a field used to vanish (with every other field) wherever
// corral parsed the fields back, e.g. when enriching or writing the proto.
TEST(AlertProtoTest, DeeplyNestedFieldsSurvive) {
  v1::Alert proto = ValidProto();
  google::protobuf::Value* v = &(*proto.mutable_output_fields())["deep"];
  for (int i = 0; i < 40; ++i) v = v->mutable_list_value()->add_values();
  v->set_string_value("bottom");
  v1::Alert received;  // what the wire allows
  ASSERT_TRUE(received.ParseFromString(proto.SerializeAsString()));

  absl::StatusOr<core::Alert> alert = AlertFromProto(received);
  ASSERT_TRUE(alert.ok()) << alert.status();
  const v1::Alert back = Parsed(*alert);
  ASSERT_EQ(back.output_fields().size(), proto.output_fields().size());
  const google::protobuf::Value* d = &back.output_fields().at("deep");
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(d->list_value().values_size(), 1) << "level " << i;
    d = &d->list_value().values(0);
  }
  EXPECT_EQ(d->string_value(), "bottom");
}

TEST(AlertProtoTest, AnAlertBecomesAProtoAndBackUnchanged) {
  const core::Alert alert = ValidAlert();
  const v1::Alert proto = Parsed(alert);
  EXPECT_EQ(proto.seq(), 17u);
  EXPECT_EQ(proto.uuid(), alert.uuid);
  EXPECT_EQ(proto.time().seconds(), 1796040000);
  EXPECT_EQ(proto.time().nanos(), 123456789);
  EXPECT_EQ(proto.priority(), v1::PRIORITY_CRITICAL);
  EXPECT_EQ(proto.output_fields().at("proc.name").string_value(), "bash");
  EXPECT_EQ(proto.output_fields().at("proc.pid").number_value(), 4242);
  EXPECT_FALSE(proto.output_fields().at("evt.is_open").bool_value());
  EXPECT_TRUE(proto.output_fields().at("user.uid").has_null_value());
  EXPECT_EQ(proto.output_fields()
                .at("k8s.labels")
                .struct_value()
                .fields()
                .at("app")
                .string_value(),
            "web");

  absl::StatusOr<core::Alert> back = AlertFromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->time, alert.time);
  EXPECT_EQ(back->priority, alert.priority);
  EXPECT_EQ(back->uuid, alert.uuid);
  EXPECT_EQ(back->tags, alert.tags);
}

TEST(AlertProtoTest, EveryPriorityMapsBothWaysByName) {
  const std::pair<core::Priority, v1::Priority> pairs[] = {
      {core::Priority::kDebug, v1::PRIORITY_DEBUG},
      {core::Priority::kInformational, v1::PRIORITY_INFORMATIONAL},
      {core::Priority::kNotice, v1::PRIORITY_NOTICE},
      {core::Priority::kWarning, v1::PRIORITY_WARNING},
      {core::Priority::kError, v1::PRIORITY_ERROR},
      {core::Priority::kCritical, v1::PRIORITY_CRITICAL},
      {core::Priority::kAlert, v1::PRIORITY_ALERT},
      {core::Priority::kEmergency, v1::PRIORITY_EMERGENCY},
  };
  for (const auto& [core_priority, proto_priority] : pairs) {
    EXPECT_EQ(PriorityToProto(core_priority), proto_priority);
    absl::StatusOr<core::Priority> back = PriorityFromProto(proto_priority);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, core_priority);
  }
}

TEST(AlertProtoTest, FalcoResponsesUseFalcosDownwardEnumByName) {
  const std::pair<core::Priority, falco::schema::priority> pairs[] = {
      {core::Priority::kEmergency, falco::schema::EMERGENCY},
      {core::Priority::kAlert, falco::schema::ALERT},
      {core::Priority::kCritical, falco::schema::CRITICAL},
      {core::Priority::kError, falco::schema::ERROR},
      {core::Priority::kWarning, falco::schema::WARNING},
      {core::Priority::kNotice, falco::schema::NOTICE},
      {core::Priority::kInformational, falco::schema::INFORMATIONAL},
      {core::Priority::kDebug, falco::schema::DEBUG},
  };
  for (const auto& [core_priority, falco_priority] : pairs) {
    core::Alert alert = ValidAlert();
    alert.priority = core_priority;
    falco::outputs::response response;
    AlertToFalcoResponse(alert, &response);
    EXPECT_EQ(response.priority(), falco_priority);
  }
  EXPECT_EQ(falco::schema::EMERGENCY, 0);
  EXPECT_EQ(falco::schema::DEBUG, 7);
}

TEST(AlertProtoTest, FalcoResponsesCarryFieldsAsStringsAndBothSources) {
  falco::outputs::response response;
  AlertToFalcoResponse(ValidAlert(), &response);
  EXPECT_EQ(response.rule(), "Terminal shell in container");
  EXPECT_EQ(response.output(), "A shell was spawned");
  EXPECT_EQ(response.hostname(), "node-a");
  EXPECT_EQ(response.time().seconds(), 1796040000);
  EXPECT_EQ(response.time().nanos(), 123456789);
  EXPECT_THAT(response.tags(), ElementsAre("container", "T1059"));
  EXPECT_EQ(response.output_fields().at("proc.name"), "bash");
  EXPECT_EQ(response.output_fields().at("proc.pid"), "4242");
  EXPECT_EQ(response.output_fields().at("evt.is_open"), "false");
  EXPECT_EQ(response.output_fields().at("user.uid"), "<NA>");
  EXPECT_EQ(response.output_fields().at("k8s.labels"), R"({"app":"web"})");
  EXPECT_EQ(response.source(), "syscall");
  EXPECT_EQ(response.source_deprecated(), falco::schema::SYSCALL);

  const std::pair<std::string, falco::schema::source> sources[] = {
      {"k8s_audit", falco::schema::K8S_AUDIT},
      {"internal", falco::schema::INTERNAL},
      {"gcp_auditlog", falco::schema::PLUGIN},
  };
  for (const auto& [name, deprecated] : sources) {
    core::Alert alert = ValidAlert();
    alert.source = name;
    falco::outputs::response r;
    AlertToFalcoResponse(alert, &r);
    EXPECT_EQ(r.source(), name);
    EXPECT_EQ(r.source_deprecated(), deprecated);
  }
}

}  // namespace
}  // namespace corral::server
