#include "outputs/chronicle/chronicle_config.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace corral::outputs {
namespace {

// Values that become path segments of Google's URLs: a '/', '?', '#' or space
// would change which resource a request names.
bool IsPathSegment(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        absl::string_view("-_.").find(c) == absl::string_view::npos) {
      return false;
    }
  }
  return !s.empty();
}

std::string ApiName(ChronicleApi api) {
  switch (api) {
    case ChronicleApi::kChronicle:
      return "chronicle";
    case ChronicleApi::kLegacy:
      return "legacy";
    case ChronicleApi::kWebhook:
      return "webhook";
  }
  return "";
}

}  // namespace

uint64_t ChronicleConfig::MaxRequestBytes() const {
  switch (api) {
    case ChronicleApi::kChronicle:
      return kChronicleImportMaxBytes;
    case ChronicleApi::kLegacy:
      return kLegacyBatchMaxBytes;
    case ChronicleApi::kWebhook:
      return kWebhookFeedMaxBytes;
  }
  return kLegacyBatchMaxBytes;
}

std::optional<ChronicleConfig> ParseChronicleConfig(core::ConfigMap& map) {
  const size_t errors_before = map.errors()->messages().size();
  ChronicleConfig config;

  const std::string api =
      map.Enum("api", "chronicle", {"chronicle", "legacy", "webhook"});
  if (api == "legacy") config.api = ChronicleApi::kLegacy;
  if (api == "webhook") config.api = ChronicleApi::kWebhook;

  // Keys that only one or two APIs use; the others refuse them.
  struct Scoped {
    absl::string_view key;
    std::vector<ChronicleApi> apis;
  };
  const std::vector<Scoped> scoped = {
      {"project", {ChronicleApi::kChronicle}},
      {"region", {ChronicleApi::kChronicle, ChronicleApi::kLegacy}},
      {"instance", {ChronicleApi::kChronicle, ChronicleApi::kLegacy}},
      {"log_type", {ChronicleApi::kChronicle, ChronicleApi::kLegacy}},
      {"endpoint", {ChronicleApi::kChronicle, ChronicleApi::kLegacy}},
      {"credentials_file", {ChronicleApi::kChronicle, ChronicleApi::kLegacy}},
      {"feed_url", {ChronicleApi::kWebhook}},
      {"api_key", {ChronicleApi::kWebhook}},
      {"secret", {ChronicleApi::kWebhook}},
  };
  for (const Scoped& s : scoped) {
    if (!map.Has(s.key)) continue;
    bool applies = false;
    for (ChronicleApi a : s.apis) applies = applies || a == config.api;
    if (!applies) {
      (void)map.Raw(s.key);  // reported here, not again as unknown
      std::string which;
      for (ChronicleApi a : s.apis) {
        absl::StrAppend(&which, which.empty() ? "" : " or ", ApiName(a));
      }
      map.Error(s.key, absl::StrCat("only applies to api: ", which,
                                    " (this output has api: ", api, ")"));
    }
  }

  auto segment = [&](absl::string_view key, std::string value) {
    if (!value.empty() && !IsPathSegment(value)) {
      map.Error(key, absl::StrCat("\"", value,
                                  "\" may only hold letters, digits, '-', "
                                  "'_' and '.'"));
    }
    return value;
  };

  switch (config.api) {
    case ChronicleApi::kChronicle:
      config.project = segment("project", map.RequiredString("project"));
      config.region = segment("region", map.RequiredString("region"));
      config.instance = segment("instance", map.RequiredString("instance"));
      break;
    case ChronicleApi::kLegacy:
      config.region = segment("region", map.String("region"));
      config.instance = segment("instance", map.RequiredString("instance"));
      break;
    case ChronicleApi::kWebhook:
      config.feed_url = map.RequiredString("feed_url");
      if (!config.feed_url.empty())
        map.CheckHttpUrl("feed_url", config.feed_url);
      config.api_key = map.RequiredString("api_key");
      config.secret = map.RequiredString("secret");
      for (absl::string_view key : {"api_key", "secret"}) {
        const std::string& v =
            key == "api_key" ? config.api_key : config.secret;
        if (v.find_first_of("\r\n") != std::string::npos)
          map.Error(key, "has a line break");
      }
      break;
  }

  if (config.api != ChronicleApi::kWebhook) {
    config.log_type =
        segment("log_type", map.String("log_type", config.log_type));
    config.credentials_file = map.String("credentials_file");
    std::string endpoint = map.String("endpoint");
    if (!endpoint.empty()) {
      if (map.CheckHttpUrl("endpoint", endpoint)) {
        config.endpoint = std::string(absl::StripSuffix(endpoint, "/"));
      }
    } else if (config.api == ChronicleApi::kChronicle) {
      config.endpoint = absl::StrCat("https://chronicle.", config.region,
                                     ".rep.googleapis.com");
    } else if (config.region.empty() || config.region == "us") {
      // The legacy API's US host has no region prefix.
      config.endpoint = "https://malachiteingestion-pa.googleapis.com";
    } else {
      config.endpoint = absl::StrCat("https://", config.region,
                                     "-malachiteingestion-pa.googleapis.com");
    }
  }

  config.timeout = map.Duration("timeout", config.timeout);
  if (config.timeout <= absl::ZeroDuration())
    map.Error("timeout", "must be more than 0");
  config.connect_timeout =
      map.Duration("connect_timeout", config.connect_timeout);
  if (config.connect_timeout <= absl::ZeroDuration())
    map.Error("connect_timeout", "must be more than 0");

  if (map.errors()->messages().size() != errors_before) return std::nullopt;
  return config;
}

}  // namespace corral::outputs
