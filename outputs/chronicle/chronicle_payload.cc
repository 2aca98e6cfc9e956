#include "outputs/chronicle/chronicle_payload.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/alert_json.h"
#include "core/json_util.h"

namespace corral::outputs {
namespace {

// The parts of a request body around its comma-separated entries.
struct Envelope {
  std::string head;
  std::string tail;
  absl::string_view separator;
};

Envelope EnvelopeFor(const ChronicleConfig& config) {
  switch (config.api) {
    case ChronicleApi::kChronicle:
      return {R"({"inlineSource":{"logs":[)", "]}}", ","};
    case ChronicleApi::kLegacy: {
      std::string head = R"({"customer_id":)";
      core::AppendJsonString(&head, config.instance);
      head += R"(,"log_type":)";
      core::AppendJsonString(&head, config.log_type);
      head += R"(,"entries":[)";
      return {std::move(head), "]}", ","};
    }
    case ChronicleApi::kWebhook:
      return {"", "", ""};
  }
  return {};
}

std::string Entry(const ChronicleConfig& config, const core::Alert& alert,
                  absl::Time now) {
  const std::string json = core::EncodeFalcoAlert(alert);
  std::string out;
  switch (config.api) {
    case ChronicleApi::kChronicle:
      out = R"({"data":")";
      absl::StrAppend(&out, absl::Base64Escape(json), R"(","logEntryTime":")",
                      core::FormatAlertTime(alert.time),
                      R"(","collectionTime":")",
                      core::FormatAlertTime(std::max(now, alert.time)), "\"}");
      break;
    case ChronicleApi::kLegacy:
      out = R"({"log_text":)";
      core::AppendJsonString(&out, json);
      absl::StrAppend(&out, R"(,"ts_rfc3339":")",
                      core::FormatAlertTime(alert.time), "\"}");
      break;
    case ChronicleApi::kWebhook:
      out = json;
      out.push_back('\n');
      break;
  }
  return out;
}

}  // namespace

std::string ChronicleRequestUrl(const ChronicleConfig& config) {
  switch (config.api) {
    case ChronicleApi::kChronicle:
      return absl::StrCat(config.endpoint, "/v1beta/projects/", config.project,
                          "/locations/", config.region, "/instances/",
                          config.instance, "/logTypes/", config.log_type,
                          "/logs:import");
    case ChronicleApi::kLegacy:
      return absl::StrCat(config.endpoint,
                          "/v2/unstructuredlogentries:batchCreate");
    case ChronicleApi::kWebhook:
      return config.feed_url;
  }
  return "";
}

absl::StatusOr<std::vector<ChronicleRequest>> BuildChronicleRequests(
    const ChronicleConfig& config, std::span<const core::AlertPtr> batch,
    absl::Time now, uint64_t max_bytes) {
  if (batch.empty())
    return absl::InvalidArgumentError("chronicle payload: empty batch");
  const Envelope envelope = EnvelopeFor(config);
  const uint64_t fixed = envelope.head.size() + envelope.tail.size();

  std::vector<ChronicleRequest> requests;
  ChronicleRequest current;
  auto finish = [&] {
    current.body += envelope.tail;
    requests.push_back(std::move(current));
    current = ChronicleRequest();
  };
  for (size_t i = 0; i < batch.size(); ++i) {
    std::string entry = Entry(config, *batch[i], now);
    if (fixed + entry.size() > max_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("chronicle payload: alert ", batch[i]->uuid, " takes ",
                       fixed + entry.size(),
                       " bytes, more than the API's limit of ", max_bytes));
    }
    if (!current.alerts.empty() && current.body.size() +
                                           envelope.separator.size() +
                                           entry.size() + envelope.tail.size() >
                                       max_bytes) {
      finish();
    }
    if (current.alerts.empty()) {
      current.body = envelope.head;
    } else {
      absl::StrAppend(&current.body, envelope.separator);
    }
    current.body += entry;
    current.alerts.push_back(i);
  }
  finish();
  return requests;
}

}  // namespace corral::outputs
