#ifndef CORRAL_OUTPUTS_PUBSUB_PUBSUB_OUTPUT_H_
#define CORRAL_OUTPUTS_PUBSUB_PUBSUB_OUTPUT_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/config.h"
#include "outputs/output.h"
#include "outputs/partial_deliveries.h"
#include "outputs/pubsub/pubsub_config.h"
#include "outputs/registry.h"

namespace corral::outputs {

// What a Publish call's gRPC status means for the queue:
// - OK: Delivered;
// - UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL,
//   UNKNOWN, CANCELLED (the codes Google's publishers retry): Retry;
// - UNAUTHENTICATED: Retry. An access token can expire or be revoked between
//   fetch and use; the refused token is dropped, so the retry carries a new
//   one;
// - PERMISSION_DENIED (the account may not publish), NOT_FOUND (no such
//   topic), INVALID_ARGUMENT and every other code: Permanent. Retrying for a
//   day only delays the dead letter that tells the operator.
// The reason is "pubsub: CODE_NAME: message" (the message cut to 300 bytes);
// `status` is the gRPC code.
SendResult ClassifyPubSubStatus(const grpc::Status& status);

// `type: pubsub` — publishes each alert as one Pub/Sub message
// (BuildPubSubMessage: the alert JSON as data, rule/priority/source/hostname
// and the configured attributes as attributes) with Publisher.Publish over
// gRPC.
//
// Connection: one channel per output, made by Start() (core::MakePubSubChannel:
// TLS with Bearer tokens from credentials_file or the metadata server, scope
// pubsub; plaintext without credentials for PUBSUB_EMULATOR_HOST). The channel
// reconnects on its own, within the output's retry backoff, after the endpoint
// went away.
//
// Batching: the queue hands over up to min(batch.max_items, 1000) alerts of up
// to about 10 MB (MaxBatchBytes); a batch becomes as few Publish calls as
// Pub/Sub's limits allow (1000 messages, 10 MB per request, checked exactly).
// When a later call of a split batch fails, the alerts already published are
// remembered and skipped when the queue retries the batch, so none is
// published twice. An alert too large for any request is Permanent, and with
// it its batch.
//
// Every call has the deadline min(Send's deadline, timeout). Thread-safe.
class PubSubOutput : public Output {
 public:
  // `retry` sets how soon the channel tries to reconnect to an endpoint that
  // went away (from initial_backoff, growing to max_backoff).
  PubSubOutput(PubSubConfig config, int64_t max_batch_items,
               const core::RetryConfig& retry, const OutputContext& context);
  ~PubSubOutput() override;

  // Reads the CA file and the service-account key (or checks the metadata
  // host) and makes the channel; connects and fetches no token yet.
  absl::Status Start() override;
  SendResult Send(std::span<const core::AlertPtr> batch,
                  absl::Time deadline) override;
  int64_t MaxBatchItems() const override { return max_batch_items_; }
  uint64_t MaxBatchBytes() const override { return kPubSubMaxRequestBytes; }

 private:
  struct Client;  // the channel and the Publisher stub

  const PubSubConfig config_;
  const int64_t max_batch_items_;
  const absl::Duration initial_reconnect_backoff_;
  const absl::Duration max_reconnect_backoff_;
  core::Clock* const clock_;
  const std::string user_agent_;
  std::unique_ptr<Client> client_;  // set by Start()
  // Alerts of a multi-request batch already published, until the batch is
  // through.
  PartialDeliveries published_;
};

// The registry's factory for `type: pubsub` (an OutputFactory). Records config
// errors on `map` and returns nullptr when there are any. Does no I/O.
std::unique_ptr<Output> CreatePubSubOutput(const core::OutputConfig& common,
                                           core::ConfigMap& map,
                                           const OutputContext& context);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_PUBSUB_PUBSUB_OUTPUT_H_
