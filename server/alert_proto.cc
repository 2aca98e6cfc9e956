#include "server/alert_proto.h"

#include <boost/json.hpp>
#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "core/alert_json.h"

namespace corral::server {
namespace json = boost::json;
namespace {

absl::Time TimeFromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void TimeToProto(absl::Time time, google::protobuf::Timestamp* t) {
  const int64_t nanos = absl::ToUnixNanos(time);
  int64_t seconds = nanos / 1000000000;
  int64_t rest = nanos % 1000000000;
  if (rest < 0) {
    rest += 1000000000;
    --seconds;
  }
  t->set_seconds(seconds);
  t->set_nanos(static_cast<int32_t>(rest));
}

json::value ValueToJson(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kNumberValue: {
      // Value holds every number as a double; whole ones are written as
      // integers (4242, not 4.242E3), as they were before they became
      // doubles.
      const double d = v.number_value();
      constexpr double kExact = 9007199254740992.0;  // 2^53
      if (std::trunc(d) == d && std::fabs(d) <= kExact) {
        return static_cast<int64_t>(d);
      }
      return d;
    }
    case google::protobuf::Value::kStringValue:
      return json::string(v.string_value());
    case google::protobuf::Value::kBoolValue:
      return v.bool_value();
    case google::protobuf::Value::kStructValue: {
      json::object obj;
      for (const auto& [key, field] : v.struct_value().fields()) {
        obj[key] = ValueToJson(field);
      }
      return obj;
    }
    case google::protobuf::Value::kListValue: {
      json::array array;
      for (const google::protobuf::Value& item : v.list_value().values()) {
        array.push_back(ValueToJson(item));
      }
      return array;
    }
    default:
      return nullptr;
  }
}

void JsonToValue(const json::value& v, google::protobuf::Value* out) {
  switch (v.kind()) {
    case json::kind::string:
      out->set_string_value(std::string(v.get_string()));
      break;
    case json::kind::bool_:
      out->set_bool_value(v.get_bool());
      break;
    case json::kind::int64:
      out->set_number_value(static_cast<double>(v.get_int64()));
      break;
    case json::kind::uint64:
      out->set_number_value(static_cast<double>(v.get_uint64()));
      break;
    case json::kind::double_:
      out->set_number_value(v.get_double());
      break;
    case json::kind::object: {
      auto* fields = out->mutable_struct_value()->mutable_fields();
      for (const auto& kv : v.get_object()) {
        JsonToValue(kv.value(), &(*fields)[std::string(kv.key())]);
      }
      break;
    }
    case json::kind::array: {
      auto* list = out->mutable_list_value();
      for (const json::value& item : v.get_array()) {
        JsonToValue(item, list->add_values());
      }
      break;
    }
    case json::kind::null:
      out->set_null_value(google::protobuf::NULL_VALUE);
      break;
  }
}

falco::schema::priority FalcoPriority(core::Priority priority) {
  switch (priority) {
    case core::Priority::kEmergency:
      return falco::schema::EMERGENCY;
    case core::Priority::kAlert:
      return falco::schema::ALERT;
    case core::Priority::kCritical:
      return falco::schema::CRITICAL;
    case core::Priority::kError:
      return falco::schema::ERROR;
    case core::Priority::kWarning:
      return falco::schema::WARNING;
    case core::Priority::kNotice:
      return falco::schema::NOTICE;
    case core::Priority::kInformational:
      return falco::schema::INFORMATIONAL;
    case core::Priority::kDebug:
      break;
  }
  return falco::schema::DEBUG;
}

falco::schema::source FalcoSource(absl::string_view source) {
  if (source == "syscall" || source.empty()) return falco::schema::SYSCALL;
  if (source == "k8s_audit") return falco::schema::K8S_AUDIT;
  if (source == "internal") return falco::schema::INTERNAL;
  return falco::schema::PLUGIN;
}

}  // namespace

v1::Priority PriorityToProto(core::Priority priority) {
  switch (priority) {
    case core::Priority::kDebug:
      return v1::PRIORITY_DEBUG;
    case core::Priority::kInformational:
      return v1::PRIORITY_INFORMATIONAL;
    case core::Priority::kNotice:
      return v1::PRIORITY_NOTICE;
    case core::Priority::kWarning:
      return v1::PRIORITY_WARNING;
    case core::Priority::kError:
      return v1::PRIORITY_ERROR;
    case core::Priority::kCritical:
      return v1::PRIORITY_CRITICAL;
    case core::Priority::kAlert:
      return v1::PRIORITY_ALERT;
    case core::Priority::kEmergency:
      return v1::PRIORITY_EMERGENCY;
  }
  return v1::PRIORITY_UNSPECIFIED;
}

absl::StatusOr<core::Priority> PriorityFromProto(int priority) {
  switch (priority) {
    case v1::PRIORITY_DEBUG:
      return core::Priority::kDebug;
    case v1::PRIORITY_INFORMATIONAL:
      return core::Priority::kInformational;
    case v1::PRIORITY_NOTICE:
      return core::Priority::kNotice;
    case v1::PRIORITY_WARNING:
      return core::Priority::kWarning;
    case v1::PRIORITY_ERROR:
      return core::Priority::kError;
    case v1::PRIORITY_CRITICAL:
      return core::Priority::kCritical;
    case v1::PRIORITY_ALERT:
      return core::Priority::kAlert;
    case v1::PRIORITY_EMERGENCY:
      return core::Priority::kEmergency;
    case v1::PRIORITY_UNSPECIFIED:
      return absl::InvalidArgumentError("missing priority");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown priority value ", priority));
}

absl::StatusOr<core::Alert> AlertFromProto(const v1::Alert& proto) {
  core::Alert alert;
  if (proto.rule().empty()) return absl::InvalidArgumentError("missing rule");
  alert.rule = proto.rule();
  absl::StatusOr<core::Priority> priority = PriorityFromProto(proto.priority());
  if (!priority.ok()) return priority.status();
  alert.priority = *priority;
  if (!proto.has_time()) return absl::InvalidArgumentError("missing time");
  if (proto.time().nanos() < 0 || proto.time().nanos() > 999999999) {
    return absl::InvalidArgumentError("\"time\" has nanos out of range");
  }
  alert.time = TimeFromProto(proto.time());
  if (absl::ToCivilYear(alert.time, absl::UTCTimeZone()).year() <= 1) {
    return absl::InvalidArgumentError("\"time\" is zero");
  }
  if (!core::AlertTimeInRange(alert.time)) {
    return absl::InvalidArgumentError(
        "\"time\" is out of range (corral keeps times from 1677-09-21 to "
        "2262-04-11)");
  }
  if (proto.output_fields().empty()) {
    return absl::InvalidArgumentError("empty output_fields");
  }
  json::object fields;
  for (const auto& [key, value] : proto.output_fields()) {
    json::value& field = fields[key];
    field = ValueToJson(value);
    if (!core::AllNumbersFinite(field)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "output field \"", key, "\" holds a number that is not finite"));
    }
  }
  alert.output_fields_json = core::SerializeOutputFields(fields);
  alert.uuid = proto.uuid();
  alert.output = proto.output();
  alert.source = proto.source();
  alert.hostname = proto.hostname();
  alert.tags.assign(proto.tags().begin(), proto.tags().end());
  return alert;
}

void AlertToProto(const core::Alert& alert, v1::Alert* proto) {
  proto->set_seq(alert.seq);
  proto->set_uuid(alert.uuid);
  TimeToProto(alert.time, proto->mutable_time());
  proto->set_priority(PriorityToProto(alert.priority));
  proto->set_rule(alert.rule);
  proto->set_output(alert.output);
  auto* fields = proto->mutable_output_fields();
  for (const auto& kv : core::ParseOutputFields(alert)) {
    JsonToValue(kv.value(), &(*fields)[std::string(kv.key())]);
  }
  proto->set_source(alert.source);
  proto->set_hostname(alert.hostname);
  for (const std::string& tag : alert.tags) proto->add_tags(tag);
}

void AlertToFalcoResponse(const core::Alert& alert,
                          falco::outputs::response* response) {
  TimeToProto(alert.time, response->mutable_time());
  response->set_priority(FalcoPriority(alert.priority));
  response->set_source_deprecated(FalcoSource(alert.source));
  response->set_rule(alert.rule);
  response->set_output(alert.output);
  auto* fields = response->mutable_output_fields();
  for (const auto& kv : core::ParseOutputFields(alert)) {
    (*fields)[std::string(kv.key())] = core::OutputFieldText(kv.value());
  }
  response->set_hostname(alert.hostname);
  for (const std::string& tag : alert.tags) response->add_tags(tag);
  response->set_source(alert.source);
}

}  // namespace corral::server
