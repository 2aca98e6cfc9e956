#ifndef CORRAL_INGEST_HTTP_HTTP_ALERT_INGEST_H_
#define CORRAL_INGEST_HTTP_HTTP_ALERT_INGEST_H_

#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "core/intake.h"
#include "core/metrics.h"

namespace corral::ingest {

// The Falcosidekick-compatible HTTP input: the body of `POST /` (one Falco
// alert JSON) becomes an Alert handed to the intake; `POST /test` injects a
// test alert. It knows nothing of the HTTP server: it gives back a status code
// and a text body.
//   200 `{"seq":N}`                accepted
//   400 `invalid alert: <why>`     the body is not a valid alert
//   503 `<why>`                    no room, or shutting down
// Counts corral_inputs_total{source="http",status=accepted|invalid|refused}.
// Thread-safe.
class HttpAlertIngest {
 public:
  using Reply = absl::AnyInvocable<void(int status, std::string body) &&>;

  HttpAlertIngest(core::Intake* intake, core::MetricsRegistry* metrics,
                  std::string hostname);

  void Post(absl::string_view body, Reply reply);
  void PostTest(Reply reply);

 private:
  void Submit(core::Alert alert, Reply reply);

  core::Intake* const intake_;
  const std::string hostname_;
  const core::InputCounters inputs_;
};

}  // namespace corral::ingest

#endif  // CORRAL_INGEST_HTTP_HTTP_ALERT_INGEST_H_
