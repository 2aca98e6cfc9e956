#ifndef CORRAL_OUTPUTS_PUBSUB_PUBSUB_PAYLOAD_H_
#define CORRAL_OUTPUTS_PUBSUB_PUBSUB_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/alert.h"
#include "google/pubsub/v1/pubsub.pb.h"

namespace corral::outputs {

// The message for one alert (pure):
// - data: the alert's Falco JSON (core::EncodeFalcoAlert, as the webhook
//   output sends it);
// - attributes: `configured`, plus rule, priority (Falco's name, "Warning"),
//   source and hostname from the alert, so that subscriptions can filter on
//   them. An alert attribute whose value is empty is left out; one longer than
//   Pub/Sub's 1024 bytes is cut there (at a UTF-8 character boundary): the
//   data keeps the whole value.
google::pubsub::v1::PubsubMessage BuildPubSubMessage(
    const core::Alert& alert,
    const std::map<std::string, std::string>& configured);

// One Publish call's worth of a batch.
struct PubSubRequest {
  google::pubsub::v1::PublishRequest request;
  // Indexes into the batch of the alerts its messages carry, in order.
  std::vector<size_t> alerts;
};

// The Publish requests for `batch` to `topic` (pure), packed in batch order,
// each with at most `max_messages` messages and at most `max_bytes` serialized
// bytes. InvalidArgument for an empty batch, or for an alert whose message
// alone makes a request larger than `max_bytes` (naming the alert and both
// sizes).
absl::StatusOr<std::vector<PubSubRequest>> BuildPublishRequests(
    const std::string& topic, std::span<const core::AlertPtr> batch,
    const std::map<std::string, std::string>& configured, uint64_t max_bytes,
    int64_t max_messages);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_PUBSUB_PUBSUB_PAYLOAD_H_
