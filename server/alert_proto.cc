#include "server/alert_proto.h"

#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

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

// Protobuf's wire format, written directly (see SerializeAlert).
namespace wire {

enum Type { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2 };

void Varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void Tag(std::string* out, int field, Type type) {
  Varint(out, (static_cast<uint64_t>(field) << 3) | type);
}

void String(std::string* out, int field, std::string_view value) {
  Tag(out, field, kLengthDelimited);
  Varint(out, value.size());
  out->append(value.data(), value.size());
}

// A message field: Begin() before its fields, End() after them, which puts
// the length in front (a nested message's length is only known once written).
size_t Begin(std::string* out, int field) {
  Tag(out, field, kLengthDelimited);
  return out->size();
}

void End(std::string* out, size_t begun) {
  std::string length;
  Varint(&length, out->size() - begun);
  out->insert(begun, length);
}

void Value(std::string* out, const json::value& v);

// One entry of a map<string, google.protobuf.Value> field: a message of
// key = 1, value = 2.
void MapEntry(std::string* out, int field, std::string_view key,
              const json::value& value) {
  const size_t entry = Begin(out, field);
  String(out, 1, key);
  const size_t value_fields = Begin(out, 2);
  Value(out, value);
  End(out, value_fields);
  End(out, entry);
}

// The fields of a google.protobuf.Value for `v`: numbers as doubles, as
// Value holds them.
void Value(std::string* out, const json::value& v) {
  // google.protobuf.Value's oneof; Struct.fields and ListValue.values are
  // field 1 of theirs.
  constexpr int kNull = 1, kNumber = 2, kString = 3, kBool = 4, kStruct = 5,
                kList = 6;
  auto number = [out](double d) {
    uint64_t bits;
    static_assert(sizeof(bits) == sizeof(d));
    std::memcpy(&bits, &d, sizeof(bits));
    Tag(out, kNumber, kFixed64);
    for (int i = 0; i < 8; ++i)
      out->push_back(static_cast<char>(bits >> (8 * i)));
  };
  switch (v.kind()) {
    case json::kind::string:
      String(out, kString, std::string_view(v.get_string()));
      break;
    case json::kind::bool_:
      Tag(out, kBool, kVarint);
      Varint(out, v.get_bool() ? 1 : 0);
      break;
    case json::kind::int64:
      number(static_cast<double>(v.get_int64()));
      break;
    case json::kind::uint64:
      number(static_cast<double>(v.get_uint64()));
      break;
    case json::kind::double_:
      number(v.get_double());
      break;
    case json::kind::object: {
      const size_t fields = Begin(out, kStruct);
      for (const auto& kv : v.get_object()) {
        MapEntry(out, 1, std::string_view(kv.key()), kv.value());
      }
      End(out, fields);
      break;
    }
    case json::kind::array: {
      const size_t list = Begin(out, kList);
      for (const json::value& item : v.get_array()) {
        const size_t value = Begin(out, 1);
        Value(out, item);
        End(out, value);
      }
      End(out, list);
      break;
    }
    case json::kind::null:
      Tag(out, kNull, kVarint);
      Varint(out, 0);  // NULL_VALUE
      break;
  }
}

}  // namespace wire

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

std::string SerializeAlert(const core::Alert& alert) {
  // corral.v1.Alert's field numbers (proto/corral/v1/alerts.proto).
  constexpr int kSeq = 1, kUuid = 2, kTime = 3, kPriority = 4, kRule = 5,
                kOutput = 6, kOutputFields = 7, kSource = 8, kHostname = 9,
                kTags = 10;
  std::string out;
  out.reserve(alert.output.size() + alert.output_fields_json.size() * 2 + 256);
  // Proto3: scalars at their default value are left out.
  if (alert.seq != 0) {
    wire::Tag(&out, kSeq, wire::kVarint);
    wire::Varint(&out, alert.seq);
  }
  if (!alert.uuid.empty()) wire::String(&out, kUuid, alert.uuid);
  google::protobuf::Timestamp time;
  TimeToProto(alert.time, &time);
  const size_t time_fields = wire::Begin(&out, kTime);
  if (time.seconds() != 0) {
    wire::Tag(&out, 1, wire::kVarint);
    wire::Varint(&out, static_cast<uint64_t>(time.seconds()));
  }
  if (time.nanos() != 0) {
    wire::Tag(&out, 2, wire::kVarint);
    wire::Varint(&out, static_cast<uint64_t>(time.nanos()));
  }
  wire::End(&out, time_fields);
  if (const v1::Priority priority = PriorityToProto(alert.priority);
      priority != 0) {
    wire::Tag(&out, kPriority, wire::kVarint);
    wire::Varint(&out, static_cast<uint64_t>(priority));
  }
  if (!alert.rule.empty()) wire::String(&out, kRule, alert.rule);
  if (!alert.output.empty()) wire::String(&out, kOutput, alert.output);
  for (const auto& kv : core::ParseOutputFields(alert)) {
    wire::MapEntry(&out, kOutputFields, std::string_view(kv.key()), kv.value());
  }
  if (!alert.source.empty()) wire::String(&out, kSource, alert.source);
  if (!alert.hostname.empty()) wire::String(&out, kHostname, alert.hostname);
  for (const std::string& tag : alert.tags) wire::String(&out, kTags, tag);
  return out;
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
