#include "outputs/object_store.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "core/alert_json.h"

namespace corral::outputs {
namespace {

std::string DateFolder(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d", time, absl::UTCTimeZone());
}

// PREFIX/DATE/NAME, without a leading '/' when there is no prefix.
std::string Key(absl::string_view prefix, absl::Time time,
                absl::string_view name) {
  return absl::StrCat(prefix, prefix.empty() ? "" : "/", DateFolder(time), "/",
                      name);
}

}  // namespace

int64_t ObjectLayout::MaxBatchItems(const core::BatchConfig& batch) const {
  return format == ObjectFormat::kNdjsonBatch
             ? std::max<int64_t>(batch.max_items, 1)
             : 1;
}

std::optional<ObjectStoreKeys> ParseObjectStoreKeys(core::ConfigMap& map) {
  const size_t errors_before = map.errors()->messages().size();
  ObjectStoreKeys keys;

  const std::string raw = map.String("prefix");
  absl::string_view prefix = raw;
  while (absl::ConsumePrefix(&prefix, "/")) continue;
  while (absl::ConsumeSuffix(&prefix, "/")) continue;
  if (std::any_of(prefix.begin(), prefix.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
      })) {
    map.Error("prefix", "has a control character");
  }
  keys.layout.prefix = std::string(prefix);
  keys.layout.format =
      map.Enum("format", "json", {"json", "ndjson_batch"}) == "ndjson_batch"
          ? ObjectFormat::kNdjsonBatch
          : ObjectFormat::kJson;

  const std::string endpoint = map.String("endpoint");
  if (!endpoint.empty() && map.CheckHttpUrl("endpoint", endpoint)) {
    if (endpoint.find_first_of("?#") != std::string::npos) {
      map.Error("endpoint", "must not have a query or a fragment");
    } else {
      keys.endpoint = std::string(absl::StripSuffix(endpoint, "/"));
    }
  }

  keys.timeout = map.Duration("timeout", keys.timeout);
  if (keys.timeout <= absl::ZeroDuration())
    map.Error("timeout", "must be more than 0");
  keys.connect_timeout = map.Duration("connect_timeout", keys.connect_timeout);
  if (keys.connect_timeout <= absl::ZeroDuration())
    map.Error("connect_timeout", "must be more than 0");

  if (map.errors()->messages().size() != errors_before) return std::nullopt;
  return keys;
}

absl::StatusOr<StoredObject> BuildStoredObject(
    const ObjectLayout& layout, std::span<const core::AlertPtr> batch) {
  if (batch.empty())
    return absl::InvalidArgumentError("object payload: empty batch");
  StoredObject object;
  switch (layout.format) {
    case ObjectFormat::kJson: {
      if (batch.size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "object payload: format json stores one alert per object, got ",
            batch.size()));
      }
      const core::Alert& alert = *batch.front();
      object.key = Key(layout.prefix, alert.time,
                       absl::StrCat(core::FormatAlertTime(alert.time), "-",
                                    alert.seq, ".json"));
      object.body = core::EncodeFalcoAlert(alert);
      object.content_type = "application/json";
      break;
    }
    case ObjectFormat::kNdjsonBatch:
      object.key = Key(
          layout.prefix, batch.front()->time,
          absl::StrCat(batch.front()->seq, "-", batch.back()->seq, ".ndjson"));
      for (const core::AlertPtr& alert : batch) {
        core::AppendFalcoAlert(&object.body, *alert);
        object.body.push_back('\n');
      }
      object.content_type = "application/x-ndjson";
      break;
  }
  return object;
}

}  // namespace corral::outputs
