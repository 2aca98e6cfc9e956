#ifndef CORRAL_TESTS_OUTPUTS_FIXED_ALERT_H_
#define CORRAL_TESTS_OUTPUTS_FIXED_ALERT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "core/alert.h"

namespace corral::outputs {

// One alert with every field set, for payload golden tests, and its Falco
// JSON as corral encodes it (kFixedAlertJson, with the default seq and rule).
inline core::AlertPtr FixedAlert(
    uint64_t seq = 42, std::string rule = "Read sensitive file untrusted") {
  auto alert = std::make_shared<core::Alert>();
  alert->uuid = "123e4567-e89b-42d3-a456-426614174000";
  alert->seq = seq;
  alert->time = absl::FromUnixNanos(1783277459430325374);
  alert->priority = core::Priority::kWarning;
  alert->rule = std::move(rule);
  alert->output =
      "Sensitive file opened for reading (file=/etc/shadow user=root)";
  alert->source = "syscall";
  alert->hostname = "753144d3be64";
  alert->tags = {"T1555", "filesystem"};
  alert->output_fields_json =
      R"({"fd.name":"/etc/shadow","k8s.ns.name":null,"proc.tty":34816,"user.name":"root"})";
  return alert;
}

inline constexpr char kFixedAlertJson[] =
    R"json({"hostname":"753144d3be64",)json"
    R"json("output":"Sensitive file opened for reading (file=/etc/shadow user=root)",)json"
    R"json("output_fields":{"fd.name":"/etc/shadow","k8s.ns.name":null,"proc.tty":34816,)json"
    R"json("user.name":"root"},"priority":"Warning","rule":"Read sensitive file untrusted",)json"
    R"json("seq":42,"source":"syscall","tags":["T1555","filesystem"],)json"
    R"json("time":"2026-07-05T18:50:59.430325374Z","uuid":"123e4567-e89b-42d3-a456-426614174000"})json";

}  // namespace corral::outputs

#endif  // CORRAL_TESTS_OUTPUTS_FIXED_ALERT_H_
