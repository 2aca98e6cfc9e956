#ifndef CORRAL_OUTPUTS_OBJECT_LAYOUT_H_
#define CORRAL_OUTPUTS_OBJECT_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/alert.h"
#include "core/config.h"
#include "core/config_node.h"

namespace corral::outputs {

// What the object-store outputs (s3, gcs) share: how alerts become objects
// (the one place that knows object names and bodies, so both stores lay out a
// bucket the same way) and the config keys besides the bucket.

enum class ObjectFormat {
  // One alert per object, its Falco JSON:
  //   PREFIX/YYYY-MM-DD/TIME-SEQ.json
  // TIME is the alert's time in RFC 3339 UTC with as many fractional digits
  // as needed (Go's RFC3339Nano, as in Falcosidekick's layout), YYYY-MM-DD
  // its UTC date. SEQ (corral's sequence number) keeps two alerts with the
  // same time from overwriting each other, and a retried alert overwrites
  // only itself.
  kJson,
  // A batch per object, one alert's Falco JSON per line:
  //   PREFIX/YYYY-MM-DD/FIRST_SEQ-LAST_SEQ.ndjson
  // with the UTC date of the batch's first alert.
  kNdjsonBatch,
};

// How a bucket is laid out: `prefix` and `format`.
struct ObjectLayout {
  // Without leading or trailing '/'; empty puts the date folders at the top
  // of the bucket.
  std::string prefix;
  ObjectFormat format = ObjectFormat::kJson;

  // How many alerts one object may hold: 1 for json, `batch.max_items` for
  // ndjson_batch.
  int64_t MaxBatchItems(const core::BatchConfig& batch) const;
};

// The keys both object stores take besides `bucket`.
struct ObjectStoreKeys {
  ObjectLayout layout;
  // Base URL (scheme, host, optional port and path) without a trailing '/';
  // empty when not set.
  std::string endpoint;
  absl::Duration timeout = absl::Seconds(30);  // one request, all of it
  absl::Duration connect_timeout = absl::Seconds(5);
};

// Reads `prefix` (default none; slashes at either end are dropped, control
// characters refused), `format` (json | ndjson_batch, default json),
// `endpoint` (http(s)://HOST[:PORT][/PATH], no query), `timeout` (default 30s)
// and `connect_timeout` (default 5s). Errors are recorded on `map`; returns
// nullopt when there were any.
std::optional<ObjectStoreKeys> ParseObjectStoreKeys(core::ConfigMap& map);

// One object to write.
struct StoredObject {
  std::string key;  // the object's name in the bucket, not encoded
  std::string body;
  std::string content_type;  // application/json | application/x-ndjson
};

// The object for `batch` (pure). InvalidArgument for an empty batch, or for
// json with more than one alert.
absl::StatusOr<StoredObject> BuildStoredObject(
    const ObjectLayout& layout, std::span<const core::AlertPtr> batch);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_OBJECT_LAYOUT_H_
