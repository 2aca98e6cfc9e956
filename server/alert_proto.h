#ifndef CORRAL_SERVER_ALERT_PROTO_H_
#define CORRAL_SERVER_ALERT_PROTO_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/alert.h"
#include "corral/v1/alerts.pb.h"
#include "falco/outputs.pb.h"

namespace corral::server {

// corral.v1.Alert → Alert, validated as `POST /` validates a Falco alert: a
// rule, a priority, a time and at least one output field are required.
// InvalidArgument names what is missing or wrong. seq is ignored; uuid is
// kept (the router sets one when it is empty).
absl::StatusOr<core::Alert> AlertFromProto(const v1::Alert& proto);

// Alert → a serialized corral.v1.Alert, output fields with their JSON types
// (numbers become doubles, as google.protobuf.Value holds them). Written in
// protobuf's wire format directly, not through a v1::Alert: it runs for every
// alert sent to subscribers, and building the message (a map of Values)
// costs more than the bytes.
std::string SerializeAlert(const core::Alert& alert);

v1::Priority PriorityToProto(core::Priority priority);
// PRIORITY_UNSPECIFIED and unknown values: InvalidArgument.
absl::StatusOr<core::Priority> PriorityFromProto(int priority);

// Alert → Falco's falco.outputs.response as Falco sent it: priority mapped by
// name onto Falco's downward enum, output fields as strings (Falco's
// formatting, see core::OutputFieldText), `source` and the deprecated
// `source_deprecated` enum both set.
void AlertToFalcoResponse(const core::Alert& alert,
                          falco::outputs::response* response);

}  // namespace corral::server

#endif  // CORRAL_SERVER_ALERT_PROTO_H_
