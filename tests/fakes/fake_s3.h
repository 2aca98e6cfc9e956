#ifndef CORRAL_TESTS_FAKES_FAKE_S3_H_
#define CORRAL_TESTS_FAKES_FAKE_S3_H_

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "tests/fakes/fake_http_server.h"

namespace corral::fakes {

// Amazon S3's PutObject on 127.0.0.1 (an ephemeral port), checking requests
// as S3 does (PROTOCOLS.md §9) and answering with S3's XML errors
// <Error><Code>..</Code><Message>..</Message><RequestId>..</RequestId></Error>.
//
// Addressing: path style (PUT /BUCKET/KEY), or virtual-hosted when the Host
// header is BUCKET.s3.REGION.amazonaws.com or BUCKET.s3.amazonaws.com (PUT
// /KEY).
//
// Each request's AWS Signature V4 is recomputed here from what arrived (its
// own implementation, independent of corral's signer): the canonical URI from
// the decoded path, the canonical query, the headers named in SignedHeaders
// (which must include host and every x-amz-* header sent), the
// x-amz-content-sha256 value, and the key chain of the credential's secret.
// Checks in S3's order, each with S3's answer:
//   no Authorization                           403 AccessDenied
//   malformed Authorization / wrong region     400 AuthorizationHeaderMalformed
//   unknown access key id                      403 InvalidAccessKeyId
//   x-amz-date missing                         403 AccessDenied
//   x-amz-date more than 15 min from the clock 403 RequestTimeTooSkewed
//   an x-amz-* header or host not signed       403 AccessDenied
//   x-amz-content-sha256 missing               400 InvalidRequest
//   x-amz-content-sha256 != SHA-256(body)      400 XAmzContentSHA256Mismatch
//   signature differs                          403 SignatureDoesNotMatch
//   session token missing or wrong             403 InvalidToken
//   key denied (DenyAccess)                    403 AccessDenied
//   unknown bucket                             404 NoSuchBucket
// Other methods get 405 MethodNotAllowed. A stored object answers 200 with an
// ETag (the body's MD5). Scripted answers (FailNext, DropNext) come first,
// before any check. Thread-safe.
class FakeS3 {
 public:
  // `clock` is the server's time, against which x-amz-date is checked.
  explicit FakeS3(std::string region = "us-east-1",
                  core::Clock* clock = core::Clock::Real());
  ~FakeS3();  // stops the server before the state its handler uses goes
  FakeS3(const FakeS3&) = delete;
  FakeS3& operator=(const FakeS3&) = delete;

  // On `port` (0: an ephemeral one); again after Stop() to come back.
  absl::Status Start(int port = 0);
  // Goes away: connections are refused until Start(port()).
  void Stop();
  int port() const;
  // "http://127.0.0.1:PORT": the s3 output's `endpoint`.
  std::string Endpoint() const;

  void AddBucket(std::string bucket);
  // Accepts these credentials; with a session token, requests must carry it
  // (x-amz-security-token) as temporary credentials do.
  void AddCredentials(std::string access_key_id, std::string secret,
                      std::string session_token = "");
  // Requests signed by this key get 403 AccessDenied (no s3:PutObject).
  void DenyAccess(std::string access_key_id);

  // The next `n` requests get HTTP `status` with S3's error `code` (e.g. 503
  // SlowDown, 500 InternalError).
  void FailNext(size_t n, int status, std::string code);
  // The next `n` requests are read and then the connection is closed without
  // an answer.
  void DropNext(size_t n);

  struct Object {
    std::string bucket;
    std::string key;  // decoded
    std::string body;
    std::string content_type;
    bool virtual_hosted = false;  // addressed through the Host header
  };
  // Stored objects in arrival order; a later PUT of a key replaces the
  // earlier one in place.
  std::vector<Object> Objects() const;
  std::optional<Object> Get(absl::string_view bucket,
                            absl::string_view key) const;
  bool WaitForObjects(size_t n, absl::Duration timeout) const;
  // PUTs that stored an object (an overwrite counts again).
  size_t Puts() const;
  // Requests refused by the checks (not scripted ones), and the last refusal
  // as "Code: why".
  size_t Rejected() const;
  std::string LastRejection() const;
  std::vector<RecordedRequest> Requests() const { return server_.Requests(); }

 private:
  ScriptedResponse Handle(const RecordedRequest& request);
  ScriptedResponse Reject(
      int status, absl::string_view code, std::string message, std::string why,
      std::vector<std::pair<std::string, std::string>> extra = {});

  const std::string region_;
  core::Clock* const clock_;
  FakeHttpServer server_;
  mutable absl::Mutex mu_;
  std::set<std::string> buckets_ ABSL_GUARDED_BY(mu_);
  struct Credential {
    std::string secret;
    std::string session_token;
    bool denied = false;
  };
  std::map<std::string, Credential> credentials_ ABSL_GUARDED_BY(mu_);
  std::deque<ScriptedResponse> scripted_ ABSL_GUARDED_BY(mu_);
  std::vector<Object> objects_ ABSL_GUARDED_BY(mu_);
  size_t puts_ ABSL_GUARDED_BY(mu_) = 0;
  size_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_rejection_ ABSL_GUARDED_BY(mu_);
  uint64_t next_request_id_ ABSL_GUARDED_BY(mu_) = 1;
};

// S3's XML error document.
std::string S3ErrorBody(absl::string_view code, absl::string_view message,
                        absl::string_view request_id = "0000000000000000");

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_FAKE_S3_H_
