#ifndef CORRAL_OUTPUTS_S3_S3_CONFIG_H_
#define CORRAL_OUTPUTS_S3_S3_CONFIG_H_

#include <optional>
#include <string>

#include "core/config.h"
#include "core/config_node.h"
#include "outputs/object_store.h"
#include "outputs/s3/s3_signer.h"

namespace corral::outputs {

// `type: s3` keys (DESIGN.md "Configuration").
struct S3Config {
  std::string bucket;
  // prefix, format, endpoint (empty: AWS, https://s3.REGION.amazonaws.com),
  // timeout, connect_timeout.
  ObjectStoreKeys store;
  std::string region = "us-east-1";
  // true: ENDPOINT/BUCKET/KEY; false:
  // https://BUCKET.s3.REGION.amazonaws.com/KEY (or BUCKET. in front of the
  // endpoint's host).
  bool path_style = false;
  AwsCredentials credentials;
};

// Reads the s3 keys of an output's mapping:
//   bucket (required; 3 to 63 of a-z 0-9 . -), region (default us-east-1),
//   path_style (default true with an endpoint, false without),
//   access_key_id + secret_access_key (+ session_token) — together, or else
//   all from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//   AWS_SESSION_TOKEN, read through `env`), and ParseObjectStoreKeys' keys
//   (prefix, format, endpoint — for MinIO and other S3-compatible stores —,
//   timeout, connect_timeout).
// No credentials anywhere is an error. Every problem is recorded on `map`;
// unknown keys are left to the caller. Returns nullopt when anything was
// wrong. Does no I/O.
std::optional<S3Config> ParseS3Config(core::ConfigMap& map,
                                      const core::EnvLookup& env);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_S3_S3_CONFIG_H_
