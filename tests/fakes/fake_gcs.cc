#include "tests/fakes/fake_gcs.h"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <regex>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace corral::fakes {
namespace {

// The reason Cloud Storage gives for a status, and its usual message.
std::pair<absl::string_view, absl::string_view> Reason(int status) {
  switch (status) {
    case 400:
      return {"invalid", "Invalid argument."};
    case 401:
      return {"authError", "Invalid Credentials"};
    case 403:
      return {"forbidden", "Forbidden"};
    case 404:
      return {"notFound", "Not Found"};
    case 429:
      return {"rateLimitExceeded", "The project exceeded the rate limit."};
    case 500:
      return {"backendError", "Backend Error"};
    case 503:
      return {"backendError",
              "We encountered an internal error. Please try "
              "again."};
    default:
      return {"unknown", "Error"};
  }
}

ScriptedResponse Json(int status, std::string body) {
  ScriptedResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = {{"Content-Type", "application/json; charset=UTF-8"},
               {"X-GUploader-UploadID", "fake-gcs-upload"}};
  return r;
}

boost::json::string_view J(absl::string_view s) {
  return boost::json::string_view(s.data(), s.size());
}

std::string Md5Base64(absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_md5(), nullptr);
  return absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(out), len));
}

}  // namespace

std::string GcsErrorBody(int status, absl::string_view reason,
                         absl::string_view message) {
  boost::json::object detail;
  detail["message"] = J(message);
  detail["domain"] = "global";
  detail["reason"] = J(reason);
  boost::json::object error;
  error["code"] = status;
  error["message"] = J(message);
  error["errors"] = boost::json::array{std::move(detail)};
  boost::json::object body;
  body["error"] = std::move(error);
  return boost::json::serialize(body);
}

FakeGcs::FakeGcs() {
  server_.SetHandler(
      [this](const RecordedRequest& request) { return Handle(request); });
}

FakeGcs::~FakeGcs() { server_.Stop(); }

absl::Status FakeGcs::Start(int port) { return server_.Start(port); }
void FakeGcs::Stop() { server_.Stop(); }
int FakeGcs::port() const { return server_.port(); }

std::string FakeGcs::Endpoint() const {
  return std::string(absl::StripSuffix(server_.Url("/"), "/"));
}

void FakeGcs::SetTokenCheck(TokenCheck check) {
  absl::MutexLock lock(&mu_);
  token_check_ = std::move(check);
}

void FakeGcs::AddBucket(std::string bucket) {
  absl::MutexLock lock(&mu_);
  buckets_.insert(std::move(bucket));
}

void FakeGcs::DenyBucket(std::string bucket) {
  absl::MutexLock lock(&mu_);
  denied_.insert(std::move(bucket));
}

void FakeGcs::FailNext(size_t n, int status) {
  const auto [reason, message] = Reason(status);
  ScriptedResponse r = Json(status, GcsErrorBody(status, reason, message));
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < n; ++i) scripted_.push_back(r);
}

void FakeGcs::DropNext(size_t n) {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < n; ++i)
    scripted_.push_back(ScriptedResponse{.drop_connection = true});
}

std::vector<FakeGcs::Object> FakeGcs::Objects() const {
  absl::MutexLock lock(&mu_);
  return objects_;
}

std::optional<FakeGcs::Object> FakeGcs::Get(absl::string_view bucket,
                                            absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  for (const Object& o : objects_) {
    if (o.bucket == bucket && o.name == name) return o;
  }
  return std::nullopt;
}

bool FakeGcs::WaitForObjects(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return objects_.size() >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

size_t FakeGcs::Rejected() const {
  absl::MutexLock lock(&mu_);
  return rejected_;
}

std::string FakeGcs::LastRejection() const {
  absl::MutexLock lock(&mu_);
  return last_rejection_;
}

ScriptedResponse FakeGcs::Reject(int status, absl::string_view reason,
                                 std::string message) {
  absl::MutexLock lock(&mu_);
  ++rejected_;
  last_rejection_ = absl::StrCat(reason, ": ", message);
  return Json(status, GcsErrorBody(status, reason, message));
}

ScriptedResponse FakeGcs::Handle(const RecordedRequest& request) {
  TokenCheck check;
  {
    absl::MutexLock lock(&mu_);
    if (!scripted_.empty()) {
      ScriptedResponse r = std::move(scripted_.front());
      scripted_.pop_front();
      return r;
    }
    check = token_check_;
  }
  const absl::string_view target = request.target;
  const size_t question = target.find('?');
  const absl::string_view path = target.substr(0, question);
  static const std::regex kUpload("^/upload/storage/v1/b/([^/]+)/o$");
  std::cmatch match;
  if (!std::regex_match(path.begin(), path.end(), match, kUpload)) {
    return Reject(404, "notFound", "Not Found");
  }
  if (request.method != "POST") {
    return Reject(405, "methodNotAllowed", "Method Not Allowed");
  }
  const std::string authorization = request.Header("authorization");
  if (!absl::StartsWith(authorization, "Bearer ") ||
      authorization.size() <= 7 || (check && !check(authorization))) {
    return Reject(401, "authError", "Invalid Credentials");
  }
  const std::map<std::string, std::string> query = ParseForm(
      question == absl::string_view::npos ? "" : target.substr(question + 1));
  auto upload_type = query.find("uploadType");
  if (upload_type == query.end() || upload_type->second != "media") {
    return Reject(400, "invalid",
                  "Upload requests must include an uploadType URL parameter "
                  "and a URL path beginning with /upload/");
  }
  auto name = query.find("name");
  if (name == query.end() || name->second.empty()) {
    return Reject(400, "required", "Required");
  }
  const std::string bucket = PercentDecode(match[1].str(), false);
  bool known = false, denied = false;
  {
    absl::MutexLock lock(&mu_);
    known = buckets_.contains(bucket);
    denied = denied_.contains(bucket);
  }
  if (!known) {
    return Reject(404, "notFound", "The specified bucket does not exist.");
  }
  if (denied) {
    return Reject(
        403, "forbidden",
        absl::StrCat("corral-test@test-project.iam.gserviceaccount.com does "
                     "not have storage.objects.create access to the Google "
                     "Cloud Storage object. Permission 'storage.objects.create'"
                     " denied on resource (or it may not exist)."));
  }

  Object object{bucket, name->second, request.body,
                request.Header("content-type"), 0};
  boost::json::object resource;
  {
    absl::MutexLock lock(&mu_);
    object.generation = next_generation_++;
    resource["kind"] = "storage#object";
    resource["id"] =
        J(absl::StrCat(bucket, "/", object.name, "/", object.generation));
    resource["name"] = J(object.name);
    resource["bucket"] = J(bucket);
    resource["generation"] = J(absl::StrCat(object.generation));
    resource["contentType"] = J(object.content_type);
    resource["size"] = J(absl::StrCat(object.body.size()));
    resource["md5Hash"] = J(Md5Base64(object.body));
    auto same =
        std::find_if(objects_.begin(), objects_.end(), [&](const Object& o) {
          return o.bucket == bucket && o.name == object.name;
        });
    if (same != objects_.end()) {
      *same = std::move(object);
    } else {
      objects_.push_back(std::move(object));
    }
  }
  return Json(200, boost::json::serialize(resource));
}

}  // namespace corral::fakes
