#include "tests/e2e/e2e_alerts.h"

#include <atomic>
#include <boost/json.hpp>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

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

namespace {

// The marker of one alert JSON object ("" when it has none).
std::string MarkerOf(const boost::json::value& alert) {
  const boost::json::object* object = alert.if_object();
  if (object == nullptr) return "";
  const boost::json::value* fields = object->if_contains("output_fields");
  if (fields == nullptr || !fields->is_object()) return "";
  const boost::json::value* marker = fields->as_object().if_contains("marker");
  return marker != nullptr && marker->is_string()
             ? std::string(marker->as_string())
             : "";
}

}  // namespace

std::set<std::string> Markers(const std::vector<fakes::RecordedRequest>& got) {
  std::set<std::string> markers;
  for (const fakes::RecordedRequest& request : got) {
    boost::system::error_code ec;
    boost::json::value alert = boost::json::parse(request.body, ec);
    if (!ec) markers.insert(MarkerOf(alert));
  }
  markers.erase("");
  return markers;
}

std::set<std::string> Markers(const std::vector<boost::json::object>& dead) {
  std::set<std::string> markers;
  for (const boost::json::object& letter : dead) {
    if (const boost::json::value* alert = letter.if_contains("alert")) {
      markers.insert(MarkerOf(*alert));
    }
  }
  markers.erase("");
  return markers;
}

std::set<std::string> Lost(const std::set<std::string>& accepted,
                           const std::set<std::string>& delivered,
                           const std::set<std::string>& dead) {
  std::set<std::string> lost;
  for (const std::string& marker : accepted) {
    if (!delivered.contains(marker) && !dead.contains(marker)) {
      lost.insert(marker);
    }
  }
  return lost;
}

LoadSenders::LoadSenders(const CorralProcess& corral, std::string prefix,
                         int threads)
    : url_(corral.HttpUrl("/")), prefix_(std::move(prefix)) {
  for (int t = 0; t < threads; ++t) {
    threads_.emplace_back([this, t] { Send(t); });
  }
}

LoadSenders::~LoadSenders() { Stop(); }

void LoadSenders::Stop() {
  stop_.store(true);
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void LoadSenders::Send(int thread) {
  core::HttpClient client(core::HttpClientTls{}, "corral-e2e-load");
  for (int i = 0; !stop_.load(); ++i) {
    const std::string marker = absl::StrCat(prefix_, thread, "-", i);
    core::HttpRequest request;
    request.url = url_;
    request.body = MarkerAlertJson(marker);
    request.headers.emplace_back("Content-Type", "application/json");
    request.timeout = absl::Seconds(5);
    absl::StatusOr<core::HttpResponse> response = client.Send(request);
    const int status = response.ok() ? response->status : 0;
    {
      absl::MutexLock lock(&mu_);
      ++counts_[status];
      last_body_[status] = response.ok()
                               ? response->body
                               : std::string(response.status().message());
      if (status == 200) accepted_.insert(marker);
    }
    // Refused, or nobody answering (corral down or restarting): a moment's
    // pause, as a real sender would make.
    if (status != 200) absl::SleepFor(absl::Milliseconds(10));
  }
}

std::set<std::string> LoadSenders::Accepted() const {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

int LoadSenders::Count(int status) const {
  absl::MutexLock lock(&mu_);
  auto it = counts_.find(status);
  return it == counts_.end() ? 0 : it->second;
}

bool LoadSenders::WaitForCount(int status, int n,
                               absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (Count(status) < n) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

std::string LoadSenders::LastBody(int status) const {
  absl::MutexLock lock(&mu_);
  auto it = last_body_.find(status);
  return it == last_body_.end() ? "" : it->second;
}

}  // namespace corral::e2e
