#include "outputs/s3/s3_signer.h"

#include <string>

#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::outputs {
namespace {

using ::testing::HasSubstr;

// AWS's published Signature V4 examples for S3 (PROTOCOLS.md §9).
const AwsCredentials kExampleCredentials = {
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
const absl::Time kExampleTime = absl::FromCivil(
    absl::CivilSecond(2013, 5, 24, 0, 0, 0), absl::UTCTimeZone());
constexpr char kEmptySha256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string HeaderValue(const SigV4Signature& sig, absl::string_view name) {
  return core::FindHeader(sig.headers, name);
}

TEST(SigV4Test, AwsExamplePutObject) {
  SigV4Request request;
  request.method = "PUT";
  request.host = "examplebucket.s3.amazonaws.com";
  request.path = "/test$file.text";
  request.headers = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                     {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  request.payload_sha256 = Sha256Hex("Welcome to Amazon S3.");
  EXPECT_EQ(request.payload_sha256,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");

  SigV4Signature sig =
      SignV4(request, kExampleCredentials, "us-east-1", "s3", kExampleTime);
  EXPECT_EQ(sig.canonical_request,
            "PUT\n"
            "/test%24file.text\n"
            "\n"
            "date:Fri, 24 May 2013 00:00:00 GMT\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
            "x-amz-date:20130524T000000Z\n"
            "x-amz-storage-class:REDUCED_REDUNDANCY\n"
            "\n"
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(sig.signed_headers,
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  EXPECT_EQ(sig.signature,
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  EXPECT_EQ(HeaderValue(sig, "Authorization"),
            "AWS4-HMAC-SHA256 "
            "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request, "
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-"
            "storage-class, "
            "Signature="
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  EXPECT_EQ(HeaderValue(sig, "x-amz-date"), "20130524T000000Z");
  EXPECT_EQ(HeaderValue(sig, "x-amz-content-sha256"), request.payload_sha256);
  EXPECT_EQ(HeaderValue(sig, "x-amz-security-token"), "");
}

TEST(SigV4Test, AwsExampleGetObjectWithRange) {
  SigV4Request request;
  request.method = "GET";
  request.host = "examplebucket.s3.amazonaws.com";
  request.path = "/test.txt";
  request.headers = {{"Range", "bytes=0-9"}};
  request.payload_sha256 = Sha256Hex("");
  EXPECT_EQ(request.payload_sha256, kEmptySha256);

  SigV4Signature sig =
      SignV4(request, kExampleCredentials, "us-east-1", "s3", kExampleTime);
  EXPECT_EQ(sig.signed_headers, "host;range;x-amz-content-sha256;x-amz-date");
  EXPECT_EQ(sig.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n"
            "20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(sig.signature,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, SessionTokenIsSentAndSigned) {
  SigV4Request request;
  request.method = "PUT";
  request.host = "127.0.0.1:9000";
  request.path = "/alerts/a.json";
  request.payload_sha256 = Sha256Hex("{}");
  AwsCredentials temporary = kExampleCredentials;
  temporary.session_token = "FQoGZXIvYXdzEXAMPLETOKEN";
  SigV4Signature with =
      SignV4(request, temporary, "us-east-1", "s3", kExampleTime);
  EXPECT_EQ(HeaderValue(with, "x-amz-security-token"),
            "FQoGZXIvYXdzEXAMPLETOKEN");
  EXPECT_EQ(with.signed_headers,
            "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
  EXPECT_THAT(with.canonical_request,
              HasSubstr("\nx-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN\n"));
  EXPECT_THAT(with.canonical_request, HasSubstr("\nhost:127.0.0.1:9000\n"));
  SigV4Signature without =
      SignV4(request, kExampleCredentials, "us-east-1", "s3", kExampleTime);
  EXPECT_NE(with.signature, without.signature);
}

// The canonical request's second line.
std::string CanonicalUri(absl::string_view path) {
  SigV4Request request;
  request.method = "PUT";
  request.host = "h";
  request.path = std::string(path);
  request.payload_sha256 = kEmptySha256;
  std::string canonical =
      SignV4(request, kExampleCredentials, "us-east-1", "s3", kExampleTime)
          .canonical_request;
  std::vector<std::string> lines = absl::StrSplit(canonical, '\n');
  return lines.at(1);
}

TEST(SigV4Test, CanonicalUriEncodesOnceAndKeepsSlashes) {
  EXPECT_EQ(CanonicalUri("/b/falco/2026-07-05/2026-07-05T18:50:59.43Z-42.json"),
            "/b/falco/2026-07-05/2026-07-05T18%3A50%3A59.43Z-42.json");
  EXPECT_EQ(CanonicalUri("/b/a b+c~d_e-f.g"), "/b/a%20b%2Bc~d_e-f.g");
  EXPECT_EQ(CanonicalUri("/b/caf\xC3\xA9"), "/b/caf%C3%A9");
  EXPECT_EQ(CanonicalUri("/b/100%/x?y#z"), "/b/100%25/x%3Fy%23z");
  EXPECT_EQ(CanonicalUri("/b/a//b/"), "/b/a//b/");  // S3 keeps empty segments
  EXPECT_EQ(CanonicalUri(""), "/");
}

TEST(SigV4Test, CanonicalQueryIsSortedAndEncoded) {
  SigV4Request request;
  request.method = "GET";
  request.host = "h";
  request.path = "/b";
  request.query = {{"prefix", "falco/2026"}, {"list-type", "2"}, {"a", "x y"}};
  request.payload_sha256 = kEmptySha256;
  std::vector<std::string> lines = absl::StrSplit(
      SignV4(request, kExampleCredentials, "us-east-1", "s3", kExampleTime)
          .canonical_request,
      '\n');
  EXPECT_EQ(lines.at(2), "a=x%20y&list-type=2&prefix=falco%2F2026");
}

TEST(SigV4Test, HeaderValuesAreTrimmedAndNamesLowerCased) {
  SigV4Request request;
  request.method = "PUT";
  request.host = "h";
  request.path = "/b/k";
  request.headers = {{"Content-Type", "  application/json  "},
                     {"X-Amz-Meta-Note", "a   b \t c"}};
  request.payload_sha256 = kEmptySha256;
  SigV4Signature sig =
      SignV4(request, kExampleCredentials, "eu-west-1", "s3", kExampleTime);
  EXPECT_THAT(sig.canonical_request,
              HasSubstr("content-type:application/json\nhost:h\n"));
  EXPECT_THAT(sig.canonical_request, HasSubstr("x-amz-meta-note:a b c\n"));
  EXPECT_EQ(sig.signed_headers,
            "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-"
            "note");
  EXPECT_THAT(HeaderValue(sig, "Authorization"),
              HasSubstr("/20130524/eu-west-1/s3/aws4_request,"));
}

}  // namespace
}  // namespace corral::outputs
