#ifndef CORRAL_TESTS_FAKES_FAKE_GCS_H_
#define CORRAL_TESTS_FAKES_FAKE_GCS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/fakes/fake_http_server.h"

namespace corral::fakes {

// Cloud Storage's JSON API media upload on 127.0.0.1 (an ephemeral port),
// answering as Google does (PROTOCOLS.md §9), with the JSON API's errors
// {"error":{"code":N,"message":"...","errors":[{"message","domain","reason"}]}}:
//
//   POST /upload/storage/v1/b/BUCKET/o?uploadType=media&name=NAME
//     Authorization: Bearer TOKEN            else 401 authError
//     uploadType=media and a non-empty name  else 400 required / invalid
//     a known bucket                         else 404 notFound
//     the bucket not denied (DenyBucket)     else 403 forbidden
//   stores the body as object NAME (decoded) with the request's Content-Type
//   and answers 200 with the object's resource (kind storage#object, name,
//   bucket, generation, contentType, size, md5Hash).
//
// Other paths 404, other methods 405. Scripted answers (FailNext, DropNext)
// come first, before any check. Thread-safe.
class FakeGcs {
 public:
  // True when the Authorization header's value is acceptable (usually
  // FakeGoogleTokenServer::IsValidToken). Unset: any non-empty Bearer token.
  using TokenCheck = std::function<bool(absl::string_view authorization)>;

  FakeGcs();
  ~FakeGcs();  // stops the server before the state its handler uses goes
  FakeGcs(const FakeGcs&) = delete;
  FakeGcs& operator=(const FakeGcs&) = delete;

  // On `port` (0: an ephemeral one); again after Stop() to come back.
  absl::Status Start(int port = 0);
  // Goes away: connections are refused until Start(port()).
  void Stop();
  int port() const;
  // "http://127.0.0.1:PORT": the gcs output's `endpoint`.
  std::string Endpoint() const;

  void SetTokenCheck(TokenCheck check);
  void AddBucket(std::string bucket);
  // Uploads to `bucket` get 403 forbidden (the caller lacks
  // storage.objects.create).
  void DenyBucket(std::string bucket);

  // The next `n` requests get HTTP `status` with the JSON API's error for it
  // (401 authError, 403 forbidden, 429 rateLimitExceeded, 503 backendError,
  // ...).
  void FailNext(size_t n, int status);
  // The next `n` requests are read and then the connection is closed without
  // an answer.
  void DropNext(size_t n);

  struct Object {
    std::string bucket;
    std::string name;  // decoded
    std::string body;
    std::string content_type;
    int64_t generation = 0;
  };
  // Uploaded objects in arrival order; a new upload of a name replaces the
  // earlier one in place (a new generation).
  std::vector<Object> Objects() const;
  std::optional<Object> Get(absl::string_view bucket,
                            absl::string_view name) const;
  bool WaitForObjects(size_t n, absl::Duration timeout) const;
  // Requests refused by the checks (not scripted ones), and the last refusal
  // as "reason: why".
  size_t Rejected() const;
  std::string LastRejection() const;
  std::vector<RecordedRequest> Requests() const { return server_.Requests(); }

 private:
  ScriptedResponse Handle(const RecordedRequest& request);
  ScriptedResponse Reject(int status, absl::string_view reason,
                          std::string message);

  FakeHttpServer server_;
  mutable absl::Mutex mu_;
  TokenCheck token_check_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> buckets_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> denied_ ABSL_GUARDED_BY(mu_);
  std::deque<ScriptedResponse> scripted_ ABSL_GUARDED_BY(mu_);
  std::vector<Object> objects_ ABSL_GUARDED_BY(mu_);
  int64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1700000000000001;
  size_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_rejection_ ABSL_GUARDED_BY(mu_);
};

// The JSON API's error body: {"error":{"code":STATUS,"message":MESSAGE,
// "errors":[{"message":MESSAGE,"domain":"global","reason":REASON}]}}.
std::string GcsErrorBody(int status, absl::string_view reason,
                         absl::string_view message);

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_FAKE_GCS_H_
