#include "tests/fakes/fake_slack.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace corral::fakes {
namespace {

ScriptedResponse Text(int status, std::string body) {
  ScriptedResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", "text/html");  // as Slack sends it
  return r;
}

bool NonEmpty(const boost::json::object& o, absl::string_view key) {
  const boost::json::value* v =
      o.if_contains(boost::json::string_view(key.data(), key.size()));
  if (v == nullptr) return false;
  if (v->is_string()) return !v->get_string().empty();
  if (v->is_array()) return !v->get_array().empty();
  return false;
}

}  // namespace

FakeSlack::FakeSlack(FakeSlackOptions options) : options_(options) {
  server_.SetHandler(
      [this](const RecordedRequest& request) { return Handle(request); });
}

FakeSlack::~FakeSlack() { server_.Stop(); }

absl::Status FakeSlack::Start() { return server_.Start(); }

std::string FakeSlack::AddWebhook(absl::string_view path) {
  absl::MutexLock lock(&mu_);
  webhooks_[std::string(path)] =
      Bucket{static_cast<double>(options_.burst), absl::Now()};
  return server_.Url(path);
}

std::string FakeSlack::UrlFor(absl::string_view path) const {
  return server_.Url(path);
}

void FakeSlack::Archive(absl::string_view path) {
  absl::MutexLock lock(&mu_);
  archived_.insert(std::string(path));
}

void FakeSlack::FailNext(absl::string_view path, ScriptedResponse response) {
  absl::MutexLock lock(&mu_);
  scripted_[std::string(path)].push_back(std::move(response));
}

std::vector<FakeSlack::Message> FakeSlack::Messages() const {
  absl::MutexLock lock(&mu_);
  return messages_;
}

bool FakeSlack::WaitForMessages(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return messages_.size() >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

size_t FakeSlack::RateLimited() const {
  absl::MutexLock lock(&mu_);
  return rate_limited_;
}

ScriptedResponse FakeSlack::Handle(const RecordedRequest& request) {
  const std::string path = request.target;
  absl::MutexLock lock(&mu_);
  auto hook = webhooks_.find(path);
  if (request.method != "POST" || hook == webhooks_.end()) {
    return Text(404, "no_service");
  }
  if (auto it = scripted_.find(path);
      it != scripted_.end() && !it->second.empty()) {
    ScriptedResponse r = std::move(it->second.front());
    it->second.pop_front();
    return r;
  }

  Bucket& bucket = hook->second;
  const absl::Time now = absl::Now();
  bucket.tokens =
      std::min(static_cast<double>(options_.burst),
               bucket.tokens + absl::ToDoubleSeconds(now - bucket.last) *
                                   options_.rate_per_second);
  bucket.last = now;
  if (bucket.tokens < 1) {
    ++rate_limited_;
    ScriptedResponse r = Text(429, "rate_limited");
    r.headers.emplace_back("Retry-After",
                           absl::StrCat(options_.retry_after_seconds));
    return r;
  }
  bucket.tokens -= 1;

  if (!absl::StrContains(absl::AsciiStrToLower(request.Header("content-type")),
                         "application/json")) {
    return Text(400, "invalid_payload");
  }
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(request.body, ec);
  if (ec || !body.is_object()) return Text(400, "invalid_payload");
  const boost::json::object& payload = body.get_object();
  if (const boost::json::value* a = payload.if_contains("attachments")) {
    if (!a->is_array()) return Text(400, "invalid_payload");
    for (const boost::json::value& item : a->get_array()) {
      if (!item.is_object()) return Text(400, "invalid_payload");
    }
  }
  if (!NonEmpty(payload, "text") && !NonEmpty(payload, "blocks") &&
      !NonEmpty(payload, "attachments")) {
    return Text(400, "no_text");
  }
  if (archived_.count(path)) return Text(410, "channel_is_archived");

  messages_.push_back({path, payload, now});
  return Text(200, "ok");
}

}  // namespace corral::fakes
