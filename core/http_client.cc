#include "core/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/log.h"

namespace corral::core {
namespace {

constexpr size_t kMaxResponseBody = 64 << 10;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// A header token (RFC 9110): the method must be one, so it cannot smuggle
// spaces or CRLF.
bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool HasLineBreak(absl::string_view s) {
  return s.find_first_of("\r\n") != absl::string_view::npos;
}

// The part of a URL after scheme://authority, the part that may hold secrets.
absl::string_view PathAndQuery(absl::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == absl::string_view::npos) return url;
  size_t rest = url.find_first_of("/?#", scheme + 3);
  if (rest == absl::string_view::npos) return {};
  return url.substr(rest);
}

absl::StatusCode CodeFor(CURLcode code, absl::string_view detail) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
      return absl::StatusCode::kInvalidArgument;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
      return absl::StatusCode::kFailedPrecondition;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      // With TLS 1.3 a server that refuses our client certificate says so with
      // an alert after the client considers the handshake done: it surfaces on
      // the first read.
      if (absl::StrContains(detail, "SSL") &&
          absl::StrContains(detail, "alert")) {
        return absl::StatusCode::kFailedPrecondition;
      }
      return absl::StatusCode::kUnavailable;
    case CURLE_OUT_OF_MEMORY:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kUnavailable;
  }
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  size_t len = size * n;
  if (response->body.size() < kMaxResponseBody) {
    response->body.append(
        data, std::min(len, kMaxResponseBody - response->body.size()));
  }
  return len;  // the rest is read and dropped, so the connection stays reusable
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* response = static_cast<HttpResponse*>(user);
  size_t len = size * n;
  absl::string_view line(data, len);
  // Each status line starts a new response (100 Continue, a redirect, a proxy's
  // CONNECT reply): keep only the headers of the last one.
  if (absl::StartsWith(line, "HTTP/")) {
    response->headers.clear();
    return len;
  }
  size_t colon = line.find(':');
  if (colon == absl::string_view::npos || colon == 0) return len;
  std::string name = absl::AsciiStrToLower(line.substr(0, colon));
  absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
  response->headers.emplace_back(std::move(name), std::string(value));
  return len;
}

int64_t Millis(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1)));
  return std::max<int64_t>(ms, 1);  // 0 would mean "no timeout" to curl
}

}  // namespace

std::string FindHeader(const HttpHeaders& headers, absl::string_view name) {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

std::string PercentEncode(absl::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '.' || c == '_' ||
        c == '~' || (keep_slash && c == '/')) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

std::string HttpResponse::Header(absl::string_view name) const {
  return FindHeader(headers, name);
}

struct HttpClient::Impl {
  HttpClientTls tls;
  std::string user_agent;
  CURL* curl = nullptr;
};

HttpClient::HttpClient(HttpClientTls tls, std::string user_agent)
    : impl_(std::make_unique<Impl>()) {
  GlobalInit();
  impl_->tls = std::move(tls);
  impl_->user_agent = std::move(user_agent);
  impl_->curl = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (impl_->curl != nullptr) curl_easy_cleanup(impl_->curl);
}

absl::StatusOr<HttpResponse> HttpClient::Send(const HttpRequest& request) {
  const std::string where =
      absl::StrCat(request.method, " ", RedactUrl(request.url));
  if (impl_->curl == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat(where, ": could not create a curl handle"));
  }
  if (!IsToken(request.method)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid HTTP method for ", RedactUrl(request.url)));
  }
  if (request.timeout <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError(
        absl::StrCat(where, ": no time left to send the request"));
  }
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name) || HasLineBreak(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": invalid header \"", name, "\""));
    }
  }

  CURL* curl = impl_->curl;
  // Reset keeps live connections, so the next request to the same host reuses
  // them.
  curl_easy_reset(curl);

  HttpResponse response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(Millis(request.timeout)));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(Millis(
                       std::min(request.connect_timeout, request.timeout))));
  if (!impl_->user_agent.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERAGENT, impl_->user_agent.c_str());
  }

  const HttpClientTls& tls = impl_->tls;
  if (!tls.ca_file.empty())
    curl_easy_setopt(curl, CURLOPT_CAINFO, tls.ca_file.c_str());
  if (!tls.cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, tls.cert_file.c_str());
  }
  if (!tls.key_file.empty())
    curl_easy_setopt(curl, CURLOPT_SSLKEY, tls.key_file.c_str());
  if (tls.insecure_skip_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    // POST semantics (send the body) with the method the caller asked for.
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    if (request.method != "POST") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
  }

  curl_slist* headers = nullptr;
  bool has_content_type = false;
  for (const auto& [name, value] : request.headers) {
    if (absl::EqualsIgnoreCase(name, "content-type")) has_content_type = true;
    // "Name;" is curl's way to send a header with an empty value.
    std::string line = value.empty() ? absl::StrCat(name, ";")
                                     : absl::StrCat(name, ": ", value);
    headers = curl_slist_append(headers, line.c_str());
  }
  // No 100-continue round trip, and no made-up form Content-Type.
  headers = curl_slist_append(headers, "Expect:");
  if (!has_content_type) headers = curl_slist_append(headers, "Content-Type:");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);

  CURLcode code = curl_easy_perform(curl);
  // Nothing may keep pointing at this stack frame or the request once we
  // return.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(headers);

  if (code != CURLE_OK) {
    std::string detail = error[0] != '\0'
                             ? std::string(error)
                             : std::string(curl_easy_strerror(code));
    absl::StripTrailingAsciiWhitespace(&detail);
    // curl's messages name hosts and ports, not paths; make sure of it.
    absl::string_view secret = PathAndQuery(request.url);
    if (secret.size() > 1) {
      detail = absl::StrReplaceAll(detail, {{secret, "/***"}});
    }
    return absl::Status(CodeFor(code, detail),
                        absl::StrCat(where, ": ", detail));
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  return response;
}

HttpClientPool::HttpClientPool(HttpClientTls tls, std::string user_agent)
    : tls_(std::move(tls)), user_agent_(std::move(user_agent)) {}

HttpClientPool::~HttpClientPool() = default;

HttpClientPool::Lease HttpClientPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      std::unique_ptr<HttpClient> client = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(client));
    }
  }
  return Lease(this, std::make_unique<HttpClient>(tls_, user_agent_));
}

HttpClientPool::Lease::~Lease() {
  if (pool_ == nullptr || client_ == nullptr) return;
  absl::MutexLock lock(&pool_->mu_);
  pool_->idle_.push_back(std::move(client_));
}

}  // namespace corral::core
