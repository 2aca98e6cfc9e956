#include "ingest/gcpaudit/log_entry_fields.h"

#include <array>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "boost/json.hpp"
#include "core/alert_json.h"

namespace corral::ingest::gcpaudit {
namespace {

namespace json = boost::json;

constexpr absl::string_view kAuditLogType =
    "type.googleapis.com/google.cloud.audit.AuditLog";
constexpr absl::string_view kJsonValueField = "json.value";

// A field that is a plain path from the LogEntry root.
struct PathField {
  absl::string_view name;
  FieldId id;
  std::vector<absl::string_view> path;
};

// The order is PROTOCOLS.md §5's table; fields computed from more than one
// path have an empty path here and are handled in Extract().
const std::vector<PathField>& Table() {
  static const auto* table = new std::vector<PathField>{
      {"gcp.user",
       FieldId::kUser,
       {"protoPayload", "authenticationInfo", "principalEmail"}},
      {"gcp.callerIP",
       FieldId::kCallerIp,
       {"protoPayload", "requestMetadata", "callerIp"}},
      {"gcp.userAgent",
       FieldId::kUserAgent,
       {"protoPayload", "requestMetadata", "callerSuppliedUserAgent"}},
      {"gcp.authorizationInfo",
       FieldId::kAuthorizationInfo,
       {"protoPayload", "authorizationInfo"}},
      {"gcp.serviceName",
       FieldId::kServiceName,
       {"protoPayload", "serviceName"}},
      {"gcp.methodName", FieldId::kMethodName, {"protoPayload", "methodName"}},
      {"gcp.request", FieldId::kRequest, {"protoPayload", "request"}},
      {"gcp.resourceName",
       FieldId::kResourceName,
       {"protoPayload", "resourceName"}},
      {"gcp.resourceType", FieldId::kResourceType, {"resource", "type"}},
      {"gcp.resourceLabels", FieldId::kResourceLabels, {"resource", "labels"}},
      {"gcp.policyDelta", FieldId::kPolicyDelta, {}},
      {"gcp.location", FieldId::kLocation, {}},
      {"gcp.logging.sink", FieldId::kLoggingSink, {}},
      {"gcp.projectId",
       FieldId::kProjectId,
       {"resource", "labels", "project_id"}},
      {"gcp.storage.bucket",
       FieldId::kStorageBucket,
       {"resource", "labels", "bucket_name"}},
      {"gcp.cloudfunctions.function",
       FieldId::kCloudFunctionsFunction,
       {"resource", "labels", "function_name"}},
      {"gcp.cloudsql.databaseId",
       FieldId::kCloudSqlDatabaseId,
       {"resource", "labels", "database_id"}},
      {"gcp.compute.instanceId",
       FieldId::kComputeInstanceId,
       {"resource", "labels", "instance_id"}},
      {"gcp.compute.networkId",
       FieldId::kComputeNetworkId,
       {"resource", "labels", "network_id"}},
      {"gcp.compute.subnetwork",
       FieldId::kComputeSubnetwork,
       {"resource", "labels", "subnetwork_name"}},
      {"gcp.compute.subnetworkId",
       FieldId::kComputeSubnetworkId,
       {"resource", "labels", "subnetwork_id"}},
      {"gcp.dns.zone", FieldId::kDnsZone, {"resource", "labels", "zone_name"}},
      {"gcp.iam.serviceAccount",
       FieldId::kIamServiceAccount,
       {"resource", "labels", "email_id"}},
      {"gcp.iam.serviceAccountId",
       FieldId::kIamServiceAccountId,
       {"resource", "labels", "unique_id"}},
      {"gcp.time", FieldId::kTime, {"timestamp"}},
  };
  return *table;
}

json::string_view Bj(absl::string_view s) { return {s.data(), s.size()}; }

const json::value* Find(const json::value& root,
                        absl::Span<const absl::string_view> path) {
  const json::value* v = &root;
  for (absl::string_view key : path) {
    const json::object* obj = v->if_object();
    if (obj == nullptr) return nullptr;
    v = obj->if_contains(Bj(key));
    if (v == nullptr) return nullptr;
  }
  return v;
}

std::optional<std::string> AsString(const json::value* v) {
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (const json::string* s = v->if_string()) {
    return std::string(s->data(), s->size());
  }
  return json::serialize(*v);
}

}  // namespace

absl::StatusOr<FieldRef> ResolveField(absl::string_view name,
                                      std::optional<absl::string_view> arg) {
  if (name == kJsonValueField) {
    if (!arg.has_value()) {
      return absl::InvalidArgumentError(
          "json.value needs a JSON pointer argument, e.g. json.value[/a/b]");
    }
    if (!arg->empty() && arg->front() != '/') {
      return absl::InvalidArgumentError(absl::StrCat(
          "json.value argument \"", *arg,
          "\" is not a JSON pointer (it must be empty or start with '/')"));
    }
    return FieldRef{FieldId::kJsonValue, std::string(*arg),
                    absl::StrCat(name, "[", *arg, "]")};
  }
  for (const PathField& f : Table()) {
    if (f.name != name) continue;
    if (arg.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("field ", name, " takes no argument"));
    }
    return FieldRef{f.id, "", std::string(name)};
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown field ", name));
}

const std::vector<std::string>& AllGcpFieldNames() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string>;
    for (const PathField& f : Table()) v->emplace_back(f.name);
    return v;
  }();
  return *names;
}

struct LogEntryFields::Impl {
  explicit Impl(size_t text_size)
      : arena(text_size * 2 + 1024), root(json::storage_ptr(&arena)) {}
  // The parsed tree lives in one arena freed at once: an audit entry parses
  // into hundreds of small strings and objects, and allocating and freeing
  // them one by one cost more than the parse itself.
  json::monotonic_resource arena;
  // Allocated from `arena` (so that moving the parsed tree in is a pointer
  // swap, not a copy to the heap); destroyed before it.
  json::value root;
  absl::Time timestamp;
  std::string insert_id;
  std::string log_name;
  // Extracted values, by FieldId for the fixed fields and by pointer for
  // json.value (std::map: pointers into it stay valid).
  mutable std::array<std::optional<std::optional<std::string>>,
                     static_cast<size_t>(FieldId::kJsonValue)>
      fixed;
  mutable std::map<std::string, std::optional<std::string>, std::less<>>
      by_pointer;
  std::optional<std::string> Extract(const FieldRef& field) const;
  const std::optional<std::string>& Cached(const FieldRef& field) const;
};

const std::optional<std::string>& LogEntryFields::Impl::Cached(
    const FieldRef& field) const {
  if (field.id == FieldId::kJsonValue) {
    auto it = by_pointer.find(field.arg);
    if (it == by_pointer.end()) {
      it = by_pointer.emplace(field.arg, Extract(field)).first;
    }
    return it->second;
  }
  auto& slot = fixed[static_cast<size_t>(field.id)];
  if (!slot.has_value()) slot.emplace(Extract(field));
  return *slot;
}

std::optional<std::string> LogEntryFields::Impl::Extract(
    const FieldRef& field) const {
  switch (field.id) {
    case FieldId::kPolicyDelta: {
      // Whichever delta path the entry has: IAM-style services put it under
      // serviceData, BigQuery under metadata.datasetChange.
      const json::value* v = Find(root, {"protoPayload", "serviceData",
                                         "policyDelta", "bindingDeltas"});
      if (v == nullptr) {
        v = Find(root, {"protoPayload", "metadata", "datasetChange",
                        "bindingDeltas"});
      }
      return AsString(v);
    }
    case FieldId::kLocation: {
      if (auto loc = AsString(Find(root, {"resource", "labels", "location"}))) {
        return loc;
      }
      if (auto region =
              AsString(Find(root, {"resource", "labels", "region"}))) {
        return region;
      }
      auto zone = AsString(Find(root, {"resource", "labels", "zone"}));
      // A zone is its region plus "-x"; anything shorter is no zone at all.
      if (!zone.has_value() || zone->size() <= 2) return std::nullopt;
      zone->resize(zone->size() - 2);
      return zone;
    }
    case FieldId::kLoggingSink: {
      const json::value* type = Find(root, {"resource", "type"});
      if (type == nullptr || !type->is_string() ||
          type->get_string() != "logging_sink") {
        return std::nullopt;
      }
      return AsString(Find(root, {"resource", "labels", "name"}));
    }
    case FieldId::kJsonValue: {
      std::error_code ec;
      const json::value* v = root.find_pointer(Bj(field.arg), ec);
      if (ec) return std::nullopt;
      return AsString(v);
    }
    default:
      break;
  }
  const std::vector<PathField>& table = Table();
  // Table() is ordered by FieldId for the path fields.
  const PathField& f = table[static_cast<size_t>(field.id)];
  return AsString(Find(root, f.path));
}

LogEntryFields::LogEntryFields(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
LogEntryFields::LogEntryFields(LogEntryFields&&) noexcept = default;
LogEntryFields& LogEntryFields::operator=(LogEntryFields&&) noexcept = default;
LogEntryFields::~LogEntryFields() = default;

absl::StatusOr<LogEntryFields> LogEntryFields::Parse(absl::string_view text) {
  // Boost.JSON refuses nesting deeper than 32 by default; audit `request`
  // and `response` payloads can nest deeper than that.
  json::parse_options options;
  options.max_depth = 512;
  auto impl = std::make_unique<Impl>(text.size());
  std::error_code ec;
  json::value root =
      json::parse(Bj(text), ec, json::storage_ptr(&impl->arena), options);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("LogEntry is not valid JSON: ", ec.message()));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError("LogEntry is not a JSON object");
  }
  const json::value* payload = Find(root, {"protoPayload"});
  if (payload == nullptr || !payload->is_object()) {
    return absl::InvalidArgumentError(
        "LogEntry has no protoPayload object (not an audit log)");
  }
  const json::value* type = Find(*payload, {"@type"});
  if (type == nullptr || !type->is_string() ||
      type->get_string() != Bj(kAuditLogType)) {
    return absl::InvalidArgumentError(
        absl::StrCat("LogEntry protoPayload @type is not ", kAuditLogType));
  }
  const json::value* ts = Find(root, {"timestamp"});
  if (ts == nullptr || !ts->is_string()) {
    return absl::InvalidArgumentError("LogEntry has no string timestamp");
  }
  const json::string& ts_text = ts->get_string();
  absl::StatusOr<absl::Time> time =
      core::ParseAlertTime(absl::string_view(ts_text.data(), ts_text.size()));
  if (!time.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "LogEntry timestamp is not RFC 3339: ", time.status().message()));
  }
  if (!core::AlertTimeInRange(*time)) {
    return absl::InvalidArgumentError(
        absl::StrCat("LogEntry timestamp is out of range: ",
                     absl::string_view(ts_text.data(), ts_text.size())));
  }
  if (const json::value* id = Find(root, {"insertId"});
      id != nullptr && id->is_string()) {
    impl->insert_id.assign(id->get_string().data(), id->get_string().size());
  }
  if (const json::value* name = Find(root, {"logName"});
      name != nullptr && name->is_string()) {
    impl->log_name.assign(name->get_string().data(), name->get_string().size());
  }
  impl->root = std::move(root);
  impl->timestamp = *time;
  return LogEntryFields(std::move(impl));
}

const std::string* LogEntryFields::Lookup(const FieldRef& field) const {
  const std::optional<std::string>& value = impl_->Cached(field);
  return value.has_value() ? &*value : nullptr;
}

std::optional<std::string> LogEntryFields::Get(const FieldRef& field) const {
  return impl_->Cached(field);
}

std::optional<std::string> LogEntryFields::Get(absl::string_view name) const {
  std::optional<absl::string_view> arg;
  if (!name.empty() && name.back() == ']') {
    size_t open = name.find('[');
    if (open != absl::string_view::npos) {
      arg = name.substr(open + 1, name.size() - open - 2);
      name = name.substr(0, open);
    }
  }
  absl::StatusOr<FieldRef> ref = ResolveField(name, arg);
  if (!ref.ok()) return std::nullopt;
  return impl_->Extract(*ref);
}

absl::Time LogEntryFields::timestamp() const { return impl_->timestamp; }

const std::string& LogEntryFields::insert_id() const {
  return impl_->insert_id;
}

const std::string& LogEntryFields::log_name() const { return impl_->log_name; }

}  // namespace corral::ingest::gcpaudit
