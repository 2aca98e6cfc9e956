#include "core/google_auth.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "core/file_util.h"
#include "core/google_grpc_credentials.h"
#include "core/http_client.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_google_token.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/fakes/test_certs.h"

namespace corral::core {
namespace {

namespace json = boost::json;
using fakes::FakeGoogleTokenServer;
using fakes::RecordedRequest;
using fakes::ScriptedResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr absl::Duration kWait = absl::Seconds(10);
constexpr char kPubSubScope[] = "https://www.googleapis.com/auth/pubsub";
constexpr char kCloudScope[] = "https://www.googleapis.com/auth/cloud-platform";

using fakes::FakeClock;

std::string MakeTempDir() {
  std::string tmpl = ::testing::TempDir() + "/corral_gauth_XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

absl::Status WriteFile(const std::string& path, absl::string_view text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::InternalError("cannot write " + path);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return absl::OkStatus();
}

json::object DecodeJwtPart(absl::string_view part) {
  std::string text;
  EXPECT_TRUE(absl::WebSafeBase64Unescape(part, &text));
  EXPECT_THAT(std::string(part), Not(HasSubstr("=")));  // no padding
  json::value v = json::parse(text);
  return v.as_object();
}

std::string Str(const json::object& obj, const char* key) {
  const json::value* v = obj.if_contains(key);
  if (v == nullptr || !v->is_string()) return "<not a string>";
  return std::string(v->get_string().data(), v->get_string().size());
}

// Fixture: a fake token endpoint and a service-account key for it, on a
// clock the test moves.
class GoogleAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_TRUE(fake_.Start().ok());
    key_file_ = dir_ + "/key.json";
    ASSERT_TRUE(fake_.WriteServiceAccountKey(key_file_).ok());
  }

  GoogleAuthOptions Options() {
    GoogleAuthOptions options;
    options.credentials_file = key_file_;
    options.scopes = {kPubSubScope, kCloudScope};
    options.clock = &clock_;
    options.request_timeout = kWait;
    return options;
  }

  std::unique_ptr<GoogleTokenSource> Make(const GoogleAuthOptions& options) {
    absl::StatusOr<std::unique_ptr<GoogleTokenSource>> source =
        MakeGoogleTokenSource(options);
    EXPECT_TRUE(source.ok()) << source.status();
    return source.ok() ? *std::move(source) : nullptr;
  }

  // Whatever went wrong, messages must not carry credentials.
  void ExpectNoSecrets(const absl::Status& status) {
    absl::string_view message = status.message();
    EXPECT_THAT(message, Not(HasSubstr("ya29.")));
    EXPECT_THAT(message, Not(HasSubstr("eyJ")));  // any JWT starts so
    EXPECT_THAT(message, Not(HasSubstr("PRIVATE KEY")));
    for (absl::string_view line :
         absl::StrSplit(fake_.PrivateKeyPem(), '\n', absl::SkipEmpty())) {
      if (absl::StartsWith(line, "-----")) continue;
      EXPECT_THAT(message, Not(HasSubstr(line.substr(0, 24))));
    }
  }

  std::string dir_;
  std::string key_file_;
  FakeClock clock_{absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()))};
  FakeGoogleTokenServer fake_{&clock_};
};

TEST_F(GoogleAuthTest, ServiceAccountExchangesSignedAssertionForToken) {
  std::unique_ptr<GoogleTokenSource> source = Make(Options());
  ASSERT_NE(source, nullptr);
  absl::StatusOr<std::string> token = source->Token();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_THAT(*token, StartsWith("ya29.fake-"));
  EXPECT_TRUE(fake_.IsValidToken(*token));
  EXPECT_TRUE(fake_.IsValidToken("Bearer " + *token));
  EXPECT_FALSE(fake_.IsValidToken("ya29.made-up"));
  EXPECT_EQ(fake_.TokensIssued(), 1u);
  EXPECT_EQ(fake_.Rejected(), 0u) << fake_.LastRejection();
  EXPECT_THAT(fake_.ScopeRequests(),
              ElementsAre(ElementsAre(kPubSubScope, kCloudScope)));

  ASSERT_EQ(fake_.http().RequestCount(), 1u);
  RecordedRequest request = fake_.http().Requests()[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/token");
  EXPECT_EQ(request.Header("content-type"),
            "application/x-www-form-urlencoded");
  constexpr absl::string_view kPrefix =
      "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
      "&assertion=";
  ASSERT_THAT(request.body, StartsWith(std::string(kPrefix)));
  std::vector<absl::string_view> jwt = absl::StrSplit(
      absl::string_view(request.body).substr(kPrefix.size()), '.');
  ASSERT_EQ(jwt.size(), 3u);
  json::object header = DecodeJwtPart(jwt[0]);
  EXPECT_EQ(Str(header, "alg"), "RS256");
  EXPECT_EQ(Str(header, "typ"), "JWT");
  EXPECT_EQ(Str(header, "kid"), fake_.private_key_id());
  json::object claims = DecodeJwtPart(jwt[1]);
  EXPECT_EQ(Str(claims, "iss"), FakeGoogleTokenServer::kClientEmail);
  EXPECT_EQ(Str(claims, "aud"), fake_.TokenUri());
  EXPECT_EQ(Str(claims, "scope"), absl::StrCat(kPubSubScope, " ", kCloudScope));
  EXPECT_EQ(claims["iat"].as_int64(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(claims["exp"].as_int64(), claims["iat"].as_int64() + 3600);
  std::string signature;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(jwt[2], &signature));
  EXPECT_EQ(signature.size(), 256u);  // RSA-2048

  std::string who = source->Describe();
  EXPECT_THAT(who, HasSubstr(FakeGoogleTokenServer::kClientEmail));
  EXPECT_THAT(who, HasSubstr(fake_.private_key_id().substr(0, 8)));
  EXPECT_THAT(who, Not(HasSubstr(fake_.private_key_id())));
  EXPECT_THAT(who, Not(HasSubstr(*token)));
}

TEST_F(GoogleAuthTest, CachesTheToken) {
  std::unique_ptr<GoogleTokenSource> source = Make(Options());
  ASSERT_NE(source, nullptr);
  absl::StatusOr<std::string> first = source->Token();
  ASSERT_TRUE(first.ok()) << first.status();
  clock_.Advance(absl::Minutes(30));
  absl::StatusOr<std::string> second = source->Token();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(fake_.http().RequestCount(), 1u);
}

TEST_F(GoogleAuthTest, AnInvalidatedTokenIsReplacedAtTheNextCall) {
  std::unique_ptr<GoogleTokenSource> source = Make(Options());
  ASSERT_NE(source, nullptr);
  absl::StatusOr<std::string> first = source->Token();
  ASSERT_TRUE(first.ok()) << first.status();

  // A token that is not the cached one changes nothing.
  source->Invalidate("ya29.some-other-token");
  absl::StatusOr<std::string> same = source->Token();
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(*same, *first);
  EXPECT_EQ(fake_.http().RequestCount(), 1u);

  // The destination refused the cached one: the next call fetches anew, long
  // before the old one would have expired.
  clock_.Advance(absl::Seconds(1));
  source->Invalidate(*first);
  absl::StatusOr<std::string> fresh = source->Token();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_NE(*fresh, *first);
  EXPECT_TRUE(fake_.IsValidToken(*fresh));
  EXPECT_EQ(fake_.http().RequestCount(), 2u);

  // A late report about the old token does not throw away the new one.
  source->Invalidate(*first);
  absl::StatusOr<std::string> still = source->Token();
  ASSERT_TRUE(still.ok()) << still.status();
  EXPECT_EQ(*still, *fresh);
  EXPECT_EQ(fake_.http().RequestCount(), 2u);
}

TEST_F(GoogleAuthTest, RefreshesFiveMinutesBeforeExpiry) {
  std::unique_ptr<GoogleTokenSource> source = Make(Options());
  ASSERT_NE(source, nullptr);
  absl::StatusOr<std::string> first = source->Token();
  ASSERT_TRUE(first.ok()) << first.status();

  clock_.Advance(absl::Minutes(55) - absl::Seconds(1));
  absl::StatusOr<std::string> cached = source->Token();
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(*cached, *first);
  EXPECT_EQ(fake_.http().RequestCount(), 1u);

  clock_.Advance(absl::Seconds(2));
  absl::StatusOr<std::string> fresh = source->Token();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_NE(*fresh, *first);
  EXPECT_TRUE(fake_.IsValidToken(*fresh));
  EXPECT_EQ(fake_.http().RequestCount(), 2u);
  EXPECT_EQ(fake_.Rejected(), 0u) << fake_.LastRejection();
}

TEST_F(GoogleAuthTest, RefreshesShortLivedTokensAtHalfLife) {
  fake_.SetTokenLifetime(absl::Seconds(60));
  std::unique_ptr<GoogleTokenSource> source = Make(Options());
  ASSERT_NE(source, nullptr);
  absl::StatusOr<std::string> first = source->Token();
  ASSERT_TRUE(first.ok()) << first.status();
  clock_.Advance(absl::Seconds(29));
  EXPECT_EQ(source->Token().value_or(""), *first);
  EXPECT_EQ(fake_.http().RequestCount(), 1u);
  clock_.Advance(absl::Seconds(2));
  absl::StatusOr<std::string> fresh = source->Token();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_NE(*fresh, *first);
  EXPECT_EQ(fake_.http().RequestCount(), 2u);
}

TEST_F(GoogleAuthTest, ConcurrentCallersShareOneFetch) {
  // Slow answers, so the callers overlap with the one fetch.
  fake_.SetResponseDelay(absl::Milliseconds(100));
  std::unique_ptr<GoogleTokenSource> source = Make(Options());
  ASSERT_NE(source, nullptr);
  constexpr int kThreads = 16;
  absl::Notification go;
  std::vector<absl::StatusOr<std::string>> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      go.WaitForNotification();
      results[i] = source->Token();
    });
  }
  go.Notify();
  for (std::thread& t : threads) t.join();
  for (const absl::StatusOr<std::string>& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, *results[0]);
  }
  EXPECT_EQ(fake_.http().RequestCount(), 1u);
}

TEST_F(GoogleAuthTest, WrongKeyIsPermissionDeniedWithOAuthError) {
  std::string wrong = dir_ + "/wrong.json";
  ASSERT_TRUE(fake_.WriteServiceAccountKeyWithWrongKey(wrong).ok());
  GoogleAuthOptions options = Options();
  options.credentials_file = wrong;
  std::unique_ptr<GoogleTokenSource> source = Make(options);
  ASSERT_NE(source, nullptr);
  absl::StatusOr<std::string> token = source->Token();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kPermissionDenied)
      << token.status();
  EXPECT_THAT(token.status().message(),
              HasSubstr("HTTP 400: invalid_grant: Invalid JWT Signature."));
  EXPECT_THAT(token.status().message(),
              HasSubstr(FakeGoogleTokenServer::kClientEmail));
  EXPECT_EQ(fake_.Rejected(), 1u);
  EXPECT_EQ(fake_.LastRejection(), "Invalid JWT Signature.");
  EXPECT_EQ(fake_.TokensIssued(), 0u);
  ExpectNoSecrets(token.status());
}

TEST_F(GoogleAuthTest, EndpointDownIsUnavailableNamingTheHost) {
  std::unique_ptr<GoogleTokenSource> source = Make(Options());
  ASSERT_NE(source, nullptr);
  fake_.http().Stop();  // port held, connections refused
  absl::StatusOr<std::string> token = source->Token();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kUnavailable)
      << token.status();
  EXPECT_THAT(token.status().message(),
              HasSubstr(absl::StrCat("127.0.0.1:", fake_.port())));
  EXPECT_THAT(token.status().message(), Not(HasSubstr("/token")));
  ExpectNoSecrets(token.status());

  // Failures are not cached: once the endpoint is back, the next call works.
  ASSERT_TRUE(fake_.http().Start(fake_.port()).ok());
  absl::StatusOr<std::string> again = source->Token();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(fake_.IsValidToken(*again));
}

TEST_F(GoogleAuthTest, ServerErrorsAreUnavailableThenRecover) {
  std::unique_ptr<GoogleTokenSource> source = Make(Options());
  ASSERT_NE(source, nullptr);
  fake_.FailNext(1, 503);
  fake_.FailNext(1, 429);
  absl::StatusOr<std::string> first = source->Token();
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(first.status().message(),
              HasSubstr("HTTP 503: internal_failure"));
  absl::StatusOr<std::string> second = source->Token();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("HTTP 429"));
  absl::StatusOr<std::string> third = source->Token();
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(fake_.IsValidToken(*third));
  EXPECT_EQ(fake_.http().RequestCount(), 3u);
}

TEST_F(GoogleAuthTest, FailedRefreshKeepsServingTheUnexpiredToken) {
  std::unique_ptr<GoogleTokenSource> source = Make(Options());
  ASSERT_NE(source, nullptr);
  absl::StatusOr<std::string> first = source->Token();
  ASSERT_TRUE(first.ok()) << first.status();

  clock_.Advance(absl::Minutes(56));  // in the refresh margin
  fake_.FailNext(1, 500);
  EXPECT_EQ(source->Token().value_or(""), *first);
  EXPECT_EQ(fake_.http().RequestCount(), 2u);  // it did try

  clock_.Advance(absl::Minutes(3) + absl::Seconds(59));  // 1 s left
  fake_.FailNext(1, 500);
  EXPECT_EQ(source->Token().value_or(""), *first);
  EXPECT_EQ(fake_.http().RequestCount(), 3u);

  clock_.Advance(absl::Seconds(1));  // expired
  fake_.FailNext(1, 500);
  absl::StatusOr<std::string> expired = source->Token();
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(fake_.http().RequestCount(), 4u);

  absl::StatusOr<std::string> fresh = source->Token();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_NE(*fresh, *first);
}

TEST_F(GoogleAuthTest, MalformedTokenResponsesAreUnavailable) {
  std::unique_ptr<GoogleTokenSource> source = Make(Options());
  ASSERT_NE(source, nullptr);
  struct Case {
    ScriptedResponse response;
    absl::StatusCode code;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {{.status = 200, .body = "<html>proxy</html>"},
       absl::StatusCode::kUnavailable,
       "not a JSON object"},
      {{.status = 200,
        .body = R"({"access_token":"ya29.leaked","token_type":"Bearer"})"},
       absl::StatusCode::kUnavailable,
       "\"expires_in\""},
      {{.status = 200,
        .body = R"({"access_token":"ya29.leaked","expires_in":0})"},
       absl::StatusCode::kUnavailable,
       "\"expires_in\""},
      {{.status = 200, .body = R"({"expires_in":3600})"},
       absl::StatusCode::kUnavailable,
       "\"access_token\""},
      {{.status = 200,
        .body = R"({"access_token":"ya29.leaked\r\nX: y","expires_in":3600})"},
       absl::StatusCode::kUnavailable,
       "not printable ASCII"},
      {{.status = 200,
        .body =
            R"({"access_token":"ya29.leaked","expires_in":3600,"token_type":"MAC"})"},
       absl::StatusCode::kUnavailable,
       "\"token_type\""},
      // A server that echoes the request must not get the assertion quoted.
      {{.status = 400, .body = "bad request: assertion=eyJhbGciOiJSUzI1NiJ9"},
       absl::StatusCode::kPermissionDenied,
       "HTTP 400"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.response.body);
    fake_.http().Script({c.response});
    absl::StatusOr<std::string> token = source->Token();
    ASSERT_FALSE(token.ok());
    EXPECT_EQ(token.status().code(), c.code) << token.status();
    EXPECT_THAT(token.status().message(), HasSubstr(c.expect));
    EXPECT_THAT(token.status().message(), Not(HasSubstr("leaked")));
    ExpectNoSecrets(token.status());
  }
}

// Key files: every problem is an InvalidArgument naming the file and the
// field, and never quoting the key.
TEST_F(GoogleAuthTest, MalformedKeyFilesNameTheProblem) {
  absl::StatusOr<std::string> good_text = ReadFileToString(key_file_);
  ASSERT_TRUE(good_text.ok());
  const json::object good = json::parse(*good_text).as_object();
  absl::StatusOr<fakes::TestCerts> certs = fakes::GenerateTestCerts(dir_);
  ASSERT_TRUE(certs.ok()) << certs.status();
  absl::StatusOr<std::string> ec_key = ReadFileToString(certs->server_key);
  ASSERT_TRUE(ec_key.ok());

  auto with = [&](const char* key, json::value value) {
    json::object o = good;
    if (value.is_null()) {
      o.erase(key);
    } else {
      o[key] = std::move(value);
    }
    return json::serialize(o);
  };
  struct Case {
    std::string text;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"{\"type\": \"service_account\", ", "not valid JSON"},
      {"[]", "not a JSON object"},
      {with("type", nullptr), "missing \"type\""},
      {with("type", "authorized_user"), "\"authorized_user\""},
      {with("client_email", nullptr), "missing \"client_email\""},
      {with("client_email", ""), "\"client_email\" must be a non-empty string"},
      {with("private_key_id", 42), "\"private_key_id\" must be"},
      {with("token_uri", nullptr), "missing \"token_uri\""},
      {with("token_uri", "ftp://example.com/token"), "\"token_uri\""},
      {with("token_uri", "http://oauth2.example.com/token"),
       "\"token_uri\" must be an https:// URL"},
      {with("private_key", nullptr), "missing \"private_key\""},
      {with("private_key",
            "-----BEGIN PRIVATE KEY-----\nMIIBOGUSBOGUS\n"
            "-----END PRIVATE KEY-----\n"),
       "\"private_key\" is not a PEM private key"},
      {with("private_key", json::string(*ec_key)),
       "\"private_key\" is not an RSA key"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.expect);
    std::string path = dir_ + "/bad.json";
    ASSERT_TRUE(WriteFile(path, c.text).ok());
    GoogleAuthOptions options = Options();
    options.credentials_file = path;
    absl::StatusOr<std::unique_ptr<GoogleTokenSource>> source =
        MakeGoogleTokenSource(options);
    ASSERT_FALSE(source.ok());
    EXPECT_EQ(source.status().code(), absl::StatusCode::kInvalidArgument)
        << source.status();
    EXPECT_THAT(source.status().message(), HasSubstr(path));
    EXPECT_THAT(source.status().message(), HasSubstr(c.expect));
    EXPECT_THAT(source.status().message(), Not(HasSubstr("MIIBOGUS")));
    EXPECT_THAT(source.status().message(), Not(HasSubstr("BEGIN")));
    ExpectNoSecrets(source.status());
  }
  EXPECT_EQ(fake_.http().RequestCount(), 0u);  // nothing fetched eagerly

  GoogleAuthOptions missing = Options();
  missing.credentials_file = dir_ + "/absent.json";
  absl::StatusOr<std::unique_ptr<GoogleTokenSource>> absent =
      MakeGoogleTokenSource(missing);
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(absent.status().message(), HasSubstr(missing.credentials_file));

  GoogleAuthOptions no_scopes = Options();
  no_scopes.scopes.clear();
  absl::StatusOr<std::unique_ptr<GoogleTokenSource>> unscoped =
      MakeGoogleTokenSource(no_scopes);
  EXPECT_EQ(unscoped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unscoped.status().message(), HasSubstr("scopes"));
}

TEST_F(GoogleAuthTest, MetadataServerWithScopes) {
  GoogleAuthOptions options;
  options.metadata_host = fake_.MetadataHost();
  options.scopes = {kPubSubScope, kCloudScope};
  options.clock = &clock_;
  std::unique_ptr<GoogleTokenSource> source = Make(options);
  ASSERT_NE(source, nullptr);
  EXPECT_EQ(source->Describe(), "metadata server " + fake_.MetadataHost());
  absl::StatusOr<std::string> token = source->Token();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(fake_.IsValidToken(*token));
  EXPECT_EQ(source->Token().value_or(""), *token);  // cached

  ASSERT_EQ(fake_.http().RequestCount(), 1u);
  RecordedRequest request = fake_.http().Requests()[0];
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.Header("metadata-flavor"), "Google");
  EXPECT_EQ(request.target,
            absl::StrCat(FakeGoogleTokenServer::kMetadataPath,
                         "?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%"
                         "2Fpubsub%2Chttps%3A%2F%2Fwww.googleapis.com%2Fauth%"
                         "2Fcloud-platform"));
  EXPECT_THAT(fake_.ScopeRequests(),
              ElementsAre(ElementsAre(kPubSubScope, kCloudScope)));
}

TEST_F(GoogleAuthTest, MetadataServerFromEnvironmentWithoutScopes) {
  const char* saved = getenv("GCE_METADATA_HOST");
  std::string previous = saved != nullptr ? saved : "";
  setenv("GCE_METADATA_HOST", fake_.MetadataHost().c_str(), 1);
  GoogleAuthOptions options;
  options.clock = &clock_;
  absl::StatusOr<std::unique_ptr<GoogleTokenSource>> source =
      MakeGoogleTokenSource(options);
  if (saved != nullptr) {
    setenv("GCE_METADATA_HOST", previous.c_str(), 1);
  } else {
    unsetenv("GCE_METADATA_HOST");
  }
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->Describe(), "metadata server " + fake_.MetadataHost());
  absl::StatusOr<std::string> token = (*source)->Token();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(fake_.IsValidToken(*token));
  ASSERT_EQ(fake_.http().RequestCount(), 1u);
  EXPECT_EQ(fake_.http().Requests()[0].target,
            FakeGoogleTokenServer::kMetadataPath);
  EXPECT_THAT(fake_.ScopeRequests(), ElementsAre(ElementsAre()));
}

TEST_F(GoogleAuthTest, MetadataServerDefaultsAndErrors) {
  const char* saved = getenv("GCE_METADATA_HOST");
  std::string previous = saved != nullptr ? saved : "";
  unsetenv("GCE_METADATA_HOST");
  absl::StatusOr<std::unique_ptr<GoogleTokenSource>> default_host =
      MakeGoogleTokenSource(GoogleAuthOptions{});
  if (saved != nullptr) setenv("GCE_METADATA_HOST", previous.c_str(), 1);
  ASSERT_TRUE(default_host.ok()) << default_host.status();
  EXPECT_EQ((*default_host)->Describe(),
            "metadata server metadata.google.internal");

  GoogleAuthOptions bad;
  bad.metadata_host = "http://169.254.169.254/x";
  EXPECT_EQ(MakeGoogleTokenSource(bad).status().code(),
            absl::StatusCode::kInvalidArgument);

  // The fake insists on the Metadata-Flavor header, as GCE does.
  HttpClient client(HttpClientTls{}, "test");
  HttpRequest plain;
  plain.method = "GET";
  plain.url = absl::StrCat("http://", fake_.MetadataHost(),
                           FakeGoogleTokenServer::kMetadataPath);
  plain.timeout = kWait;
  absl::StatusOr<HttpResponse> refused = client.Send(plain);
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(fake_.TokensIssued(), 0u);

  // Its plain-text errors are quoted (its requests hold no secret).
  GoogleAuthOptions options;
  options.metadata_host = fake_.MetadataHost();
  options.clock = &clock_;
  std::unique_ptr<GoogleTokenSource> source = Make(options);
  ASSERT_NE(source, nullptr);
  fake_.http().Script(
      {{.status = 404, .body = "Not Found: no such account\n"}});
  absl::StatusOr<std::string> token = source->Token();
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(token.status().message(),
              HasSubstr("HTTP 404: Not Found: no such account"));
  EXPECT_THAT(token.status().message(), HasSubstr(fake_.MetadataHost()));
}

// A Health service that records the authorization metadata of each call.
class RecordingHealth final : public grpc::health::v1::Health::Service {
 public:
  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest*,
                     grpc::health::v1::HealthCheckResponse* response) override {
    absl::MutexLock lock(&mu_);
    auto [begin, end] = context->client_metadata().equal_range("authorization");
    std::string value;
    for (auto it = begin; it != end; ++it) {
      absl::StrAppend(&value, value.empty() ? "" : ",",
                      absl::string_view(it->second.data(), it->second.size()));
    }
    authorizations_.push_back(value);
    response->set_status(grpc::health::v1::HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }
  std::vector<std::string> authorizations() const {
    absl::MutexLock lock(&mu_);
    return authorizations_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> authorizations_ ABSL_GUARDED_BY(mu_);
};

TEST_F(GoogleAuthTest, GrpcCallCredentialsSendBearerToken) {
  absl::StatusOr<fakes::TestCerts> certs = fakes::GenerateTestCerts(dir_);
  ASSERT_TRUE(certs.ok()) << certs.status();
  absl::StatusOr<std::string> ca = ReadFileToString(certs->ca_cert);
  absl::StatusOr<std::string> cert = ReadFileToString(certs->server_cert);
  absl::StatusOr<std::string> key = ReadFileToString(certs->server_key);
  ASSERT_TRUE(ca.ok() && cert.ok() && key.ok());

  RecordingHealth service;
  grpc::SslServerCredentialsOptions tls;
  tls.pem_key_cert_pairs.push_back({*key, *cert});
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(tls),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);

  std::shared_ptr<GoogleTokenSource> source = Make(Options());
  ASSERT_NE(source, nullptr);
  grpc::SslCredentialsOptions client_tls;
  client_tls.pem_root_certs = *ca;
  GoogleGrpcAuth auth = MakeGoogleGrpcAuth(source);
  auto channel = grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port),
      grpc::CompositeChannelCredentials(grpc::SslCredentials(client_tls),
                                        auth.call_credentials));
  auto stub = grpc::health::v1::Health::NewStub(channel);
  auto check = [&] {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = stub->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
  };

  check();
  check();
  std::vector<std::string> seen = service.authorizations();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "Bearer " + fake_.LastToken());
  EXPECT_EQ(seen[1], seen[0]);  // the cached token
  EXPECT_TRUE(fake_.IsValidToken(seen[0]));
  EXPECT_EQ(fake_.TokensIssued(), 1u);

  // The server refused it (revoked, say): the next call carries a new one.
  auth.token_refused();
  check();
  seen = service.authorizations();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_NE(seen[2], seen[0]);
  EXPECT_EQ(seen[2], "Bearer " + fake_.LastToken());
  EXPECT_EQ(fake_.TokensIssued(), 2u);

  // No token: the call fails UNAVAILABLE with the reason, and never reaches
  // the server.
  std::string wrong = dir_ + "/wrong.json";
  ASSERT_TRUE(fake_.WriteServiceAccountKeyWithWrongKey(wrong).ok());
  GoogleAuthOptions options = Options();
  options.credentials_file = wrong;
  auto failing_stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port),
      grpc::CompositeChannelCredentials(
          grpc::SslCredentials(client_tls),
          MakeGoogleGrpcAuth(std::shared_ptr<GoogleTokenSource>(Make(options)))
              .call_credentials)));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = failing_stub->Check(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("invalid_grant"));
  EXPECT_EQ(service.authorizations().size(), 3u);

  server->Shutdown(absl::ToChronoTime(absl::Now() + kWait));
}

}  // namespace
}  // namespace corral::core
