#ifndef CORRAL_TESTS_FAKES_FAKE_CHRONICLE_H_
#define CORRAL_TESTS_FAKES_FAKE_CHRONICLE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/fakes/fake_http_server.h"

namespace corral::fakes {

struct FakeChronicleOptions {
  // Request body limits (Google answers 400 INVALID_ARGUMENT above them).
  uint64_t max_import_bytes = 4 << 20;
  uint64_t max_legacy_bytes = 1 << 20;
  uint64_t max_webhook_bytes = 4 << 20;
  // The webhook feed's keys (X-goog-api-key, X-Webhook-Access-Key).
  std::string feed_api_key = "AIzaFakeFeedKey";
  std::string feed_secret = "fake-feed-secret";
};

// Google Security Operations' three ingestion endpoints on 127.0.0.1 (an
// ephemeral port), answering as Google does (PROTOCOLS.md §8), with Google's
// JSON errors {"error":{"code":N,"message":"...","status":"..."}}:
//
//   POST /v1beta/projects/P/locations/L/instances/I/logTypes/T/logs:import
//     Bearer token (401 UNAUTHENTICATED), body {"inlineSource":{"logs":[...]}}
//     with at least one log, each with base64 `data` (an object JSON inside),
//     RFC 3339 `logEntryTime` and `collectionTime` >= logEntryTime; at most
//     max_import_bytes. Answers 200 {}.
//   POST /v2/unstructuredlogentries:batchCreate
//     Bearer token, body {"customer_id","log_type","entries":[{"log_text",
//     "ts_rfc3339"}]}, at most max_legacy_bytes. Answers 200 {}.
//   POST .../feeds/ID:importPushLogs (the webhook feed)
//     X-goog-api-key and X-Webhook-Access-Key as configured (403
//     PERMISSION_DENIED otherwise), newline-delimited JSON logs, at most
//     max_webhook_bytes. Answers 200 {}.
//
// Other paths 404 NOT_FOUND, other methods 405. Bad bodies 400
// INVALID_ARGUMENT. A request is all-or-nothing: its logs are recorded only
// when it succeeds. Scripted answers (FailNext) come first, before any check.
// Thread-safe.
class FakeChronicle {
 public:
  // True when the Authorization header's value is acceptable (usually
  // FakeGoogleTokenServer::IsValidToken). Unset: any non-empty Bearer token.
  using TokenCheck = std::function<bool(absl::string_view authorization)>;

  explicit FakeChronicle(FakeChronicleOptions options = {});
  ~FakeChronicle();  // stops the server before the state its handler uses goes
  FakeChronicle(const FakeChronicle&) = delete;
  FakeChronicle& operator=(const FakeChronicle&) = delete;

  absl::Status Start();
  void SetTokenCheck(TokenCheck check);
  // "http://127.0.0.1:PORT": the chronicle and legacy `endpoint`.
  std::string Endpoint() const;
  // A webhook feed URL on this server.
  std::string FeedUrl(absl::string_view feed_id = "corral-feed") const;

  // The next `n` requests get HTTP `status` with Google's error body for it,
  // plus Retry-After when `retry_after` is not empty.
  void FailNext(size_t n, int status, std::string retry_after = "");

  struct Log {
    std::string api;  // "chronicle" | "legacy" | "webhook"
    std::string path;
    std::string log_type;     // chronicle: from the path; legacy: the body's
    std::string customer_id;  // legacy only
    std::string alert_json;   // decoded
    absl::Time entry_time = absl::InfinitePast();
    absl::Time collection_time = absl::InfinitePast();  // chronicle only
    size_t request = 0;  // which accepted request carried it (0-based)
  };
  std::vector<Log> Logs() const;
  bool WaitForLogs(size_t n, absl::Duration timeout) const;
  // Logs per accepted request, in order.
  std::vector<size_t> RequestSizes() const;
  // Requests refused by the checks (not FailNext's), and the last reason.
  size_t Rejected() const;
  std::string LastRejection() const;
  std::vector<RecordedRequest> Requests() const { return server_.Requests(); }
  FakeHttpServer& server() { return server_; }

 private:
  ScriptedResponse Handle(const RecordedRequest& request);
  ScriptedResponse Reject(int status, std::string message);
  ScriptedResponse Accept(std::vector<Log> logs);
  ScriptedResponse HandleImport(const RecordedRequest& request,
                                absl::string_view log_type);
  ScriptedResponse HandleLegacy(const RecordedRequest& request);
  ScriptedResponse HandleWebhook(const RecordedRequest& request);
  bool Authorized(const RecordedRequest& request);

  const FakeChronicleOptions options_;
  FakeHttpServer server_;
  mutable absl::Mutex mu_;
  TokenCheck token_check_ ABSL_GUARDED_BY(mu_);
  std::deque<ScriptedResponse> scripted_ ABSL_GUARDED_BY(mu_);
  std::vector<Log> logs_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> request_sizes_ ABSL_GUARDED_BY(mu_);
  size_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_rejection_ ABSL_GUARDED_BY(mu_);
};

// Google's JSON error body for an HTTP status ("INVALID_ARGUMENT" for 400,
// ...).
std::string GoogleErrorBody(int status, absl::string_view message);

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_FAKE_CHRONICLE_H_
