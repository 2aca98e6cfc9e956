#ifndef CORRAL_TESTS_FAKES_FAKE_SLACK_H_
#define CORRAL_TESTS_FAKES_FAKE_SLACK_H_

#include <boost/json.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
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

struct FakeSlackOptions {
  // Slack allows about one message per second per webhook, with short bursts
  // (PROTOCOLS.md §7). The default burst is one above corral's default, so
  // network jitter on a client pacing itself correctly is not a 429.
  double rate_per_second = 1.0;
  int64_t burst = 4;
  // The Retry-After (seconds) sent with a rate-limit 429.
  int retry_after_seconds = 1;
};

// Slack's incoming webhooks on 127.0.0.1 (an ephemeral port), answering as
// Slack does, with plain-text bodies:
// - an unknown path: 404 `no_service`;
// - over the per-webhook rate (token bucket on real time): 429 with
//   `Retry-After`, body `rate_limited` (the request is not delivered);
// - a body that is not a JSON object, or a Content-Type other than
//   application/json: 400 `invalid_payload`; an object with none of a
//   non-empty `text`, `blocks` or `attachments`: 400 `no_text`;
// - an archived webhook: 410 `channel_is_archived`;
// - otherwise 200 `ok`, and the message is recorded.
// Scripted answers (FailNext) come first, before any check. Thread-safe.
class FakeSlack {
 public:
  explicit FakeSlack(FakeSlackOptions options = {});
  ~FakeSlack();  // stops the server before the state its handler uses goes
  FakeSlack(const FakeSlack&) = delete;
  FakeSlack& operator=(const FakeSlack&) = delete;

  absl::Status Start();
  // Registers a webhook; returns its URL
  // ("http://127.0.0.1:PORT/services/T…/B…/SECRET").
  std::string AddWebhook(
      absl::string_view path = "/services/T0CORRAL/B0CORRAL/s3cr3tT0k3nV4lu3");
  // A URL on this server for a path that is not a webhook.
  std::string UrlFor(absl::string_view path) const;
  // From now on the webhook answers 410 channel_is_archived.
  void Archive(absl::string_view path);
  // The next request to `path` gets this answer, whatever it holds (e.g. 500
  // rollup_error, 403 action_prohibited, 429 with Retry-After).
  void FailNext(absl::string_view path, ScriptedResponse response);

  struct Message {
    std::string path;
    boost::json::object payload;
    absl::Time received;
  };
  // Messages accepted (200 ok), in arrival order.
  std::vector<Message> Messages() const;
  bool WaitForMessages(size_t n, absl::Duration timeout) const;
  // 429s the rate limiter gave (not scripted ones).
  size_t RateLimited() const;
  // Every request, answered or not.
  std::vector<RecordedRequest> Requests() const { return server_.Requests(); }
  FakeHttpServer& server() { return server_; }

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time last;
  };
  ScriptedResponse Handle(const RecordedRequest& request);

  const FakeSlackOptions options_;
  FakeHttpServer server_;
  mutable absl::Mutex mu_;
  std::map<std::string, Bucket> webhooks_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> archived_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::deque<ScriptedResponse>> scripted_
      ABSL_GUARDED_BY(mu_);
  std::vector<Message> messages_ ABSL_GUARDED_BY(mu_);
  size_t rate_limited_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_FAKE_SLACK_H_
