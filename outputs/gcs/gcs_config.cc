#include "outputs/gcs/gcs_config.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace corral::outputs {
namespace {

// Cloud Storage's bucket naming rules: lower-case letters, digits, '-', '_'
// and '.', starting and ending with a letter or digit; 3 to 63 characters, or
// up to 222 when dotted (each dot-separated part at most 63).
bool IsBucketName(absl::string_view name) {
  auto alnum = [](char c) {
    return absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
           (c >= 'a' && c <= 'z');
  };
  if (name.size() < 3 || name.size() > 222) return false;
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  size_t part = 0;
  for (char c : name) {
    if (c == '.') {
      part = 0;
      continue;
    }
    if (!alnum(c) && c != '-' && c != '_') return false;
    if (++part > 63) return false;
  }
  return name.size() <= 63 || name.find('.') != absl::string_view::npos;
}

}  // namespace

std::optional<GcsConfig> ParseGcsConfig(core::ConfigMap& map) {
  const size_t errors_before = map.errors()->messages().size();
  GcsConfig config;

  config.bucket = map.RequiredString("bucket");
  if (!config.bucket.empty() && !IsBucketName(config.bucket)) {
    map.Error("bucket", absl::StrCat("\"", config.bucket,
                                     "\" is not a bucket name (3 to 63 of "
                                     "a-z, 0-9, '-', '_' and '.')"));
  }
  if (std::optional<ObjectStoreKeys> store = ParseObjectStoreKeys(map))
    config.store = std::move(*store);
  if (config.store.endpoint.empty())
    config.store.endpoint = kGcsDefaultEndpoint;
  config.credentials_file = map.String("credentials_file");

  if (map.errors()->messages().size() != errors_before) return std::nullopt;
  return config;
}

}  // namespace corral::outputs
