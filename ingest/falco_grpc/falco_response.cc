#include "ingest/falco_grpc/falco_response.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <boost/json.hpp>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/alert_json.h"
#include "core/priority.h"
#include "falco/outputs.pb.h"
#include "falco/schema.pb.h"

namespace corral::ingest::falco_grpc {
namespace {

// google.protobuf.Timestamp's own range: 0001-01-01 to 9999-12-31.
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;

absl::StatusOr<absl::Time> TimeOf(const falco::outputs::response& response) {
  if (!response.has_time() ||
      (response.time().seconds() == 0 && response.time().nanos() == 0)) {
    return absl::InvalidArgumentError("missing time");
  }
  const google::protobuf::Timestamp& t = response.time();
  if (t.seconds() < kMinSeconds || t.seconds() > kMaxSeconds || t.nanos() < 0 ||
      t.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid time (seconds ", t.seconds(), ", nanos ", t.nanos(), ")"));
  }
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// The enum value's first name (EMERGENCY, SYSCALL, ...; the aliases come
// after it), or empty when the value is not in the enum.
template <typename Enum>
std::string EnumName(const google::protobuf::EnumDescriptor* descriptor,
                     Enum value) {
  const google::protobuf::EnumValueDescriptor* v =
      descriptor->FindValueByNumber(static_cast<int>(value));
  return v == nullptr ? "" : v->name();
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
std::string SourceOf(const falco::outputs::response& response) {
  if (!response.source().empty()) return response.source();
  return absl::AsciiStrToLower(EnumName(falco::schema::source_descriptor(),
                                        response.source_deprecated()));
}
#pragma GCC diagnostic pop

std::string OutputFieldsJson(const falco::outputs::response& response) {
  std::vector<std::pair<absl::string_view, absl::string_view>> fields(
      response.output_fields().begin(), response.output_fields().end());
  std::sort(fields.begin(), fields.end());  // map order is unspecified
  boost::json::object object;
  object.reserve(fields.size());
  for (const auto& [key, value] : fields) {
    object.emplace(boost::json::string_view(key.data(), key.size()),
                   boost::json::string_view(value.data(), value.size()));
  }
  return core::SerializeOutputFields(object);
}

}  // namespace

absl::StatusOr<core::Alert> AlertFromResponse(
    const falco::outputs::response& response,
    absl::string_view default_hostname) {
  core::Alert alert;
  const std::string priority_name =
      EnumName(falco::schema::priority_descriptor(), response.priority());
  absl::StatusOr<core::Priority> priority =
      priority_name.empty()
          ? absl::InvalidArgumentError(
                absl::StrCat("priority ", static_cast<int>(response.priority()),
                             " is not in falco.schema.priority"))
          : core::ParsePriority(priority_name);
  if (!priority.ok()) return priority.status();
  alert.priority = *priority;
  if (response.rule().empty())
    return absl::InvalidArgumentError("missing rule");
  absl::StatusOr<absl::Time> time = TimeOf(response);
  if (!time.ok()) return time.status();
  alert.time = *time;
  alert.rule = response.rule();
  alert.output = response.output();
  alert.source = SourceOf(response);
  alert.hostname = response.hostname().empty() ? std::string(default_hostname)
                                               : response.hostname();
  alert.tags.assign(response.tags().begin(), response.tags().end());
  alert.output_fields_json = OutputFieldsJson(response);
  return alert;
}

std::string ResponseToJson(const falco::outputs::response& response) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(response, &json, options)
           .ok()) {
    return response.ShortDebugString();
  }
  return json;
}

}  // namespace corral::ingest::falco_grpc
