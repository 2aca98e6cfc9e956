#ifndef CORRAL_INGEST_GCPAUDIT_LOG_ENTRY_FIELDS_H_
#define CORRAL_INGEST_GCPAUDIT_LOG_ENTRY_FIELDS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace corral::ingest::gcpaudit {

// The event source name of GCP audit log alerts.
inline constexpr absl::string_view kSource = "gcp_auditlog";

// Which value a field extracts. Resolved once from a field name (rule load
// time) so that evaluation is a switch, never a string lookup.
enum class FieldId {
  kUser,
  kCallerIp,
  kUserAgent,
  kAuthorizationInfo,
  kServiceName,
  kMethodName,
  kRequest,
  kResourceName,
  kResourceType,
  kResourceLabels,
  kPolicyDelta,
  kLocation,
  kLoggingSink,
  kProjectId,
  kStorageBucket,
  kCloudFunctionsFunction,
  kCloudSqlDatabaseId,
  kComputeInstanceId,
  kComputeNetworkId,
  kComputeSubnetwork,
  kComputeSubnetworkId,
  kDnsZone,
  kIamServiceAccount,
  kIamServiceAccountId,
  kTime,
  kJsonValue,  // json.value[/rfc6901/pointer]; the pointer is FieldRef::arg
};

// A resolved field: what to extract, its argument, and its name as written
// (`json.value[/a/b]`), which is the key it gets in output_fields.
struct FieldRef {
  FieldId id;
  std::string arg;
  std::string name;
};

// Resolves a field name and its optional bracket argument (`arg` is nullopt
// when the name had no `[...]`). Returns InvalidArgument for unknown fields, a
// missing or unexpected argument, or a json.value pointer that is not RFC 6901
// (empty, or starting with '/').
absl::StatusOr<FieldRef> ResolveField(absl::string_view name,
                                      std::optional<absl::string_view> arg);

// Every gcp.* field name of PROTOCOLS.md §5, in table order.
const std::vector<std::string>& AllGcpFieldNames();

// One parsed Cloud Logging LogEntry carrying a Cloud Audit Log, answering
// field lookups. Each field is extracted once, on first use, and kept: rules
// ask for the same fields again and again, and object-valued ones cost a JSON
// serialisation. Not thread-safe: one thread evaluates one entry.
class LogEntryFields {
 public:
  // Parses a LogEntry JSON. Returns InvalidArgument (never crashes) when the
  // text is not JSON, not an object, has no object `protoPayload` whose
  // `@type` is google.cloud.audit.AuditLog, or has no RFC 3339 `timestamp`.
  static absl::StatusOr<LogEntryFields> Parse(absl::string_view json);

  LogEntryFields(LogEntryFields&&) noexcept;
  LogEntryFields& operator=(LogEntryFields&&) noexcept;
  ~LogEntryFields();

  // The field's value as a string: JSON strings raw, objects/arrays/numbers/
  // booleans as compact JSON in input key order; nullopt when absent or null.
  std::optional<std::string> Get(const FieldRef& field) const;
  // The same without a copy: the value, valid as long as this entry, or
  // nullptr when absent or null.
  const std::string* Lookup(const FieldRef& field) const;

  // Convenience for tests and tools: resolves `name` (which may carry a
  // `[arg]` suffix) and extracts it; nullopt also when the name is unknown.
  std::optional<std::string> Get(absl::string_view name) const;

  // The entry's `timestamp`.
  absl::Time timestamp() const;
  // The entry's `insertId` ("" when absent) and `logName`: with the
  // timestamp, what Cloud Logging keeps unique, so the key for deduplication.
  const std::string& insert_id() const;
  const std::string& log_name() const;

 private:
  struct Impl;
  explicit LogEntryFields(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace corral::ingest::gcpaudit

#endif  // CORRAL_INGEST_GCPAUDIT_LOG_ENTRY_FIELDS_H_
