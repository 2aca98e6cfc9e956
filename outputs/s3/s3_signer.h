#ifndef CORRAL_OUTPUTS_S3_S3_SIGNER_H_
#define CORRAL_OUTPUTS_S3_S3_SIGNER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/http_client.h"

namespace corral::outputs {

// AWS access keys. The secret and the session token are never logged.
struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // temporary (STS) credentials; else empty
};

// One request as AWS Signature Version 4 sees it.
struct SigV4Request {
  std::string method;  // "PUT"
  // The Host header's value exactly as sent:
  // "bucket.s3.us-east-1.amazonaws.com" or "127.0.0.1:9000".
  std::string host;
  // The path, not encoded ("/bucket/a b.json"); the canonical URI encodes
  // every byte but the unreserved characters and '/' (S3 encodes once).
  std::string path;
  // Query parameters, not encoded.
  std::vector<std::pair<std::string, std::string>> query;
  // Further headers to sign, sent as given (Content-Type, Date, Range, ...).
  // Not host, x-amz-date, x-amz-content-sha256 or x-amz-security-token: those
  // come from the other fields.
  core::HttpHeaders headers;
  // Lower-case hex SHA-256 of the body (Sha256Hex), or "UNSIGNED-PAYLOAD".
  std::string payload_sha256;
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "content-type;host;x-amz-content-sha256;..."
  std::string signature;       // lower-case hex
  // To send besides SigV4Request::headers and Host: x-amz-date,
  // x-amz-content-sha256, x-amz-security-token (with a session token) and
  // Authorization.
  core::HttpHeaders headers;
};

// Signs `request` for `service` ("s3") in `region` at time `now`: canonical
// request → string to sign ("AWS4-HMAC-SHA256") → the HMAC-SHA256 key chain
// date/region/service/aws4_request. Header values are trimmed and inner runs
// of spaces collapsed, names lower-cased and sorted; every header that is
// sent is signed. Pure.
SigV4Signature SignV4(const SigV4Request& request,
                      const AwsCredentials& credentials,
                      absl::string_view region, absl::string_view service,
                      absl::Time now);

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_S3_S3_SIGNER_H_
