#include "tests/fakes/fake_google_token.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <boost/json.hpp>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "core/json_util.h"

namespace corral::fakes {
namespace {

namespace json = boost::json;

constexpr char kJwtBearer[] = "urn:ietf:params:oauth:grant-type:jwt-bearer";
constexpr absl::Duration kIatTolerance = absl::Minutes(5);
constexpr int64_t kMaxAssertionSeconds = 3600;

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Free>;

std::string OpenSslError() {
  char buf[256] = {0};
  unsigned long e = ERR_get_error();
  if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()),
             static_cast<int>(raw.size()));
  return absl::BytesToHexString(raw);
}

absl::StatusOr<std::string> PrivateKeyToPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, Free> bio(BIO_new(BIO_s_mem()));
  // PKCS#8 ("BEGIN PRIVATE KEY"), unencrypted, like Google's key files.
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return absl::InternalError(
        absl::StrCat("fake token server: PEM encoding: ", OpenSslError()));
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// A copy of only the public half of `key`.
KeyPtr PublicHalf(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return nullptr;
  const unsigned char* p = der;
  KeyPtr pub(d2i_PUBKEY(nullptr, &p, len));
  OPENSSL_free(der);
  return pub;
}

ScriptedResponse JsonResponse(int status, std::string body) {
  ScriptedResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json; charset=utf-8"}};
  r.body = std::move(body);
  return r;
}

ScriptedResponse OAuthError(int status, absl::string_view error,
                            absl::string_view description) {
  return JsonResponse(status,
                      absl::StrCat(R"({"error":)", core::JsonQuote(error),
                                   R"(,"error_description":)",
                                   core::JsonQuote(description), "}"));
}

const json::string* StringMember(const json::object& obj, const char* key) {
  const json::value* v = obj.if_contains(key);
  return v != nullptr && v->is_string() ? &v->get_string() : nullptr;
}

bool IntMember(const json::object& obj, const char* key, int64_t* out) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr || !v->is_int64()) return false;
  *out = v->get_int64();
  return true;
}

std::vector<std::string> SplitScopes(absl::string_view s, char sep) {
  return absl::StrSplit(s, sep, absl::SkipEmpty());
}

}  // namespace

struct FakeGoogleTokenServer::Impl {
  core::Clock* clock;
  FakeHttpServer http;
  absl::Status init_status;
  KeyPtr key;         // the account's key pair: only key files are made from it
  KeyPtr public_key;  // what requests are verified with
  std::string key_pem;
  std::string key_id;

  mutable absl::Mutex mu;
  absl::Duration lifetime ABSL_GUARDED_BY(mu) = absl::Hours(1);
  absl::Duration delay ABSL_GUARDED_BY(mu) = absl::ZeroDuration();
  uint64_t counter ABSL_GUARDED_BY(mu) = 0;
  absl::flat_hash_map<std::string, absl::Time> issued ABSL_GUARDED_BY(mu);
  std::string last_token ABSL_GUARDED_BY(mu);
  size_t rejected ABSL_GUARDED_BY(mu) = 0;
  std::string last_rejection ABSL_GUARDED_BY(mu);
  std::vector<std::vector<std::string>> scopes ABSL_GUARDED_BY(mu);

  std::string TokenUri() const {
    return absl::StrCat("http://127.0.0.1:", http.port(), "/token");
  }

  absl::Duration Delay() const {
    absl::MutexLock lock(&mu);
    return delay;
  }

  ScriptedResponse Reject(int status, absl::string_view error,
                          absl::string_view description) {
    {
      absl::MutexLock lock(&mu);
      ++rejected;
      last_rejection = std::string(description);
    }
    ScriptedResponse r = OAuthError(status, error, description);
    r.delay = Delay();
    return r;
  }

  ScriptedResponse Issue(std::vector<std::string> requested_scopes) {
    absl::MutexLock lock(&mu);
    std::string token =
        absl::StrCat("ya29.fake-", ++counter, "-", RandomHex(12));
    const int64_t expires_in =
        std::max<int64_t>(1, absl::ToInt64Seconds(lifetime));
    issued[token] = clock->Now() + absl::Seconds(expires_in);
    last_token = token;
    scopes.push_back(std::move(requested_scopes));
    ScriptedResponse r = JsonResponse(
        200, absl::StrCat(R"({"access_token":)", core::JsonQuote(token),
                          R"(,"expires_in":)", expires_in,
                          R"(,"token_type":"Bearer"})"));
    r.delay = delay;
    return r;
  }

  ScriptedResponse Handle(const RecordedRequest& request) {
    absl::string_view target = request.target;
    absl::string_view path = target.substr(0, target.find('?'));
    absl::string_view query;
    if (path.size() < target.size()) query = target.substr(path.size() + 1);
    if (path == "/token") return HandleToken(request);
    if (path == kMetadataPath) return HandleMetadata(request, query);
    ScriptedResponse r = Reject(404, "not_found", "no such endpoint");
    return r;
  }

  ScriptedResponse HandleMetadata(const RecordedRequest& request,
                                  absl::string_view query) {
    if (request.method != "GET") {
      return Reject(405, "invalid_request", "metadata requests must be GETs");
    }
    if (request.Header("metadata-flavor") != "Google") {
      // The real server answers in plain text.
      {
        absl::MutexLock lock(&mu);
        ++rejected;
        last_rejection = "Missing required header: Metadata-Flavor";
      }
      ScriptedResponse r;
      r.status = 403;
      r.headers = {{"Content-Type", "text/html; charset=UTF-8"}};
      r.body = "Missing required header: Metadata-Flavor\n";
      r.delay = Delay();
      return r;
    }
    auto form = ParseForm(query);
    std::vector<std::string> scopes;
    if (auto it = form.find("scopes"); it != form.end()) {
      scopes = SplitScopes(it->second, ',');
    }
    return Issue(std::move(scopes));
  }

  ScriptedResponse HandleToken(const RecordedRequest& request) {
    if (request.method != "POST") {
      return Reject(405, "invalid_request", "token requests must be POSTs");
    }
    if (!absl::StartsWithIgnoreCase(request.Header("content-type"),
                                    "application/x-www-form-urlencoded")) {
      return Reject(400, "invalid_request",
                    "Content-Type must be application/x-www-form-urlencoded");
    }
    auto form = ParseForm(request.body);
    if (form["grant_type"] != kJwtBearer) {
      return Reject(400, "unsupported_grant_type",
                    absl::StrCat("Invalid grant_type: ", form["grant_type"]));
    }
    std::vector<absl::string_view> parts =
        absl::StrSplit(form["assertion"], '.');
    std::string header_text, claims_text, signature;
    if (parts.size() != 3 ||
        !absl::WebSafeBase64Unescape(parts[0], &header_text) ||
        !absl::WebSafeBase64Unescape(parts[1], &claims_text) ||
        !absl::WebSafeBase64Unescape(parts[2], &signature)) {
      return Reject(400, "invalid_grant", "Invalid JWT: not a JWS.");
    }
    std::error_code ec;
    json::value header = json::parse(header_text, ec);
    if (ec || !header.is_object()) {
      return Reject(400, "invalid_grant", "Invalid JWT: header is not JSON.");
    }
    json::value claims = json::parse(claims_text, ec);
    if (ec || !claims.is_object()) {
      return Reject(400, "invalid_grant", "Invalid JWT: claims are not JSON.");
    }
    const json::object& h = header.get_object();
    const json::object& c = claims.get_object();
    const json::string* alg = StringMember(h, "alg");
    if (alg == nullptr || *alg != "RS256") {
      return Reject(400, "invalid_grant", "Invalid JWT: alg must be RS256.");
    }
    const json::string* kid = StringMember(h, "kid");
    if (kid == nullptr || *kid != key_id) {
      return Reject(400, "invalid_grant", "Invalid JWT Signature.");
    }

    // Signed input: the first two parts as sent.
    const size_t signed_len = parts[0].size() + 1 + parts[1].size();
    std::unique_ptr<EVP_MD_CTX, Free> ctx(EVP_MD_CTX_new());
    const bool verified =
        ctx != nullptr &&
        EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                             public_key.get()) == 1 &&
        EVP_DigestVerify(
            ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
            signature.size(),
            reinterpret_cast<const unsigned char*>(parts[0].data()),
            signed_len) == 1;
    ERR_clear_error();
    if (!verified) {
      return Reject(400, "invalid_grant", "Invalid JWT Signature.");
    }

    const json::string* iss = StringMember(c, "iss");
    if (iss == nullptr || *iss != kClientEmail) {
      return Reject(400, "invalid_grant", "Invalid grant: account not found");
    }
    const json::string* aud = StringMember(c, "aud");
    if (aud == nullptr || *aud != TokenUri()) {
      return Reject(400, "invalid_grant",
                    "Invalid JWT: aud must be the token_uri.");
    }
    int64_t iat = 0, exp = 0;
    const absl::Time now = clock->Now();
    if (!IntMember(c, "iat", &iat) || !IntMember(c, "exp", &exp) ||
        absl::AbsDuration(absl::FromUnixSeconds(iat) - now) > kIatTolerance ||
        exp <= iat || exp - iat > kMaxAssertionSeconds) {
      return Reject(400, "invalid_grant",
                    "Invalid JWT: Token must be a short-lived token (60 "
                    "minutes) and in a reasonable timeframe. Check your iat "
                    "and exp values in the JWT claim.");
    }
    const json::string* scope = StringMember(c, "scope");
    std::vector<std::string> scopes;
    if (scope != nullptr) {
      scopes =
          SplitScopes(absl::string_view(scope->data(), scope->size()), ' ');
    }
    if (scopes.empty()) {
      return Reject(400, "invalid_scope",
                    "Invalid OAuth scope or ID token audience provided.");
    }
    return Issue(std::move(scopes));
  }

  absl::Status WriteKeyFile(const std::string& path,
                            absl::string_view pem) const {
    std::string text = "{\n";
    auto field = [&](absl::string_view name, absl::string_view value,
                     bool last = false) {
      absl::StrAppend(&text, "  ", core::JsonQuote(name), ": ",
                      core::JsonQuote(value), last ? "\n" : ",\n");
    };
    field("type", "service_account");
    field("project_id", kProjectId);
    field("private_key_id", key_id);
    field("private_key", pem);
    field("client_email", kClientEmail);
    field("client_id", "104729538261094720384");
    field("auth_uri", "https://accounts.google.com/o/oauth2/auth");
    field("token_uri", TokenUri());
    field("auth_provider_x509_cert_url",
          "https://www.googleapis.com/oauth2/v1/certs");
    field("client_x509_cert_url",
          absl::StrCat("https://www.googleapis.com/robot/v1/metadata/x509/",
                       "corral-test%40test-project.iam.gserviceaccount.com"));
    field("universe_domain", "googleapis.com", /*last=*/true);
    text.append("}\n");
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
      return absl::InternalError(absl::StrCat("cannot write ", path));
    }
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0 || !ok) {
      return absl::InternalError(absl::StrCat("cannot write ", path));
    }
    return absl::OkStatus();
  }
};

FakeGoogleTokenServer::FakeGoogleTokenServer(core::Clock* clock)
    : impl_(std::make_unique<Impl>()) {
  impl_->clock = clock != nullptr ? clock : core::Clock::Real();
  impl_->key_id = RandomHex(20);
  impl_->key.reset(EVP_RSA_gen(2048));
  if (impl_->key == nullptr) {
    impl_->init_status = absl::InternalError(absl::StrCat(
        "fake token server: RSA key generation: ", OpenSslError()));
    return;
  }
  impl_->public_key = PublicHalf(impl_->key.get());
  absl::StatusOr<std::string> pem = PrivateKeyToPem(impl_->key.get());
  if (impl_->public_key == nullptr || !pem.ok()) {
    impl_->init_status =
        pem.ok() ? absl::InternalError(absl::StrCat(
                       "fake token server: public key: ", OpenSslError()))
                 : pem.status();
    return;
  }
  impl_->key_pem = *std::move(pem);
  impl_->http.SetHandler([impl = impl_.get()](const RecordedRequest& r) {
    return impl->Handle(r);
  });
}

FakeGoogleTokenServer::~FakeGoogleTokenServer() { impl_->http.Stop(); }

absl::Status FakeGoogleTokenServer::Start() {
  if (!impl_->init_status.ok()) return impl_->init_status;
  return impl_->http.Start();
}

int FakeGoogleTokenServer::port() const { return impl_->http.port(); }

std::string FakeGoogleTokenServer::TokenUri() const {
  return impl_->TokenUri();
}

std::string FakeGoogleTokenServer::MetadataHost() const {
  return absl::StrCat("127.0.0.1:", port());
}

std::string FakeGoogleTokenServer::private_key_id() const {
  return impl_->key_id;
}

absl::Status FakeGoogleTokenServer::WriteServiceAccountKey(
    const std::string& path) const {
  if (!impl_->init_status.ok()) return impl_->init_status;
  return impl_->WriteKeyFile(path, impl_->key_pem);
}

absl::Status FakeGoogleTokenServer::WriteServiceAccountKeyWithWrongKey(
    const std::string& path) const {
  KeyPtr other(EVP_RSA_gen(2048));
  if (other == nullptr) {
    return absl::InternalError(absl::StrCat(
        "fake token server: RSA key generation: ", OpenSslError()));
  }
  absl::StatusOr<std::string> pem = PrivateKeyToPem(other.get());
  if (!pem.ok()) return pem.status();
  return impl_->WriteKeyFile(path, *pem);
}

std::string FakeGoogleTokenServer::PrivateKeyPem() const {
  return impl_->key_pem;
}

void FakeGoogleTokenServer::SetTokenLifetime(absl::Duration lifetime) {
  absl::MutexLock lock(&impl_->mu);
  impl_->lifetime = lifetime;
}

void FakeGoogleTokenServer::SetResponseDelay(absl::Duration delay) {
  absl::MutexLock lock(&impl_->mu);
  impl_->delay = delay;
}

void FakeGoogleTokenServer::FailNext(size_t n, int status) {
  absl::string_view error = status == 429   ? "rate_limit_exceeded"
                            : status >= 500 ? "internal_failure"
                                            : "invalid_request";
  ScriptedResponse r = OAuthError(
      status, error, absl::StrCat("scripted failure (HTTP ", status, ")"));
  r.delay = impl_->Delay();
  impl_->http.Script(std::vector<ScriptedResponse>(n, r));
}

bool FakeGoogleTokenServer::IsValidToken(absl::string_view bearer) const {
  absl::string_view token = bearer;
  if (absl::StartsWithIgnoreCase(token, "Bearer ")) token.remove_prefix(7);
  absl::MutexLock lock(&impl_->mu);
  auto it = impl_->issued.find(token);
  return it != impl_->issued.end() && impl_->clock->Now() < it->second;
}

void FakeGoogleTokenServer::RevokeAll() {
  absl::MutexLock lock(&impl_->mu);
  for (auto& [token, expiry] : impl_->issued) expiry = absl::InfinitePast();
}

std::string FakeGoogleTokenServer::LastToken() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->last_token;
}

size_t FakeGoogleTokenServer::TokensIssued() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->issued.size();
}

size_t FakeGoogleTokenServer::Rejected() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->rejected;
}

std::string FakeGoogleTokenServer::LastRejection() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->last_rejection;
}

std::vector<std::vector<std::string>> FakeGoogleTokenServer::ScopeRequests()
    const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->scopes;
}

FakeHttpServer& FakeGoogleTokenServer::http() { return impl_->http; }

}  // namespace corral::fakes
