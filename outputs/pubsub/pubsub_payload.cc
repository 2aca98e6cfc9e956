#include "outputs/pubsub/pubsub_payload.h"

#include <google/protobuf/io/coded_stream.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/alert_json.h"
#include "core/priority.h"
#include "outputs/pubsub/pubsub_config.h"

namespace corral::outputs {
namespace {

namespace pubsub = ::google::pubsub::v1;

// `value` cut to at most `max` bytes without splitting a UTF-8 character
// (protobuf strings must stay valid UTF-8).
std::string Truncated(absl::string_view value, size_t max) {
  if (value.size() <= max) return std::string(value);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) {
    --end;
  }
  return std::string(value.substr(0, end));
}

// What a length-delimited field of `payload` bytes adds to a message: its
// one-byte tag (field numbers below 16), the length and the payload.
size_t FieldBytes(size_t payload) {
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(payload) +
         payload;
}

}  // namespace

pubsub::PubsubMessage BuildPubSubMessage(
    const core::Alert& alert,
    const std::map<std::string, std::string>& configured) {
  pubsub::PubsubMessage message;
  message.set_data(core::EncodeFalcoAlert(alert));
  auto& attributes = *message.mutable_attributes();
  for (const auto& [key, value] : configured) attributes[key] = value;
  const std::pair<absl::string_view, absl::string_view> from_alert[] = {
      {"rule", alert.rule},
      {"priority", core::PriorityName(alert.priority)},
      {"source", alert.source},
      {"hostname", alert.hostname},
  };
  static_assert(sizeof(from_alert) / sizeof(from_alert[0]) ==
                kPubSubAlertAttributes.size());
  for (const auto& [key, value] : from_alert) {
    if (value.empty()) continue;
    attributes[std::string(key)] =
        Truncated(value, kPubSubMaxAttributeValueBytes);
  }
  return message;
}

absl::StatusOr<std::vector<PubSubRequest>> BuildPublishRequests(
    const std::string& topic, std::span<const core::AlertPtr> batch,
    const std::map<std::string, std::string>& configured, uint64_t max_bytes,
    int64_t max_messages) {
  if (batch.empty())
    return absl::InvalidArgumentError("pubsub payload: empty batch");
  const size_t fixed = topic.empty() ? 0 : FieldBytes(topic.size());

  std::vector<PubSubRequest> requests;
  PubSubRequest current;
  size_t current_bytes = fixed;
  for (size_t i = 0; i < batch.size(); ++i) {
    pubsub::PubsubMessage message = BuildPubSubMessage(*batch[i], configured);
    const size_t entry = FieldBytes(message.ByteSizeLong());
    if (fixed + entry > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pubsub payload: alert ", batch[i]->uuid, " makes a ", fixed + entry,
          "-byte publish request, more than Pub/Sub's limit of ", max_bytes,
          " bytes"));
    }
    if (!current.alerts.empty() &&
        (current_bytes + entry > max_bytes ||
         static_cast<int64_t>(current.alerts.size()) >= max_messages)) {
      requests.push_back(std::move(current));
      current = PubSubRequest();
      current_bytes = fixed;
    }
    if (current.alerts.empty()) current.request.set_topic(topic);
    *current.request.add_messages() = std::move(message);
    current.alerts.push_back(i);
    current_bytes += entry;
  }
  requests.push_back(std::move(current));
  return requests;
}

}  // namespace corral::outputs
