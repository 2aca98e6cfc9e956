#include "outputs/s3/s3_request.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "outputs/s3/s3_signer.h"

namespace corral::outputs {
namespace {

struct BaseUrl {
  std::string scheme;     // "https"
  std::string authority;  // host[:port], lower-case, default port dropped
  std::string path;       // "" or "/base"
};

// The endpoint was checked by the config parser (http(s)://HOST..., no query).
BaseUrl SplitEndpoint(absl::string_view endpoint) {
  BaseUrl base;
  const size_t scheme_end = endpoint.find("://");
  base.scheme = absl::AsciiStrToLower(endpoint.substr(0, scheme_end));
  absl::string_view rest = endpoint.substr(scheme_end + 3);
  const size_t slash = rest.find('/');
  absl::string_view authority = rest.substr(0, slash);
  if (slash != absl::string_view::npos) {
    base.path = std::string(absl::StripSuffix(rest.substr(slash), "/"));
  }
  base.authority = absl::AsciiStrToLower(authority);
  // curl leaves a scheme's default port out of Host, and so must the signature.
  const absl::string_view default_port =
      base.scheme == "https" ? ":443" : ":80";
  if (absl::EndsWith(base.authority, default_port))
    base.authority.resize(base.authority.size() - default_port.size());
  return base;
}

}  // namespace

S3Location LocateS3Object(const S3Config& config, absl::string_view key) {
  BaseUrl base =
      config.store.endpoint.empty()
          ? BaseUrl{"https",
                    absl::StrCat("s3.", config.region, ".amazonaws.com"), ""}
          : SplitEndpoint(config.store.endpoint);
  S3Location location;
  if (config.path_style) {
    location.host = base.authority;
    location.path = absl::StrCat(base.path, "/", config.bucket, "/", key);
  } else {
    location.host = absl::StrCat(config.bucket, ".", base.authority);
    location.path = absl::StrCat(base.path, "/", key);
  }
  location.url =
      absl::StrCat(base.scheme, "://", location.host,
                   core::PercentEncode(location.path, /*keep_slash=*/true));
  return location;
}

core::HttpRequest BuildS3PutObject(const S3Config& config, StoredObject object,
                                   absl::Time now) {
  const S3Location location = LocateS3Object(config, object.key);
  SigV4Request to_sign;
  to_sign.method = "PUT";
  to_sign.host = location.host;
  to_sign.path = location.path;
  to_sign.headers.emplace_back("Content-Type", object.content_type);
  to_sign.payload_sha256 = Sha256Hex(object.body);
  SigV4Signature signature =
      SignV4(to_sign, config.credentials, config.region, "s3", now);

  core::HttpRequest request;
  request.method = "PUT";
  request.url = location.url;
  // Sent explicitly, so that what was signed is what goes out.
  request.headers.emplace_back("Host", location.host);
  for (auto& header : to_sign.headers)
    request.headers.push_back(std::move(header));
  for (auto& header : signature.headers)
    request.headers.push_back(std::move(header));
  request.body = std::move(object.body);
  return request;
}

}  // namespace corral::outputs
