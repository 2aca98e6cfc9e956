#include "tests/e2e/e2e_alerts.h"

#include <atomic>
#include <boost/json.hpp>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace corral::e2e {

std::string MarkerAlertJson(absl::string_view marker) {
  return absl::StrCat(
      R"({"rule":"Terminal shell in container","priority":"Warning",)",
      R"("time":"2026-11-02T10:15:31.5Z","output":"e2e )", marker,
      R"(","output_fields":{"marker":")", marker, R"("}})");
}

void CountMarkers(absl::string_view ndjson, std::map<std::string, int>& count) {
  for (absl::string_view line :
       absl::StrSplit(ndjson, '\n', absl::SkipEmpty())) {
    boost::json::value alert =
        boost::json::parse(boost::json::string_view(line.data(), line.size()));
    ++count[std::string(alert.at("output_fields").at("marker").as_string())];
  }
}

std::set<std::string> Markers(const std::vector<fakes::RecordedRequest>& got) {
  std::set<std::string> markers;
  for (const auto& request : got) {
    boost::json::value alert = boost::json::parse(request.body);
    markers.insert(
        std::string(alert.at("output_fields").at("marker").as_string()));
  }
  return markers;
}

absl::StatusOr<core::HttpResponse> PostJson(core::HttpClient& client,
                                            const CorralProcess& corral,
                                            std::string body,
                                            absl::string_view path) {
  core::HttpRequest request;
  request.method = "POST";
  request.url = corral.HttpUrl(path);
  request.body = std::move(body);
  request.headers.emplace_back("Content-Type", "application/json");
  return client.Send(request);
}

int PostAlert(core::HttpClient& client, const CorralProcess& corral,
              std::string body) {
  absl::StatusOr<core::HttpResponse> response =
      PostJson(client, corral, std::move(body));
  return response.ok() ? response->status : 0;
}

int PostMarkersConcurrently(const CorralProcess& corral, int n) {
  std::vector<std::thread> posters;
  std::atomic<int> accepted{0};
  for (int t = 0; t < 4; ++t) {
    posters.emplace_back([&, t] {
      core::HttpClient client(core::HttpClientTls{}, "corral-e2e");
      for (int i = t; i < n; i += 4) {
        if (PostAlert(client, corral, MarkerAlertJson(absl::StrCat("m", i))) ==
            200) {
          ++accepted;
        }
      }
    });
  }
  for (std::thread& t : posters) t.join();
  return accepted.load();
}

}  // namespace corral::e2e
