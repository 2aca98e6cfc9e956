#ifndef CORRAL_TESTS_E2E_E2E_ALERTS_H_
#define CORRAL_TESTS_E2E_E2E_ALERTS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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

// The output_fields.marker of every alert in `got` (one alert a request).
std::set<std::string> Markers(const std::vector<fakes::RecordedRequest>& got);

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

}  // namespace corral::e2e

#endif  // CORRAL_TESTS_E2E_E2E_ALERTS_H_
