#ifndef CORRAL_TESTS_E2E_E2E_ALERTS_H_
#define CORRAL_TESTS_E2E_E2E_ALERTS_H_

#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/http_client.h"
#include "tests/e2e/corral_process.h"
#include "tests/fakes/fake_http_server.h"

namespace corral::e2e {

// An alert as Falco posts it (rule "Terminal shell in container", Warning, at
// 2026-11-02T10:15:31.5Z) whose output and output_fields.marker carry
// `marker`.
std::string MarkerAlertJson(absl::string_view marker);

// Adds the output_fields.marker of every alert in `ndjson` (one alert a line)
// to `count`.
void CountMarkers(absl::string_view ndjson, std::map<std::string, int>& count);

// POSTs `body` as JSON to `corral`'s `path` through `client` (blocking).
absl::StatusOr<core::HttpResponse> PostJson(core::HttpClient& client,
                                            const CorralProcess& corral,
                                            std::string body,
                                            absl::string_view path = "/");
// PostJson to "/"; the HTTP status, 0 when there was no answer.
int PostAlert(core::HttpClient& client, const CorralProcess& corral,
              std::string body);

// Posts MarkerAlertJson("m0".."m{n-1}") from 4 threads at once, each with its
// own client; returns how many were answered 200.
int PostMarkersConcurrently(const CorralProcess& corral, int n);

// The output_fields.marker of every alert in the requests a webhook receiver
// got (one alert JSON per request).
std::set<std::string> Markers(const std::vector<fakes::RecordedRequest>& got);
// The output_fields.marker of every alert in these dead letters.
std::set<std::string> Markers(const std::vector<boost::json::object>& dead);
// The markers of `accepted` that are in neither `delivered` nor `dead`: the
// alerts lost.
std::set<std::string> Lost(const std::set<std::string>& accepted,
                           const std::set<std::string>& delivered,
                           const std::set<std::string>& dead = {});

// Load: `threads` threads, each with its own client, POST
// MarkerAlertJson("<prefix><thread>-<i>") to corral's "/" one after another
// until Stop(), recording which markers were answered 200 and how every
// request ended. A request not answered 200 (refused, or corral down) is
// followed by a short pause, not a busy loop. Thread-safe.
class LoadSenders {
 public:
  LoadSenders(const CorralProcess& corral, std::string prefix, int threads = 4);
  ~LoadSenders();  // Stop()s
  // Ends the load and joins the threads; idempotent.
  void Stop();

  // The markers answered 200.
  std::set<std::string> Accepted() const;
  // Requests that ended with `status` (0: no answer at all).
  int Count(int status) const;
  // Waits until Count(status) >= n; false if `timeout` passes first.
  bool WaitForCount(int status, int n, absl::Duration timeout) const;
  // The body of the last answer with `status` ("" if none).
  std::string LastBody(int status) const;

 private:
  void Send(int thread);

  const std::string url_;
  const std::string prefix_;
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  std::set<std::string> accepted_ ABSL_GUARDED_BY(mu_);
  std::map<int, int> counts_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::string> last_body_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace corral::e2e

#endif  // CORRAL_TESTS_E2E_E2E_ALERTS_H_
