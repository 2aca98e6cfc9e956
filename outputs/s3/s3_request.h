#ifndef CORRAL_OUTPUTS_S3_S3_REQUEST_H_
#define CORRAL_OUTPUTS_S3_S3_REQUEST_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/http_client.h"
#include "outputs/object_store.h"
#include "outputs/s3/s3_config.h"

namespace corral::outputs {

// Where an object's PutObject goes.
struct S3Location {
  std::string url;   // with the key percent-encoded ('/' kept)
  std::string host;  // the Host header (no port when it is the default one)
  std::string path;  // the URL's path, not encoded, for signing
};

// Path style: ENDPOINT/BUCKET/KEY (endpoint default
// https://s3.REGION.amazonaws.com). Virtual-hosted: https://BUCKET.s3.REGION.
// amazonaws.com/KEY, or with an endpoint SCHEME://BUCKET.HOST[:PORT]/PATH/KEY.
// Pure.
S3Location LocateS3Object(const S3Config& config, absl::string_view key);

// The PutObject request for `object`, signed with Signature V4 at `now`:
// PUT with Host, Content-Type, x-amz-date, x-amz-content-sha256 (the body's
// SHA-256), x-amz-security-token with a session token, and Authorization.
// Timeouts are the caller's. Pure.
core::HttpRequest BuildS3PutObject(const S3Config& config, StoredObject object,
                                   absl::Time now);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_S3_S3_REQUEST_H_
