#ifndef CORRAL_OUTPUTS_S3_S3_OUTPUT_H_
#define CORRAL_OUTPUTS_S3_S3_OUTPUT_H_

#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/http_client.h"
#include "outputs/output.h"
#include "outputs/registry.h"
#include "outputs/s3/s3_config.h"

namespace corral::outputs {

// The shared HTTP classifier with S3's error document on top: reasons read
// "s3: HTTP 403: AccessDenied: Access Denied" (the XML <Error>'s <Code> and
// <Message>), else the start of the body.
// - 503 SlowDown, other 5xx except 501, 408, 429 and transport errors: Retry;
// - 403 RequestTimeTooSkewed: Retry, with the request and server times and a
//   hint about the clock: the alerts are fine, the host's clock is not, and
//   once it is fixed they go through;
// - 400 RequestTimeout (S3 waited too long for the body): Retry;
// - other 4xx (403 AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId,
//   404 NoSuchBucket, ...) and 3xx (a wrong region): Permanent.
SendResult ClassifyS3Response(
    const absl::StatusOr<core::HttpResponse>& response, absl::Time now);

// `type: s3` — stores alerts in an S3 bucket (AWS, or an S3-compatible store
// such as MinIO through `endpoint`) with PutObject signed by AWS Signature V4,
// laid out as ObjectLayout says: one object per alert (format json) or one
// NDJSON object per batch of up to `batch.max_items` (format ndjson_batch).
// Requests are signed with the output's clock at send time. Thread-safe: each
// concurrent Send() leases its own connection.
class S3Output : public Output {
 public:
  S3Output(S3Config config, int64_t max_batch_items,
           const OutputContext& context);

  SendResult Send(std::span<const core::AlertPtr> batch,
                  absl::Time deadline) override;
  int64_t MaxBatchItems() const override { return max_batch_items_; }

 private:
  const S3Config config_;
  const int64_t max_batch_items_;
  core::Clock* const clock_;
  core::HttpClientPool pool_;
};

// The registry's factory for `type: s3` (an OutputFactory): credentials not in
// the config come from the process environment. Records config errors on
// `map` and returns nullptr when there are any. Does no I/O.
std::unique_ptr<Output> CreateS3Output(const core::OutputConfig& common,
                                       core::ConfigMap& map,
                                       const OutputContext& context);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_S3_S3_OUTPUT_H_
