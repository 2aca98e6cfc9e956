#include "ingest/http/http_alert_ingest.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/alert_json.h"

namespace corral::ingest {

HttpAlertIngest::HttpAlertIngest(core::Intake* intake,
                                 core::MetricsRegistry* metrics,
                                 std::string hostname)
    : intake_(intake),
      hostname_(std::move(hostname)),
      inputs_(metrics, "http") {}

void HttpAlertIngest::Post(absl::string_view body, Reply reply) {
  absl::StatusOr<core::Alert> alert = core::DecodeFalcoAlert(body);
  if (!alert.ok()) {
    inputs_.CountInvalid();
    std::move(reply)(
        400, absl::StrCat("invalid alert: ", alert.status().message(), "\n"));
    return;
  }
  Submit(*std::move(alert), std::move(reply));
}

void HttpAlertIngest::PostTest(Reply reply) {
  core::Alert alert;
  alert.time = absl::Now();
  alert.priority = core::Priority::kDebug;
  alert.rule = std::string(core::kTestAlertRule);
  alert.source = std::string(core::kTestAlertSource);
  alert.hostname = hostname_;
  alert.output = "This is a test from corral";
  alert.tags = {"test", "example"};
  alert.output_fields_json = R"({"proc.name":"corral","user.name":"corral"})";
  Submit(std::move(alert), std::move(reply));
}

void HttpAlertIngest::Submit(core::Alert alert, Reply reply) {
  intake_->Submit(std::move(alert), [this, reply = std::move(reply)](
                                        absl::StatusOr<uint64_t> seq) mutable {
    inputs_.Count(seq);
    if (seq.ok()) {
      std::move(reply)(200, absl::StrCat("{\"seq\":", *seq, "}\n"));
    } else if (absl::IsInvalidArgument(seq.status())) {
      std::move(reply)(
          400, absl::StrCat("invalid alert: ", seq.status().message(), "\n"));
    } else {
      std::move(reply)(503, absl::StrCat(seq.status().message(), "\n"));
    }
  });
}

}  // namespace corral::ingest
