#ifndef CORRAL_OUTPUTS_WEBHOOK_WEBHOOK_OUTPUT_H_
#define CORRAL_OUTPUTS_WEBHOOK_WEBHOOK_OUTPUT_H_

#include <cstdint>
#include <memory>
#include <span>

#include "core/clock.h"
#include "core/http_client.h"
#include "outputs/output.h"
#include "outputs/registry.h"
#include "outputs/webhook/webhook_config.h"

namespace corral::outputs {

// `type: webhook` — sends alerts to any HTTP endpoint: one Falco JSON alert per
// request (format json) or a batch of up to `batch.max_items` as NDJSON (format
// ndjson_batch), with the configured method, headers and TLS. Results follow
// the shared HTTP classifier. Thread-safe: each concurrent Send() leases its
// own connection from a pool.
class WebhookOutput : public Output {
 public:
  WebhookOutput(WebhookConfig config, int64_t max_batch_items,
                const OutputContext& context);

  // Checks that the configured TLS files can be read.
  absl::Status Start() override;
  SendResult Send(std::span<const core::AlertPtr> batch,
                  absl::Time deadline) override;
  int64_t MaxBatchItems() const override { return max_batch_items_; }

 private:
  const WebhookConfig config_;
  const int64_t max_batch_items_;
  core::Clock* const clock_;
  core::HttpClientPool pool_;
};

// The registry's factory for `type: webhook` (an OutputFactory). Records config
// errors on `map` and returns nullptr when there are any. Does no I/O.
std::unique_ptr<Output> CreateWebhookOutput(const core::OutputConfig& common,
                                            core::ConfigMap& map,
                                            const OutputContext& context);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_WEBHOOK_WEBHOOK_OUTPUT_H_
