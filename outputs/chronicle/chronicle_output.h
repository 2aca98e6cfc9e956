#ifndef CORRAL_OUTPUTS_CHRONICLE_CHRONICLE_OUTPUT_H_
#define CORRAL_OUTPUTS_CHRONICLE_CHRONICLE_OUTPUT_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/google_auth.h"
#include "core/http_client.h"
#include "outputs/chronicle/chronicle_config.h"
#include "outputs/output.h"
#include "outputs/partial_deliveries.h"
#include "outputs/registry.h"

namespace corral::outputs {

// Google asks clients to wait at least this long after a 429 (PROTOCOLS.md §8).
inline constexpr absl::Duration kChronicleMin429Wait = absl::Seconds(30);

// The shared HTTP classifier with Google SecOps' rules on top:
// - 429: Retry after max(Retry-After, 30 s);
// - 401: Retry. The token may have expired or been revoked between fetch and
//   use; the token source fetches a fresh one once the cached one is near
//   expiry, so a retry can succeed without anyone touching the config;
// - 403 (PERMISSION_DENIED, a wrong API key or secret for a webhook feed):
//   Permanent. The service account lacks a role or the feed's keys are wrong;
//   retrying for a day only delays the dead letter that tells the operator;
// - 5xx except 501, 408 and transport errors: Retry; other 4xx: Permanent.
// Reasons start "chronicle: HTTP N" and carry Google's JSON error as
// "STATUS: message" when the body has one, else the start of the body.
SendResult ClassifyChronicleResponse(
    const absl::StatusOr<core::HttpResponse>& response, absl::Time now);

// `type: chronicle` — sends alerts to Google Security Operations (Chronicle)
// through one of its three ingestion APIs (ChronicleApi). The queue hands over
// batches of up to `batch.max_items` alerts; a batch becomes as few requests
// as the API's size limit allows (ChronicleConfig::MaxRequestBytes), many logs
// per request.
//
// Auth: chronicle and legacy send "Authorization: Bearer TOKEN" from the
// shared Google token source (credentials_file or the metadata server, scope
// per API), fetched per request so refreshes happen on time; a failed fetch is
// a Retry. The webhook feed sends X-goog-api-key and X-Webhook-Access-Key.
//
// A batch split into several requests is all-or-nothing for the queue: when a
// later request fails, the alerts already imported are remembered and skipped
// when the queue retries the batch, so none is imported twice.
// Thread-safe.
class ChronicleOutput : public Output {
 public:
  ChronicleOutput(ChronicleConfig config, int64_t max_batch_items,
                  const OutputContext& context);

  // Reads the service-account key (or checks the metadata host) for chronicle
  // and legacy; fetches no token yet.
  absl::Status Start() override;
  SendResult Send(std::span<const core::AlertPtr> batch,
                  absl::Time deadline) override;
  int64_t MaxBatchItems() const override { return max_batch_items_; }

 private:
  SendResult Post(std::string body, absl::Time deadline);

  const ChronicleConfig config_;
  const std::string url_;
  const int64_t max_batch_items_;
  core::Clock* const clock_;
  const std::string user_agent_;
  core::HttpClientPool pool_;
  std::unique_ptr<core::GoogleTokenSource> tokens_;  // set by Start()
  // Alerts of a multi-request batch already imported, until the batch is
  // through.
  PartialDeliveries imported_;
};

// The registry's factory for `type: chronicle` (an OutputFactory). Records
// config errors on `map` and returns nullptr when there are any. Does no I/O.
std::unique_ptr<Output> CreateChronicleOutput(const core::OutputConfig& common,
                                              core::ConfigMap& map,
                                              const OutputContext& context);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_CHRONICLE_CHRONICLE_OUTPUT_H_
