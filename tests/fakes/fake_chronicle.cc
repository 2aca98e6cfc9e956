#include "tests/fakes/fake_chronicle.h"

#include <boost/json.hpp>
#include <regex>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace corral::fakes {
namespace {

absl::string_view StatusName(int status) {
  switch (status) {
    case 400:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 405:
      return "METHOD_NOT_ALLOWED";
    case 409:
      return "ALREADY_EXISTS";
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 500:
      return "INTERNAL";
    case 503:
      return "UNAVAILABLE";
    case 504:
      return "DEADLINE_EXCEEDED";
    default:
      return "UNKNOWN";
  }
}

ScriptedResponse Json(int status, std::string body) {
  ScriptedResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", "application/json; charset=UTF-8");
  return r;
}

const boost::json::object* Object(const boost::json::value* v) {
  return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

std::optional<std::string> String(const boost::json::object& o,
                                  absl::string_view key) {
  const boost::json::value* v =
      o.if_contains(boost::json::string_view(key.data(), key.size()));
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

std::optional<absl::Time> Rfc3339(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, *s, &t, &err)) return std::nullopt;
  return t;
}

// Chronicle parses the alert JSON with its FALCO_IDS parser: it must be an
// object.
bool IsJsonObject(absl::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(
      boost::json::string_view(text.data(), text.size()), ec);
  return !ec && v.is_object();
}

}  // namespace

std::string GoogleErrorBody(int status, absl::string_view message) {
  boost::json::object error;
  error["code"] = status;
  error["message"] = boost::json::string_view(message.data(), message.size());
  const absl::string_view name = StatusName(status);
  error["status"] = boost::json::string_view(name.data(), name.size());
  boost::json::object body;
  body["error"] = std::move(error);
  return boost::json::serialize(body);
}

FakeChronicle::FakeChronicle(FakeChronicleOptions options)
    : options_(std::move(options)) {
  server_.SetHandler(
      [this](const RecordedRequest& request) { return Handle(request); });
}

FakeChronicle::~FakeChronicle() { server_.Stop(); }

absl::Status FakeChronicle::Start() { return server_.Start(); }

void FakeChronicle::SetTokenCheck(TokenCheck check) {
  absl::MutexLock lock(&mu_);
  token_check_ = std::move(check);
}

std::string FakeChronicle::Endpoint() const {
  return std::string(absl::StripSuffix(server_.Url("/"), "/"));
}

std::string FakeChronicle::FeedUrl(absl::string_view feed_id) const {
  return server_.Url(
      absl::StrCat("/v1alpha/projects/test-project/locations/us/instances/"
                   "0a1b2c3d-4e5f-6789-abcd-ef0123456789/feeds/",
                   feed_id, ":importPushLogs"));
}

void FakeChronicle::FailNext(size_t n, int status, std::string retry_after) {
  ScriptedResponse r =
      Json(status, GoogleErrorBody(status, "scripted failure"));
  if (!retry_after.empty()) r.headers.emplace_back("Retry-After", retry_after);
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < n; ++i) scripted_.push_back(r);
}

std::vector<FakeChronicle::Log> FakeChronicle::Logs() const {
  absl::MutexLock lock(&mu_);
  return logs_;
}

bool FakeChronicle::WaitForLogs(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return logs_.size() >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

std::vector<size_t> FakeChronicle::RequestSizes() const {
  absl::MutexLock lock(&mu_);
  return request_sizes_;
}

size_t FakeChronicle::Rejected() const {
  absl::MutexLock lock(&mu_);
  return rejected_;
}

std::string FakeChronicle::LastRejection() const {
  absl::MutexLock lock(&mu_);
  return last_rejection_;
}

ScriptedResponse FakeChronicle::Reject(int status, std::string message) {
  absl::MutexLock lock(&mu_);
  ++rejected_;
  last_rejection_ = message;
  return Json(status, GoogleErrorBody(status, message));
}

ScriptedResponse FakeChronicle::Accept(std::vector<Log> logs) {
  absl::MutexLock lock(&mu_);
  const size_t index = request_sizes_.size();
  request_sizes_.push_back(logs.size());
  for (Log& log : logs) {
    log.request = index;
    logs_.push_back(std::move(log));
  }
  return Json(200, "{}");
}

bool FakeChronicle::Authorized(const RecordedRequest& request) {
  const std::string authorization = request.Header("authorization");
  if (!absl::StartsWith(authorization, "Bearer ") ||
      authorization.size() <= 7) {
    return false;
  }
  TokenCheck check;
  {
    absl::MutexLock lock(&mu_);
    check = token_check_;
  }
  return !check || check(authorization);
}

ScriptedResponse FakeChronicle::Handle(const RecordedRequest& request) {
  {
    absl::MutexLock lock(&mu_);
    if (!scripted_.empty()) {
      ScriptedResponse r = std::move(scripted_.front());
      scripted_.pop_front();
      return r;
    }
  }
  static const std::regex kImport(
      "^/v1beta/projects/([A-Za-z0-9._-]+)/locations/([A-Za-z0-9._-]+)/"
      "instances/([A-Za-z0-9._-]+)/logTypes/([A-Za-z0-9._-]+)/logs:import$");
  static const std::regex kFeed(
      "^/v1alpha/projects/[^/]+/locations/[^/]+/"
      "instances/[^/]+/feeds/[^/:]+:importPushLogs$");
  std::smatch m;
  enum { kNone, kImportPath, kLegacyPath, kFeedPath } which = kNone;
  if (std::regex_match(request.target, m, kImport)) which = kImportPath;
  if (request.target == "/v2/unstructuredlogentries:batchCreate")
    which = kLegacyPath;
  if (std::regex_match(request.target, kFeed)) which = kFeedPath;
  if (which == kNone) {
    return Reject(
        404, absl::StrCat("Requested entity was not found: ", request.target));
  }
  if (request.method != "POST") {
    return Reject(405,
                  absl::StrCat("Method ", request.method, " is not allowed"));
  }
  switch (which) {
    case kImportPath:
      return HandleImport(request, m[4].str());
    case kLegacyPath:
      return HandleLegacy(request);
    default:
      return HandleWebhook(request);
  }
}

ScriptedResponse FakeChronicle::HandleImport(const RecordedRequest& request,
                                             absl::string_view log_type) {
  if (!Authorized(request)) {
    return Reject(401,
                  "Request had invalid authentication credentials. Expected "
                  "OAuth 2 access token, login cookie or other valid "
                  "authentication credential.");
  }
  if (request.body.size() > options_.max_import_bytes) {
    return Reject(400, absl::StrCat("Request payload size exceeds the limit: ",
                                    options_.max_import_bytes, " bytes."));
  }
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(request.body, ec);
  if (ec || !body.is_object())
    return Reject(400, "Invalid JSON payload received.");
  const boost::json::object* source =
      Object(body.as_object().if_contains("inlineSource"));
  if (source == nullptr) return Reject(400, "inlineSource is required");
  const boost::json::value* logs = source->if_contains("logs");
  if (logs == nullptr || !logs->is_array() || logs->as_array().empty())
    return Reject(400, "inlineSource.logs must not be empty");
  std::vector<Log> out;
  for (size_t i = 0; i < logs->as_array().size(); ++i) {
    const std::string at = absl::StrCat("inlineSource.logs[", i, "]");
    const boost::json::object* log = Object(&logs->as_array()[i]);
    if (log == nullptr) return Reject(400, absl::StrCat(at, " is not a Log"));
    for (const auto& [key, value] : *log) {
      if (key != "data" && key != "logEntryTime" && key != "collectionTime") {
        return Reject(400,
                      absl::StrCat("Invalid JSON payload received. Unknown "
                                   "name \"",
                                   std::string(key), "\" at '", at, "'"));
      }
    }
    std::string decoded;
    std::optional<std::string> data = String(*log, "data");
    if (!data || data->empty() || !absl::Base64Unescape(*data, &decoded))
      return Reject(400, absl::StrCat(at, ".data must be base64 bytes"));
    if (!IsJsonObject(decoded))
      return Reject(400, absl::StrCat(at, ".data is not a JSON object"));
    std::optional<absl::Time> entry = Rfc3339(String(*log, "logEntryTime"));
    std::optional<absl::Time> collection =
        Rfc3339(String(*log, "collectionTime"));
    if (!entry)
      return Reject(400, absl::StrCat(at, ".logEntryTime must be RFC 3339"));
    if (!collection)
      return Reject(400, absl::StrCat(at, ".collectionTime must be RFC 3339"));
    if (*collection < *entry) {
      return Reject(400, absl::StrCat(at,
                                      ".collectionTime is before "
                                      "logEntryTime"));
    }
    Log l;
    l.api = "chronicle";
    l.path = request.target;
    l.log_type = std::string(log_type);
    l.alert_json = std::move(decoded);
    l.entry_time = *entry;
    l.collection_time = *collection;
    out.push_back(std::move(l));
  }
  return Accept(std::move(out));
}

ScriptedResponse FakeChronicle::HandleLegacy(const RecordedRequest& request) {
  if (!Authorized(request)) {
    return Reject(401,
                  "Request had invalid authentication credentials. Expected "
                  "OAuth 2 access token.");
  }
  if (request.body.size() > options_.max_legacy_bytes) {
    return Reject(400, absl::StrCat("Request payload size exceeds the limit: ",
                                    options_.max_legacy_bytes, " bytes."));
  }
  boost::system::error_code ec;
  boost::json::value body = boost::json::parse(request.body, ec);
  if (ec || !body.is_object())
    return Reject(400, "Invalid JSON payload received.");
  const boost::json::object& o = body.as_object();
  std::optional<std::string> customer = String(o, "customer_id");
  std::optional<std::string> log_type = String(o, "log_type");
  if (!customer || customer->empty())
    return Reject(400, "customer_id is required");
  if (!log_type || log_type->empty())
    return Reject(400, "log_type is required");
  const boost::json::value* entries = o.if_contains("entries");
  if (entries == nullptr || !entries->is_array() ||
      entries->as_array().empty()) {
    return Reject(400, "entries must not be empty");
  }
  std::vector<Log> out;
  for (size_t i = 0; i < entries->as_array().size(); ++i) {
    const std::string at = absl::StrCat("entries[", i, "]");
    const boost::json::object* entry = Object(&entries->as_array()[i]);
    if (entry == nullptr)
      return Reject(400, absl::StrCat(at, " is not an entry"));
    std::optional<std::string> text = String(*entry, "log_text");
    if (!text || text->empty())
      return Reject(400, absl::StrCat(at, ".log_text is required"));
    std::optional<absl::Time> ts = Rfc3339(String(*entry, "ts_rfc3339"));
    if (!ts)
      return Reject(400, absl::StrCat(at, ".ts_rfc3339 must be RFC 3339"));
    Log l;
    l.api = "legacy";
    l.path = request.target;
    l.log_type = *log_type;
    l.customer_id = *customer;
    l.alert_json = std::move(*text);
    l.entry_time = *ts;
    out.push_back(std::move(l));
  }
  return Accept(std::move(out));
}

ScriptedResponse FakeChronicle::HandleWebhook(const RecordedRequest& request) {
  if (request.Header("x-goog-api-key") != options_.feed_api_key) {
    return Reject(403, "API key not valid. Please pass a valid API key.");
  }
  if (request.Header("x-webhook-access-key") != options_.feed_secret)
    return Reject(403, "The caller does not have permission");
  if (request.body.size() > options_.max_webhook_bytes) {
    return Reject(400, absl::StrCat("Request payload size exceeds the limit: ",
                                    options_.max_webhook_bytes, " bytes."));
  }
  std::vector<Log> out;
  for (absl::string_view line : absl::StrSplit(request.body, '\n')) {
    if (line.empty()) continue;
    if (!IsJsonObject(line))
      return Reject(400, "Invalid JSON payload received.");
    Log l;
    l.api = "webhook";
    l.path = request.target;
    l.alert_json = std::string(line);
    out.push_back(std::move(l));
  }
  if (out.empty()) return Reject(400, "The request has no logs");
  return Accept(std::move(out));
}

}  // namespace corral::fakes
