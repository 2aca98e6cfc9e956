#include "outputs/s3/s3_config.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace corral::outputs {
namespace {

// AWS's bucket naming rules: 3 to 63 lower-case letters, digits, '.' and '-',
// starting and ending with a letter or digit.
bool IsBucketName(absl::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  auto alnum = [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
           (c >= 'a' && c <= 'z');
  };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '-'; });
}

// A region is a host label: us-east-1, eu-central-1, or a store's own name.
bool IsRegion(absl::string_view region) {
  return !region.empty() &&
         std::all_of(region.begin(), region.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                  c == '-' || c == '_';
         });
}

std::string Env(const core::EnvLookup& env, const char* name) {
  const char* value = env ? env(name) : nullptr;
  return value != nullptr ? std::string(value) : std::string();
}

}  // namespace

std::optional<S3Config> ParseS3Config(core::ConfigMap& map,
                                      const core::EnvLookup& env) {
  const size_t errors_before = map.errors()->messages().size();
  S3Config config;

  config.bucket = map.RequiredString("bucket");
  if (!config.bucket.empty() && !IsBucketName(config.bucket)) {
    map.Error("bucket", absl::StrCat("\"", config.bucket,
                                     "\" is not a bucket name (3 to 63 of "
                                     "a-z, 0-9, '.' and '-')"));
  }
  if (std::optional<ObjectStoreKeys> store = ParseObjectStoreKeys(map))
    config.store = std::move(*store);

  config.region = map.String("region", config.region);
  if (!IsRegion(config.region)) {
    map.Error("region", absl::StrCat("\"", config.region,
                                     "\" is not a region (e.g. eu-west-1)"));
  }

  config.path_style = map.Bool("path_style", !config.store.endpoint.empty());

  // Keys from the config go together; without any, all come from the
  // environment, so that a key from one place never pairs with a secret from
  // the other.
  AwsCredentials& creds = config.credentials;
  creds.access_key_id = map.String("access_key_id");
  creds.secret_access_key = map.String("secret_access_key");
  creds.session_token = map.String("session_token");
  const bool from_config = !creds.access_key_id.empty() ||
                           !creds.secret_access_key.empty() ||
                           !creds.session_token.empty();
  if (from_config) {
    if (creds.access_key_id.empty()) {
      map.Error("access_key_id",
                "is required when secret_access_key or session_token is set");
    }
    if (creds.secret_access_key.empty()) {
      map.Error("secret_access_key",
                "is required when access_key_id or session_token is set");
    }
  } else {
    creds.access_key_id = Env(env, "AWS_ACCESS_KEY_ID");
    creds.secret_access_key = Env(env, "AWS_SECRET_ACCESS_KEY");
    creds.session_token = Env(env, "AWS_SESSION_TOKEN");
    if (creds.access_key_id.empty() || creds.secret_access_key.empty()) {
      map.Error("access_key_id",
                "no AWS credentials: set access_key_id and secret_access_key, "
                "or the environment variables AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY");
    }
  }
  // They become header values.
  struct Secret {
    const char* key;
    const char* variable;
    const std::string& value;
  };
  for (const Secret& s :
       {Secret{"access_key_id", "AWS_ACCESS_KEY_ID", creds.access_key_id},
        Secret{"secret_access_key", "AWS_SECRET_ACCESS_KEY",
               creds.secret_access_key},
        Secret{"session_token", "AWS_SESSION_TOKEN", creds.session_token}}) {
    if (s.value.find_first_of("\r\n") == std::string::npos) continue;
    map.Error(s.key, from_config ? "has a line break"
                                 : absl::StrCat("(from ", s.variable,
                                                ") has a line break"));
  }

  if (map.errors()->messages().size() != errors_before) return std::nullopt;
  return config;
}

}  // namespace corral::outputs
