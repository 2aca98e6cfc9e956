#ifndef CORRAL_INGEST_FALCO_GRPC_FALCO_RESPONSE_H_
#define CORRAL_INGEST_FALCO_GRPC_FALCO_RESPONSE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/alert.h"

namespace falco::outputs {
class response;
}  // namespace falco::outputs

namespace corral::ingest::falco_grpc {

// Turns one `falco.outputs.response` (PROTOCOLS.md §2) into an alert:
//   time           the Timestamp, to the nanosecond
//   priority       by name: Falco's enum runs down (EMERGENCY = 0), corral's
//                  scale up, so the enum's number is never used
//   rule, output, tags, hostname (`default_hostname` when Falco sent none)
//   source         `source`; when empty (Falco before 0.31), the deprecated
//                  enum's name in lower case: syscall, k8s_audit, internal,
//                  plugin
//   output_fields  every field as a JSON string (Falco sends them all as
//                  strings), keys in order
// InvalidArgument, naming what is wrong, for a response that cannot be an
// alert: a priority outside the enum, no rule, no (or an invalid) time. The
// alert has no uuid and no seq yet.
absl::StatusOr<core::Alert> AlertFromResponse(
    const falco::outputs::response& response,
    absl::string_view default_hostname);

// The response as protobuf JSON, for a dead-letter record.
std::string ResponseToJson(const falco::outputs::response& response);

}  // namespace corral::ingest::falco_grpc

#endif  // CORRAL_INGEST_FALCO_GRPC_FALCO_RESPONSE_H_
