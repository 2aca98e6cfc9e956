#include "outputs/s3/s3_signer.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace corral::outputs {
namespace {

constexpr char kAlgorithm[] = "AWS4-HMAC-SHA256";

std::string HmacSha256(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

// Trimmed, with every run of spaces inside collapsed to one (SigV4's
// canonical header value).
std::string CanonicalValue(absl::string_view value) {
  std::string out;
  bool space = false;
  for (char c : absl::StripAsciiWhitespace(value)) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string Sha256Hex(absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(out), len));
}

SigV4Signature SignV4(const SigV4Request& request,
                      const AwsCredentials& credentials,
                      absl::string_view region, absl::string_view service,
                      absl::Time now) {
  const std::string amz_date =
      absl::FormatTime("%Y%m%dT%H%M%SZ", now, absl::UTCTimeZone());
  const std::string date = amz_date.substr(0, 8);

  SigV4Signature sig;
  sig.headers.emplace_back("x-amz-date", amz_date);
  sig.headers.emplace_back("x-amz-content-sha256", request.payload_sha256);
  if (!credentials.session_token.empty())
    sig.headers.emplace_back("x-amz-security-token", credentials.session_token);

  // Name → values in the order given; several values of one name join with
  // ','.
  std::map<std::string, std::vector<std::string>> canonical;
  canonical["host"].push_back(CanonicalValue(request.host));
  auto add = [&canonical](const core::HttpHeaders& headers) {
    for (const auto& [name, value] : headers)
      canonical[absl::AsciiStrToLower(name)].push_back(CanonicalValue(value));
  };
  add(request.headers);
  add(sig.headers);
  std::string canonical_headers;
  std::vector<absl::string_view> names;
  for (const auto& [name, values] : canonical) {
    absl::StrAppend(&canonical_headers, name, ":", absl::StrJoin(values, ","),
                    "\n");
    names.push_back(name);
  }
  sig.signed_headers = absl::StrJoin(names, ";");

  std::vector<std::pair<std::string, std::string>> query;
  for (const auto& [key, value] : request.query) {
    query.emplace_back(core::PercentEncode(key), core::PercentEncode(value));
  }
  std::sort(query.begin(), query.end());
  std::vector<std::string> pairs;
  for (const auto& [key, value] : query)
    pairs.push_back(absl::StrCat(key, "=", value));

  std::string uri = core::PercentEncode(request.path, /*keep_slash=*/true);
  if (uri.empty()) uri = "/";

  sig.canonical_request =
      absl::StrCat(request.method, "\n", uri, "\n", absl::StrJoin(pairs, "&"),
                   "\n", canonical_headers, "\n", sig.signed_headers, "\n",
                   request.payload_sha256);
  const std::string scope =
      absl::StrCat(date, "/", region, "/", service, "/aws4_request");
  sig.string_to_sign = absl::StrCat(kAlgorithm, "\n", amz_date, "\n", scope,
                                    "\n", Sha256Hex(sig.canonical_request));

  const std::string k_date =
      HmacSha256(absl::StrCat("AWS4", credentials.secret_access_key), date);
  const std::string k_region = HmacSha256(k_date, region);
  const std::string k_service = HmacSha256(k_region, service);
  const std::string k_signing = HmacSha256(k_service, "aws4_request");
  sig.signature =
      absl::BytesToHexString(HmacSha256(k_signing, sig.string_to_sign));

  sig.headers.emplace_back(
      "Authorization",
      absl::StrCat(kAlgorithm, " Credential=", credentials.access_key_id, "/",
                   scope, ", SignedHeaders=", sig.signed_headers,
                   ", Signature=", sig.signature));
  return sig;
}

}  // namespace corral::outputs
