#include "outputs/s3/s3_request.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::outputs {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kKey[] = "falco/2026-07-05/2026-07-05T18:50:59.43Z-42.json";
constexpr char kEncodedKey[] =
    "falco/2026-07-05/2026-07-05T18%3A50%3A59.43Z-42.json";

S3Config Config(std::string endpoint, bool path_style,
                std::string region = "eu-west-1") {
  S3Config config;
  config.bucket = "falco-alerts";
  config.region = std::move(region);
  config.store.endpoint = std::move(endpoint);
  config.path_style = path_style;
  config.credentials = {"AKIDEXAMPLE", "secret", ""};
  return config;
}

TEST(S3LocationTest, VirtualHostedOnAws) {
  S3Location l = LocateS3Object(Config("", false), kKey);
  EXPECT_EQ(l.host, "falco-alerts.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(l.path, absl::StrCat("/", kKey));
  EXPECT_EQ(l.url, absl::StrCat("https://falco-alerts.s3.eu-west-1."
                                "amazonaws.com/",
                                kEncodedKey));
}

TEST(S3LocationTest, PathStyleOnAws) {
  S3Location l = LocateS3Object(Config("", true), kKey);
  EXPECT_EQ(l.host, "s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(l.path, absl::StrCat("/falco-alerts/", kKey));
  EXPECT_EQ(l.url, absl::StrCat("https://s3.eu-west-1.amazonaws.com/"
                                "falco-alerts/",
                                kEncodedKey));
}

TEST(S3LocationTest, PathStyleOnAnEndpoint) {
  S3Location l = LocateS3Object(Config("http://127.0.0.1:9000", true), kKey);
  EXPECT_EQ(l.host, "127.0.0.1:9000");
  EXPECT_EQ(l.url,
            absl::StrCat("http://127.0.0.1:9000/falco-alerts/", kEncodedKey));
}

TEST(S3LocationTest, EndpointBasePathAndDefaultPort) {
  S3Location l =
      LocateS3Object(Config("https://Store.Example.com:443/s3", true), "a b");
  EXPECT_EQ(l.host, "store.example.com");
  EXPECT_EQ(l.path, "/s3/falco-alerts/a b");
  EXPECT_EQ(l.url, "https://store.example.com/s3/falco-alerts/a%20b");
  EXPECT_EQ(LocateS3Object(Config("http://minio:80", true), "k").host, "minio");
  EXPECT_EQ(LocateS3Object(Config("http://minio:443", true), "k").host,
            "minio:443");
}

TEST(S3LocationTest, VirtualHostedOnAnEndpoint) {
  S3Location l =
      LocateS3Object(Config("http://minio.internal:9000", false), "k.json");
  EXPECT_EQ(l.host, "falco-alerts.minio.internal:9000");
  EXPECT_EQ(l.url, "http://falco-alerts.minio.internal:9000/k.json");
}

TEST(S3PutObjectTest, IsASignedPut) {
  const absl::Time now = absl::FromCivil(
      absl::CivilSecond(2026, 7, 5, 18, 51, 0), absl::UTCTimeZone());
  StoredObject object{kKey, "{\"rule\":\"x\"}", "application/json"};
  core::HttpRequest r =
      BuildS3PutObject(Config("http://127.0.0.1:9000", true), object, now);
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(r.url,
            absl::StrCat("http://127.0.0.1:9000/falco-alerts/", kEncodedKey));
  EXPECT_EQ(r.body, object.body);
  EXPECT_EQ(core::FindHeader(r.headers, "host"), "127.0.0.1:9000");
  EXPECT_EQ(core::FindHeader(r.headers, "content-type"), "application/json");
  EXPECT_EQ(core::FindHeader(r.headers, "x-amz-date"), "20260705T185100Z");
  EXPECT_EQ(core::FindHeader(r.headers, "x-amz-content-sha256"),
            Sha256Hex(object.body));
  EXPECT_EQ(core::FindHeader(r.headers, "x-amz-security-token"), "");
  const std::string authorization =
      core::FindHeader(r.headers, "authorization");
  EXPECT_THAT(authorization,
              StartsWith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260705/"
                         "eu-west-1/s3/aws4_request, SignedHeaders=content-"
                         "type;host;x-amz-content-sha256;x-amz-date, "
                         "Signature="));
  EXPECT_THAT(authorization, Not(HasSubstr("secret")));
}

}  // namespace
}  // namespace corral::outputs
