#include "core/google_auth.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "core/file_util.h"
#include "core/json_util.h"
#include "core/log.h"

namespace corral::core {
namespace {

namespace json = boost::json;

// Refresh this long before expiry (at most half the lifetime), so a token
// handed out is good for a while and a failed refresh can be retried while the
// cached token still works.
constexpr absl::Duration kRefreshMargin = absl::Minutes(5);
// Google caps assertion lifetimes at one hour.
constexpr int64_t kAssertionLifetimeSeconds = 3600;
constexpr char kJwtBearerGrant[] =
    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
constexpr char kMetadataTokenPath[] =
    "/computeMetadata/v1/instance/service-accounts/default/token";
// Error texts from endpoints are quoted into Statuses; bound them.
constexpr size_t kMaxQuotedError = 300;

struct FreeOpenSsl {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, FreeOpenSsl>;

// The oldest queued OpenSSL error, and an empty queue afterwards, so that a
// stale error cannot confuse the next OpenSSL user on this thread (curl, gRPC).
std::string TakeOpenSslError() {
  char buf[256] = {0};
  unsigned long e = ERR_get_error();
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return e != 0 ? std::string(buf) : std::string("unknown error");
}

// Never prompt on a terminal for the passphrase of an encrypted key.
int NoPassphrase(char*, int, int, void*) { return -1; }

json::string_view JsonKey(absl::string_view s) {
  return json::string_view(s.data(), s.size());
}

absl::string_view View(const json::string& s) {
  return absl::string_view(s.data(), s.size());
}

// "host[:port]" of a URL, without any user info: what messages may name.
absl::string_view UrlAuthority(absl::string_view url) {
  size_t start = url.find("://");
  start = start == absl::string_view::npos ? 0 : start + 3;
  absl::string_view rest = url.substr(start);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  size_t at = rest.rfind('@');
  if (at != absl::string_view::npos) rest = rest.substr(at + 1);
  return rest;
}

// The host of an authority, without port or IPv6 brackets.
absl::string_view AuthorityHost(absl::string_view authority) {
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    return close == absl::string_view::npos ? authority
                                            : authority.substr(1, close - 1);
  }
  return authority.substr(0, authority.find(':'));
}

bool IsLoopback(absl::string_view host) {
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

// Printable ASCII only, bounded: for text quoted from a remote endpoint.
std::string Sanitize(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= kMaxQuotedError) {
      out.append("...");
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7F ? c : ' ');
  }
  return std::string(absl::StripAsciiWhitespace(out));
}

struct FetchedToken {
  std::string token;
  absl::Duration lifetime;
};

// How a token endpoint is described in messages, and whether its non-JSON
// error bodies may be quoted. They may not for the token_uri, whose requests
// carry the signed assertion that a misbehaving server might echo.
struct Endpoint {
  std::string what;  // "token endpoint oauth2.googleapis.com for service ..."
  bool quote_text_errors = false;
};

// "error: error_description" from an OAuth error body, or (when allowed) the
// first line of a plain-text body; "" if neither.
std::string DescribeErrorBody(const HttpResponse& response,
                              const Endpoint& endpoint) {
  std::error_code ec;
  json::value doc = json::parse(JsonKey(response.body), ec);
  if (!ec && doc.is_object()) {
    const json::object& obj = doc.get_object();
    std::string error, description;
    if (const json::value* v = obj.if_contains("error")) {
      if (v->is_string()) {
        error = Sanitize(View(v->get_string()));
      } else if (v->is_object()) {
        // Google APIs' error shape: {"error":{"code":..,"message":..}}.
        if (const json::value* m = v->get_object().if_contains("message");
            m != nullptr && m->is_string()) {
          error = Sanitize(View(m->get_string()));
        }
      }
    }
    if (const json::value* v = obj.if_contains("error_description");
        v != nullptr && v->is_string()) {
      description = Sanitize(View(v->get_string()));
    }
    if (!error.empty() && !description.empty()) {
      return absl::StrCat(error, ": ", description);
    }
    return error.empty() ? description : error;
  }
  if (endpoint.quote_text_errors) {
    absl::string_view body = response.body;
    return Sanitize(body.substr(0, body.find('\n')));
  }
  return "";
}

absl::StatusOr<FetchedToken> ParseTokenResponse(const HttpResponse& response,
                                                const Endpoint& endpoint) {
  if (response.status < 200 || response.status > 299) {
    std::string detail = DescribeErrorBody(response, endpoint);
    std::string message =
        absl::StrCat(endpoint.what, " answered HTTP ", response.status,
                     detail.empty() ? "" : ": ", detail);
    if (response.status == 408 || response.status == 429 ||
        response.status >= 500 || response.status < 400) {
      return absl::UnavailableError(message);
    }
    return absl::PermissionDeniedError(message);
  }
  // From here on the body may hold a token: never quote it.
  auto malformed = [&](absl::string_view why) {
    return absl::UnavailableError(absl::StrCat(endpoint.what, " answered HTTP ",
                                               response.status, " ", why));
  };
  std::error_code ec;
  json::value doc = json::parse(JsonKey(response.body), ec);
  if (ec || !doc.is_object()) {
    return malformed("with a body that is not a JSON object");
  }
  const json::object& obj = doc.get_object();
  const json::value* token = obj.if_contains("access_token");
  if (token == nullptr || !token->is_string() || token->get_string().empty()) {
    return malformed("without an \"access_token\" string");
  }
  for (char c : token->get_string()) {
    const auto u = static_cast<unsigned char>(c);
    // It goes into an Authorization header or gRPC metadata.
    if (u <= 0x20 || u >= 0x7F) {
      return malformed("with an \"access_token\" that is not printable ASCII");
    }
  }
  if (const json::value* type = obj.if_contains("token_type");
      type != nullptr &&
      !(type->is_string() &&
        absl::EqualsIgnoreCase(View(type->get_string()), "Bearer"))) {
    return malformed("with a \"token_type\" other than \"Bearer\"");
  }
  const json::value* expires_in = obj.if_contains("expires_in");
  int64_t seconds = 0;
  if (expires_in != nullptr && expires_in->is_int64()) {
    seconds = expires_in->get_int64();
  } else if (expires_in != nullptr && expires_in->is_uint64()) {
    seconds = static_cast<int64_t>(
        std::min<uint64_t>(expires_in->get_uint64(), INT64_MAX));
  } else if (expires_in != nullptr && expires_in->is_double() &&
             expires_in->get_double() >= 1 && expires_in->get_double() < 1e15) {
    seconds = static_cast<int64_t>(expires_in->get_double());
  }
  if (seconds <= 0) {
    return malformed("without a positive \"expires_in\" number");
  }
  return FetchedToken{std::string(View(token->get_string())),
                      absl::Seconds(seconds)};
}

// Sends a token request; transport failures of any kind become Unavailable
// (callers retry), naming the endpoint.
absl::StatusOr<FetchedToken> Exchange(HttpClient& http,
                                      const HttpRequest& request,
                                      const Endpoint& endpoint) {
  absl::StatusOr<HttpResponse> response = http.Send(request);
  if (!response.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot reach ", endpoint.what, ": ", response.status().message()));
  }
  return ParseTokenResponse(*response, endpoint);
}

// Cache and single flight; subclasses only fetch.
class CachingTokenSource : public GoogleTokenSource {
 public:
  explicit CachingTokenSource(const GoogleAuthOptions& options)
      : clock_(options.clock != nullptr ? options.clock : Clock::Real()),
        request_timeout_(options.request_timeout),
        http_(options.tls, options.user_agent) {}

  absl::StatusOr<std::string> Token() final {
    uint64_t seen;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = clock_->Now();
      if (!token_.empty() && now < refresh_at_) return token_;
      // Another caller is refreshing and the cached token still works: no
      // need to wait for the refresh.
      if (fetching_ && !token_.empty() && now < expires_at_) return token_;
      seen = fetches_;
    }
    absl::MutexLock fetch_lock(&fetch_mu_);
    {
      absl::MutexLock lock(&mu_);
      if (fetches_ != seen) {
        // A fetch finished while we waited for our turn: share its outcome
        // rather than asking again at once.
        if (!token_.empty() && clock_->Now() < expires_at_) return token_;
        if (!last_error_.ok()) return last_error_;
      }
      fetching_ = true;
    }
    const absl::Time start = clock_->Now();
    absl::StatusOr<FetchedToken> fetched = Fetch(http_, start);

    absl::MutexLock lock(&mu_);
    fetching_ = false;
    ++fetches_;
    if (!fetched.ok()) {
      last_error_ = fetched.status();
      if (!token_.empty() && clock_->Now() < expires_at_) {
        LogWarn("cannot refresh Google access token; using the cached one",
                {{"credentials", Describe()},
                 {"valid_until", absl::FormatTime(expires_at_)},
                 {"error", last_error_.message()}});
        return token_;
      }
      return last_error_;
    }
    last_error_ = absl::OkStatus();
    token_ = std::move(fetched->token);
    // Counted from before the request, so network delay only makes us
    // refresh early.
    expires_at_ = start + fetched->lifetime;
    refresh_at_ = expires_at_ - std::min(kRefreshMargin, fetched->lifetime / 2);
    LogDebug("fetched Google access token",
             {{"credentials", Describe()},
              {"expires_in", absl::FormatDuration(fetched->lifetime)}});
    return token_;
  }

  void Invalidate(absl::string_view token) final {
    absl::MutexLock lock(&mu_);
    if (token.empty() || token != token_) return;
    token_.clear();
    expires_at_ = refresh_at_ = absl::InfinitePast();
    LogInfo("Google access token refused; fetching a new one",
            {{"credentials", Describe()}});
  }

 protected:
  // Fetches a new token. Calls are serialised (fetch_mu_), so this may use
  // `http`.
  virtual absl::StatusOr<FetchedToken> Fetch(HttpClient& http,
                                             absl::Time now) = 0;

  Clock* const clock_;
  const absl::Duration request_timeout_;

 private:
  absl::Mutex fetch_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  HttpClient http_ ABSL_GUARDED_BY(fetch_mu_);

  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time expires_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time refresh_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool fetching_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t fetches_ ABSL_GUARDED_BY(mu_) = 0;  // completed, ok or not
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
};

// A service-account key: signs a JWT assertion and exchanges it at token_uri
// (RFC 7523).
class ServiceAccountTokenSource : public CachingTokenSource {
 public:
  ServiceAccountTokenSource(const GoogleAuthOptions& options,
                            std::string client_email, std::string key_id,
                            std::string token_uri, KeyPtr key)
      : CachingTokenSource(options),
        client_email_(std::move(client_email)),
        key_id_(std::move(key_id)),
        token_uri_(std::move(token_uri)),
        scope_(absl::StrJoin(options.scopes, " ")),
        key_(std::move(key)) {
    // Key ids are not secret, but a prefix is enough to tell keys apart.
    absl::string_view id = key_id_;
    description_ = absl::StrCat("service account ", client_email_, " (key ",
                                id.substr(0, 8), id.size() > 8 ? "…" : "", ")");
    endpoint_.what = absl::StrCat("token endpoint ", UrlAuthority(token_uri_),
                                  " for ", description_);
  }

  std::string Describe() const override { return description_; }

 protected:
  absl::StatusOr<FetchedToken> Fetch(HttpClient& http,
                                     absl::Time now) override {
    absl::StatusOr<std::string> assertion = SignedAssertion(now);
    if (!assertion.ok()) return assertion.status();
    HttpRequest request;
    request.method = "POST";
    request.url = token_uri_;
    request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                       {"Accept", "application/json"}};
    // The JWT is base64url and dots: nothing in it needs form-encoding.
    request.body =
        absl::StrCat("grant_type=", kJwtBearerGrant, "&assertion=", *assertion);
    request.timeout = request_timeout_;
    return Exchange(http, request, endpoint_);
  }

 private:
  absl::StatusOr<std::string> SignedAssertion(absl::Time now) const {
    const int64_t iat = absl::ToUnixSeconds(now);
    std::string header = R"({"alg":"RS256","typ":"JWT","kid":)";
    AppendJsonString(&header, key_id_);
    header.push_back('}');
    std::string claims = R"({"iss":)";
    AppendJsonString(&claims, client_email_);
    claims.append(R"(,"scope":)");
    AppendJsonString(&claims, scope_);
    claims.append(R"(,"aud":)");
    AppendJsonString(&claims, token_uri_);
    absl::StrAppend(&claims, R"(,"iat":)", iat, R"(,"exp":)",
                    iat + kAssertionLifetimeSeconds, "}");
    std::string signing_input =
        absl::StrCat(absl::WebSafeBase64Escape(header), ".",
                     absl::WebSafeBase64Escape(claims));

    // RS256: RSASSA-PKCS1-v1_5 (the RSA default padding) over SHA-256. One
    // EVP_DigestSign call into a buffer of the key's size: asking it for the
    // length first would hash the input twice on OpenSSL 3.0.
    std::unique_ptr<EVP_MD_CTX, FreeOpenSsl> ctx(EVP_MD_CTX_new());
    const auto* data =
        reinterpret_cast<const unsigned char*>(signing_input.data());
    std::string signature(static_cast<size_t>(EVP_PKEY_get_size(key_.get())),
                          '\0');
    size_t length = signature.size();
    if (ctx == nullptr ||
        EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                           key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(),
                       reinterpret_cast<unsigned char*>(signature.data()),
                       &length, data, signing_input.size()) != 1) {
      return absl::InternalError(
          absl::StrCat("cannot sign a token request for ", description_, ": ",
                       TakeOpenSslError()));
    }
    signature.resize(length);
    absl::StrAppend(&signing_input, ".", absl::WebSafeBase64Escape(signature));
    return signing_input;
  }

  const std::string client_email_;
  const std::string key_id_;
  const std::string token_uri_;
  const std::string scope_;
  const KeyPtr key_;  // read-only after construction; signing is serialised
  std::string description_;
  Endpoint endpoint_;
};

// The metadata server of GCE, GKE (workload identity) and Cloud Run.
class MetadataTokenSource : public CachingTokenSource {
 public:
  MetadataTokenSource(const GoogleAuthOptions& options, std::string host)
      : CachingTokenSource(options),
        description_(absl::StrCat("metadata server ", host)) {
    url_ = absl::StrCat("http://", host, kMetadataTokenPath);
    if (!options.scopes.empty()) {
      absl::StrAppend(
          &url_, "?scopes=", PercentEncode(absl::StrJoin(options.scopes, ",")));
    }
    endpoint_.what = description_;
    // Its requests carry no secret, and its errors are plain text
    // ("Missing required header: Metadata-Flavor"): worth quoting.
    endpoint_.quote_text_errors = true;
  }

  std::string Describe() const override { return description_; }

 protected:
  absl::StatusOr<FetchedToken> Fetch(HttpClient& http, absl::Time) override {
    HttpRequest request;
    request.method = "GET";
    request.url = url_;
    request.headers = {{"Metadata-Flavor", "Google"}};
    request.timeout = request_timeout_;
    return Exchange(http, request, endpoint_);
  }

 private:
  const std::string description_;
  std::string url_;
  Endpoint endpoint_;
};

// Reads a required, non-empty string member of the key file.
absl::StatusOr<std::string> RequiredString(const json::object& obj,
                                           absl::string_view key,
                                           absl::string_view file) {
  const json::value* v = obj.if_contains(JsonKey(key));
  if (v == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("service account key ", file, ": missing \"", key, "\""));
  }
  if (!v->is_string() || v->get_string().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("service account key ", file, ": \"", key,
                     "\" must be a non-empty string"));
  }
  return std::string(View(v->get_string()));
}

absl::StatusOr<std::unique_ptr<GoogleTokenSource>> MakeServiceAccountSource(
    const GoogleAuthOptions& options) {
  const std::string& file = options.credentials_file;
  absl::StatusOr<std::string> text = ReadFileToString(file);
  if (!text.ok()) return text.status();
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("service account key ", file, ": ", why));
  };

  std::error_code ec;
  json::value doc = json::parse(JsonKey(*text), ec);
  // Parse errors name no content: the file holds a private key.
  if (ec) return invalid(absl::StrCat("not valid JSON (", ec.message(), ")"));
  if (!doc.is_object()) return invalid("not a JSON object");
  const json::object& obj = doc.get_object();

  absl::StatusOr<std::string> type = RequiredString(obj, "type", file);
  if (!type.ok()) return type.status();
  if (*type != "service_account") {
    return invalid(absl::StrCat(
        "\"type\" is \"", Sanitize(*type),
        "\"; only \"service_account\" keys are supported (leave the "
        "credentials file unset to use the metadata server)"));
  }
  absl::StatusOr<std::string> client_email =
      RequiredString(obj, "client_email", file);
  if (!client_email.ok()) return client_email.status();
  absl::StatusOr<std::string> key_id =
      RequiredString(obj, "private_key_id", file);
  if (!key_id.ok()) return key_id.status();
  absl::StatusOr<std::string> token_uri =
      RequiredString(obj, "token_uri", file);
  if (!token_uri.ok()) return token_uri.status();
  absl::StatusOr<std::string> pem = RequiredString(obj, "private_key", file);
  if (!pem.ok()) return pem.status();

  // The assertion is as good as the key for an hour: only send it over TLS,
  // or to this machine (local fakes and proxies).
  const bool https = absl::StartsWithIgnoreCase(*token_uri, "https://");
  const bool http = absl::StartsWithIgnoreCase(*token_uri, "http://");
  if (!(https || http) || UrlAuthority(*token_uri).empty()) {
    return invalid("\"token_uri\" must be an https:// URL");
  }
  if (http && !IsLoopback(AuthorityHost(UrlAuthority(*token_uri)))) {
    return invalid(
        "\"token_uri\" must be an https:// URL (http:// only to this "
        "machine)");
  }
  if (options.scopes.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "service account key ", file, ": no OAuth scopes requested"));
  }

  if (absl::StrContains(*pem, "ENCRYPTED PRIVATE KEY")) {
    return invalid(
        "\"private_key\" is encrypted; use the key file as Google issues it");
  }
  std::unique_ptr<BIO, FreeOpenSsl> bio(
      BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  KeyPtr key(bio == nullptr ? nullptr
                            : PEM_read_bio_PrivateKey(bio.get(), nullptr,
                                                      NoPassphrase, nullptr));
  if (key == nullptr) {
    // OpenSSL's reason names the failing decoder, never key bytes.
    return invalid(absl::StrCat("\"private_key\" is not a PEM private key (",
                                TakeOpenSslError(), ")"));
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    return invalid("\"private_key\" is not an RSA key (RS256 needs one)");
  }
  return std::make_unique<ServiceAccountTokenSource>(
      options, *std::move(client_email), *std::move(key_id),
      *std::move(token_uri), std::move(key));
}

absl::StatusOr<std::unique_ptr<GoogleTokenSource>> MakeMetadataSource(
    const GoogleAuthOptions& options) {
  std::string host = options.metadata_host;
  absl::string_view origin = "metadata host";
  if (host.empty()) {
    const char* env = std::getenv("GCE_METADATA_HOST");
    if (env != nullptr && env[0] != '\0') {
      host = env;
      origin = "GCE_METADATA_HOST";
    } else {
      host = "metadata.google.internal";
    }
  }
  // It becomes the authority of a URL: a host, optionally with a port.
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (!(absl::ascii_isalnum(u) || c == '.' || c == '-' || c == ':' ||
          c == '[' || c == ']' || c == '_')) {
      return absl::InvalidArgumentError(
          absl::StrCat(origin, " \"", Sanitize(host),
                       "\" must be HOST or HOST:PORT (no scheme or path)"));
    }
  }
  return std::make_unique<MetadataTokenSource>(options, std::move(host));
}

}  // namespace

absl::StatusOr<std::unique_ptr<GoogleTokenSource>> MakeGoogleTokenSource(
    const GoogleAuthOptions& options) {
  if (!options.credentials_file.empty()) {
    return MakeServiceAccountSource(options);
  }
  return MakeMetadataSource(options);
}

}  // namespace corral::core
