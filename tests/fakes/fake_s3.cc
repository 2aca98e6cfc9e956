#include "tests/fakes/fake_s3.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"

namespace corral::fakes {
namespace {

constexpr absl::Duration kMaxSkew = absl::Minutes(15);

// The fake's own Signature V4 arithmetic: deliberately not corral's signer, so
// that a mistake there cannot hide behind the same mistake here.

std::string Digest(const EVP_MD* md, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(out), len));
}

std::string Hmac(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

// AWS's UriEncode(): unreserved characters stay, everything else is %XX.
std::string AwsEncode(absl::string_view s, bool keep_slash) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) ||
        absl::string_view("-._~").find(c) != absl::string_view::npos ||
        (keep_slash && c == '/')) {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "%",
                      absl::AsciiStrToUpper(
                          absl::BytesToHexString(absl::string_view(&c, 1))));
    }
  }
  return out;
}

// Trim, and collapse inner runs of whitespace to one space.
std::string CanonicalHeaderValue(absl::string_view value) {
  std::vector<absl::string_view> words =
      absl::StrSplit(value, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  return absl::StrJoin(words, " ");
}

std::string CanonicalQuery(absl::string_view query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    pairs.emplace_back(AwsEncode(PercentDecode(kv.first, false), false),
                       AwsEncode(PercentDecode(kv.second, false), false));
  }
  std::sort(pairs.begin(), pairs.end());
  std::vector<std::string> out;
  for (const auto& [k, v] : pairs) out.push_back(absl::StrCat(k, "=", v));
  return absl::StrJoin(out, "&");
}

std::string XmlEscape(absl::string_view s) {
  return absl::StrReplaceAll(
      s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

// "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
struct Authorization {
  std::string access_key_id, date, region, service, terminator;
  std::vector<std::string> signed_headers;
  std::string signature;
};

std::optional<Authorization> ParseAuthorization(absl::string_view value) {
  if (!absl::ConsumePrefix(&value, "AWS4-HMAC-SHA256 ")) return std::nullopt;
  Authorization auth;
  bool credential = false, headers = false, signature = false;
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, "Credential=")) {
      std::vector<std::string> scope = absl::StrSplit(part, '/');
      if (scope.size() != 5) return std::nullopt;
      auth.access_key_id = scope[0];
      auth.date = scope[1];
      auth.region = scope[2];
      auth.service = scope[3];
      auth.terminator = scope[4];
      credential = true;
    } else if (absl::ConsumePrefix(&part, "SignedHeaders=")) {
      auth.signed_headers = absl::StrSplit(part, ';');
      headers = true;
    } else if (absl::ConsumePrefix(&part, "Signature=")) {
      auth.signature = std::string(part);
      signature = true;
    } else {
      return std::nullopt;
    }
  }
  if (!credential || !headers || !signature) return std::nullopt;
  return auth;
}

// x-amz-date's form, YYYYMMDDTHHMMSSZ (basic ISO 8601, UTC).
std::optional<absl::Time> ParseAmzDate(absl::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  constexpr size_t kAt[] = {0, 4, 6, 9, 11, 13};
  constexpr size_t kLen[] = {4, 2, 2, 2, 2, 2};
  int v[6];
  for (int i = 0; i < 6; ++i) {
    absl::string_view digits = s.substr(kAt[i], kLen[i]);
    if (!std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(digits, &v[i])) {
      return std::nullopt;
    }
  }
  const absl::CivilSecond civil(v[0], v[1], v[2], v[3], v[4], v[5]);
  if (civil.month() != v[1] || civil.day() != v[2] || civil.hour() != v[3] ||
      civil.minute() != v[4] || civil.second() != v[5]) {
    return std::nullopt;  // e.g. month 13
  }
  return absl::FromCivil(civil, absl::UTCTimeZone());
}

ScriptedResponse Xml(int status, std::string body, std::string request_id) {
  ScriptedResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/xml"},
               {"x-amz-request-id", std::move(request_id)},
               {"Server", "AmazonS3"}};
  r.body = std::move(body);
  return r;
}

}  // namespace

std::string S3ErrorBody(absl::string_view code, absl::string_view message,
                        absl::string_view request_id) {
  return absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>",
      XmlEscape(code), "</Code><Message>", XmlEscape(message),
      "</Message><RequestId>", XmlEscape(request_id),
      "</RequestId><HostId>ZmFrZS1zMw==</HostId></Error>");
}

FakeS3::FakeS3(std::string region, core::Clock* clock)
    : region_(std::move(region)), clock_(clock) {
  server_.SetHandler(
      [this](const RecordedRequest& request) { return Handle(request); });
}

FakeS3::~FakeS3() { server_.Stop(); }

absl::Status FakeS3::Start(int port) { return server_.Start(port); }
void FakeS3::Stop() { server_.Stop(); }
int FakeS3::port() const { return server_.port(); }

std::string FakeS3::Endpoint() const {
  return std::string(absl::StripSuffix(server_.Url("/"), "/"));
}

void FakeS3::AddBucket(std::string bucket) {
  absl::MutexLock lock(&mu_);
  buckets_.insert(std::move(bucket));
}

void FakeS3::AddCredentials(std::string access_key_id, std::string secret,
                            std::string session_token) {
  absl::MutexLock lock(&mu_);
  credentials_[std::move(access_key_id)] =
      Credential{std::move(secret), std::move(session_token)};
}

void FakeS3::DenyAccess(std::string access_key_id) {
  absl::MutexLock lock(&mu_);
  credentials_[access_key_id].denied = true;
}

void FakeS3::FailNext(size_t n, int status, std::string code) {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < n; ++i) {
    scripted_.push_back(
        Xml(status, S3ErrorBody(code, "scripted failure"), "scripted"));
  }
}

void FakeS3::DropNext(size_t n) {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < n; ++i)
    scripted_.push_back(ScriptedResponse{.drop_connection = true});
}

std::vector<FakeS3::Object> FakeS3::Objects() const {
  absl::MutexLock lock(&mu_);
  return objects_;
}

std::optional<FakeS3::Object> FakeS3::Get(absl::string_view bucket,
                                          absl::string_view key) const {
  absl::MutexLock lock(&mu_);
  for (const Object& o : objects_) {
    if (o.bucket == bucket && o.key == key) return o;
  }
  return std::nullopt;
}

bool FakeS3::WaitForObjects(size_t n, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return objects_.size() >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

size_t FakeS3::Puts() const {
  absl::MutexLock lock(&mu_);
  return puts_;
}

size_t FakeS3::Rejected() const {
  absl::MutexLock lock(&mu_);
  return rejected_;
}

std::string FakeS3::LastRejection() const {
  absl::MutexLock lock(&mu_);
  return last_rejection_;
}

ScriptedResponse FakeS3::Reject(
    int status, absl::string_view code, std::string message, std::string why,
    std::vector<std::pair<std::string, std::string>> extra) {
  absl::MutexLock lock(&mu_);
  ++rejected_;
  last_rejection_ = absl::StrCat(code, ": ", why);
  const std::string request_id = absl::StrCat("FAKE", next_request_id_++);
  std::string body = S3ErrorBody(code, message, request_id);
  std::string more;
  for (const auto& [name, value] : extra)
    absl::StrAppend(&more, "<", name, ">", XmlEscape(value), "</", name, ">");
  body.insert(body.rfind("</Error>"), more);
  return Xml(status, std::move(body), request_id);
}

ScriptedResponse FakeS3::Handle(const RecordedRequest& request) {
  {
    absl::MutexLock lock(&mu_);
    if (!scripted_.empty()) {
      ScriptedResponse r = std::move(scripted_.front());
      scripted_.pop_front();
      return r;
    }
  }
  if (request.method != "PUT") {
    return Reject(405, "MethodNotAllowed",
                  "The specified method is not allowed against this resource.",
                  absl::StrCat("method ", request.method));
  }

  // Addressing.
  const absl::string_view target = request.target;
  const size_t question = target.find('?');
  const std::string path = PercentDecode(target.substr(0, question), false);
  const absl::string_view query = question == absl::string_view::npos
                                      ? absl::string_view()
                                      : target.substr(question + 1);
  const std::string host_header = absl::AsciiStrToLower(request.Header("host"));
  absl::string_view host = host_header;
  if (size_t colon = host.rfind(':'); colon != absl::string_view::npos)
    host = host.substr(0, colon);
  std::string bucket, key;
  bool virtual_hosted = false;
  for (const std::string& suffix :
       {absl::StrCat(".s3.", region_, ".amazonaws.com"),
        std::string(".s3.amazonaws.com")}) {
    if (absl::EndsWith(host, suffix) && host.size() > suffix.size()) {
      bucket = std::string(host.substr(0, host.size() - suffix.size()));
      key = std::string(absl::StripPrefix(path, "/"));
      virtual_hosted = true;
      break;
    }
  }
  if (!virtual_hosted) {
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(absl::StripPrefix(path, "/"), absl::MaxSplits('/', 1));
    bucket = std::string(parts.first);
    key = std::string(parts.second);
  }

  // Authentication.
  const std::string authorization = request.Header("authorization");
  if (authorization.empty()) {
    return Reject(403, "AccessDenied", "Access Denied",
                  "no Authorization header");
  }
  std::optional<Authorization> auth = ParseAuthorization(authorization);
  if (!auth) {
    return Reject(400, "AuthorizationHeaderMalformed",
                  "The authorization header is malformed.",
                  "not AWS4-HMAC-SHA256 Credential=, SignedHeaders=, "
                  "Signature=");
  }
  if (auth->region != region_) {
    return Reject(
        400, "AuthorizationHeaderMalformed",
        absl::StrCat("The authorization header is malformed; the region '",
                     auth->region, "' is wrong; expecting '", region_, "'"),
        absl::StrCat("region ", auth->region), {{"Region", region_}});
  }
  if (auth->service != "s3" || auth->terminator != "aws4_request") {
    return Reject(400, "AuthorizationHeaderMalformed",
                  "The authorization header is malformed; incorrect service "
                  "or terminal in the credential scope.",
                  absl::StrCat("scope service ", auth->service, " terminal ",
                               auth->terminator));
  }
  Credential credential;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = credentials_.find(auth->access_key_id);
        it != credentials_.end()) {
      credential = it->second;
    }
  }
  if (credential.secret.empty()) {
    return Reject(403, "InvalidAccessKeyId",
                  "The AWS Access Key Id you provided does not exist in our "
                  "records.",
                  absl::StrCat("unknown key ", auth->access_key_id),
                  {{"AWSAccessKeyId", auth->access_key_id}});
  }

  const std::string amz_date = request.Header("x-amz-date");
  const std::optional<absl::Time> signed_at = ParseAmzDate(amz_date);
  if (!signed_at) {
    return Reject(403, "AccessDenied",
                  "AWS authentication requires a valid Date or x-amz-date "
                  "header",
                  absl::StrCat("x-amz-date \"", amz_date, "\""));
  }
  const absl::Time now = clock_->Now();
  if (absl::AbsDuration(now - *signed_at) > kMaxSkew) {
    return Reject(403, "RequestTimeTooSkewed",
                  "The difference between the request time and the current "
                  "time is too large.",
                  absl::StrCat("signed at ", amz_date),
                  {{"RequestTime", amz_date},
                   {"ServerTime", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now,
                                                   absl::UTCTimeZone())},
                   {"MaxAllowedSkewMilliseconds", "900000"}});
  }
  if (auth->date != amz_date.substr(0, 8)) {
    return Reject(400, "AuthorizationHeaderMalformed",
                  "Invalid credential date. Date is not the same as "
                  "X-Amz-Date.",
                  absl::StrCat("scope date ", auth->date));
  }

  const std::set<std::string> signed_names(auth->signed_headers.begin(),
                                           auth->signed_headers.end());
  for (const auto& [name, value] : request.headers) {
    if ((absl::StartsWith(name, "x-amz-") || name == "host") &&
        !signed_names.contains(name)) {
      return Reject(403, "AccessDenied",
                    "There were headers present in the request which were "
                    "not signed",
                    absl::StrCat(name, " not signed"),
                    {{"HeadersNotSigned", name}});
    }
  }

  const std::string payload_hash = request.Header("x-amz-content-sha256");
  if (payload_hash.empty()) {
    return Reject(400, "InvalidRequest",
                  "Missing required header for this request: "
                  "x-amz-content-sha256",
                  "no x-amz-content-sha256");
  }
  const std::string body_hash = Digest(EVP_sha256(), request.body);
  if (payload_hash != "UNSIGNED-PAYLOAD" && payload_hash != body_hash) {
    return Reject(400, "XAmzContentSHA256Mismatch",
                  "The provided 'x-amz-content-sha256' header does not match "
                  "what was computed.",
                  "payload hash differs from the body's",
                  {{"ClientComputedContentSHA256", payload_hash},
                   {"S3ComputedContentSHA256", body_hash}});
  }

  std::string canonical_headers;
  for (const std::string& name : auth->signed_headers) {
    std::vector<std::string> values;
    for (const auto& [n, v] : request.headers) {
      if (n == name) values.push_back(CanonicalHeaderValue(v));
    }
    absl::StrAppend(&canonical_headers, name, ":", absl::StrJoin(values, ","),
                    "\n");
  }
  std::string canonical_uri = AwsEncode(path, true);
  if (canonical_uri.empty()) canonical_uri = "/";
  const std::string canonical_request = absl::StrCat(
      request.method, "\n", canonical_uri, "\n", CanonicalQuery(query), "\n",
      canonical_headers, "\n", absl::StrJoin(auth->signed_headers, ";"), "\n",
      payload_hash);
  const std::string scope =
      absl::StrCat(auth->date, "/", region_, "/s3/", "aws4_request");
  const std::string string_to_sign =
      absl::StrCat("AWS4-HMAC-SHA256\n", amz_date, "\n", scope, "\n",
                   Digest(EVP_sha256(), canonical_request));
  std::string signing_key =
      Hmac(absl::StrCat("AWS4", credential.secret), auth->date);
  signing_key = Hmac(signing_key, region_);
  signing_key = Hmac(signing_key, "s3");
  signing_key = Hmac(signing_key, "aws4_request");
  const std::string expected =
      absl::BytesToHexString(Hmac(signing_key, string_to_sign));
  if (expected != auth->signature) {
    return Reject(403, "SignatureDoesNotMatch",
                  "The request signature we calculated does not match the "
                  "signature you provided. Check your key and signing method.",
                  "signature differs",
                  {{"AWSAccessKeyId", auth->access_key_id},
                   {"StringToSign", string_to_sign},
                   {"SignatureProvided", auth->signature},
                   {"CanonicalRequest", canonical_request}});
  }
  if (request.Header("x-amz-security-token") != credential.session_token) {
    return Reject(403, "InvalidToken",
                  "The provided token is malformed or otherwise invalid.",
                  credential.session_token.empty()
                      ? "a session token for permanent credentials"
                      : "session token missing or wrong");
  }
  if (credential.denied) {
    return Reject(403, "AccessDenied", "Access Denied",
                  absl::StrCat(auth->access_key_id, " may not PutObject"));
  }
  bool bucket_exists;
  {
    absl::MutexLock lock(&mu_);
    bucket_exists = buckets_.contains(bucket);
  }
  if (!bucket_exists) {
    return Reject(404, "NoSuchBucket", "The specified bucket does not exist",
                  absl::StrCat("bucket ", bucket), {{"BucketName", bucket}});
  }
  if (key.empty()) {
    return Reject(400, "InvalidRequest", "A key is required for PutObject.",
                  "no key");
  }

  const std::string etag =
      absl::StrCat("\"", Digest(EVP_md5(), request.body), "\"");
  absl::MutexLock lock(&mu_);
  ++puts_;
  Object object{bucket, key, request.body, request.Header("content-type"),
                virtual_hosted};
  auto same = std::find_if(
      objects_.begin(), objects_.end(),
      [&](const Object& o) { return o.bucket == bucket && o.key == key; });
  if (same != objects_.end()) {
    *same = std::move(object);
  } else {
    objects_.push_back(std::move(object));
  }
  ScriptedResponse ok;
  ok.status = 200;
  ok.body = "";
  ok.headers = {{"ETag", etag},
                {"x-amz-request-id", absl::StrCat("FAKE", next_request_id_++)},
                {"Server", "AmazonS3"}};
  return ok;
}

}  // namespace corral::fakes
