#ifndef CORRAL_OUTPUTS_GCS_GCS_OUTPUT_H_
#define CORRAL_OUTPUTS_GCS_GCS_OUTPUT_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/google_auth.h"
#include "core/http_client.h"
#include "outputs/gcs/gcs_config.h"
#include "outputs/output.h"
#include "outputs/registry.h"

namespace corral::outputs {

// The media upload URL for object `name` (not encoded):
// ENDPOINT/upload/storage/v1/b/BUCKET/o?uploadType=media&name=NAME with NAME
// percent-encoded ('/' too). Pure.
std::string GcsUploadUrl(const GcsConfig& config, absl::string_view name);

// The shared HTTP classifier with Cloud Storage's JSON errors on top: reasons
// read "gcs: HTTP 403: forbidden: NAME does not have storage.objects.create
// access ..." (errors[0].reason and message), else the start of the body.
// - 401 (authError): Retry. The access token expired or was revoked between
//   fetch and use; the token source fetches a fresh one once the cached one
//   nears expiry (it has no way to drop a token early), so a retry goes
//   through without anyone touching the config;
// - 429, 408, 5xx except 501 and transport errors: Retry;
// - 403 (the service account may not create objects in the bucket), 404 (no
//   such bucket) and other 4xx: Permanent.
SendResult ClassifyGcsResponse(
    const absl::StatusOr<core::HttpResponse>& response, absl::Time now);

// `type: gcs` — stores alerts in a Cloud Storage bucket with the JSON API's
// media upload (one request per object), laid out as ObjectLayout says: one
// object per alert (format json) or one NDJSON object per batch of up to
// `batch.max_items` (format ndjson_batch).
//
// Auth: "Authorization: Bearer TOKEN" from the shared Google token source
// (credentials_file or the metadata server, scope kGcsScope), fetched per
// request so refreshes happen on time; a failed fetch is a Retry.
// Thread-safe: each concurrent Send() leases its own connection.
class GcsOutput : public Output {
 public:
  GcsOutput(GcsConfig config, int64_t max_batch_items,
            const OutputContext& context);

  // Reads the service-account key (or checks the metadata host); fetches no
  // token yet.
  absl::Status Start() override;
  SendResult Send(std::span<const core::AlertPtr> batch,
                  absl::Time deadline) override;
  int64_t MaxBatchItems() const override { return max_batch_items_; }

 private:
  const GcsConfig config_;
  const int64_t max_batch_items_;
  core::Clock* const clock_;
  const std::string user_agent_;
  core::HttpClientPool pool_;
  std::unique_ptr<core::GoogleTokenSource> tokens_;  // set by Start()
};

// The registry's factory for `type: gcs` (an OutputFactory). Records config
// errors on `map` and returns nullptr when there are any. Does no I/O.
std::unique_ptr<Output> CreateGcsOutput(const core::OutputConfig& common,
                                        core::ConfigMap& map,
                                        const OutputContext& context);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_GCS_GCS_OUTPUT_H_
