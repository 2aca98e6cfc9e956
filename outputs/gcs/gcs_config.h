#ifndef CORRAL_OUTPUTS_GCS_GCS_CONFIG_H_
#define CORRAL_OUTPUTS_GCS_GCS_CONFIG_H_

#include <optional>
#include <string>

#include "core/config_node.h"
#include "outputs/object_store.h"

namespace corral::outputs {

// The OAuth scope object uploads need.
inline constexpr char kGcsScope[] =
    "https://www.googleapis.com/auth/devstorage.read_write";

// `type: gcs` keys (DESIGN.md "Configuration").
struct GcsConfig {
  std::string bucket;
  // prefix, format, endpoint (set: default filled in), timeout,
  // connect_timeout.
  ObjectStoreKeys store;
  std::string credentials_file;  // empty: the metadata server
};

inline constexpr char kGcsDefaultEndpoint[] = "https://storage.googleapis.com";

// Reads the gcs keys of an output's mapping: bucket (required; 3 to 222 of
// a-z 0-9 . - _), credentials_file (default: the metadata server), and
// ParseObjectStoreKeys' keys (prefix, format, endpoint — default
// kGcsDefaultEndpoint —, timeout, connect_timeout). Every problem is recorded
// on `map`; unknown keys are left to the caller. Returns nullopt when anything
// was wrong. Does no I/O.
std::optional<GcsConfig> ParseGcsConfig(core::ConfigMap& map);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_GCS_GCS_CONFIG_H_
