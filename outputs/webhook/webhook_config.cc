#include "outputs/webhook/webhook_config.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace corral::outputs {
namespace {

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        absl::string_view("!#$%&'*+-.^_`|~").find(c) ==
            absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Headers corral must own for the request to be well-formed.
bool IsReservedHeader(absl::string_view name) {
  return absl::EqualsIgnoreCase(name, "content-length") ||
         absl::EqualsIgnoreCase(name, "transfer-encoding") ||
         absl::EqualsIgnoreCase(name, "host") ||
         absl::EqualsIgnoreCase(name, "connection");
}

}  // namespace

std::optional<WebhookConfig> ParseWebhookConfig(core::ConfigMap& map) {
  const size_t errors_before = map.errors()->messages().size();
  WebhookConfig config;

  config.url = map.RequiredString("url");
  if (!config.url.empty()) map.CheckHttpUrl("url", config.url);

  const std::string method =
      absl::AsciiStrToUpper(map.String("method", "POST"));
  if (method == "POST" || method == "PUT") {
    config.method = method;
  } else {
    map.Error("method",
              absl::StrCat("\"", method, "\" is not one of: POST, PUT"));
  }

  for (auto& [name, value] : map.StringMap("headers")) {
    if (!IsToken(name)) {
      map.Error("headers",
                absl::StrCat("\"", name, "\" is not a valid header name"));
    } else if (value.find_first_of("\r\n") != std::string::npos) {
      map.Error("headers",
                absl::StrCat("the value of \"", name, "\" has a line break"));
    } else if (IsReservedHeader(name)) {
      map.Error("headers", absl::StrCat("\"", name, "\" is set by corral"));
    } else {
      config.headers.emplace_back(name, std::move(value));
    }
  }

  {
    core::ConfigMap tls = map.Map("tls");
    config.tls.ca_file = tls.String("ca_file");
    config.tls.cert_file = tls.String("cert_file");
    config.tls.key_file = tls.String("key_file");
    config.tls.insecure_skip_verify = tls.Bool("insecure_skip_verify", false);
    if (!config.tls.cert_file.empty() && config.tls.key_file.empty()) {
      tls.Error("key_file", "is required with cert_file");
    }
    if (config.tls.cert_file.empty() && !config.tls.key_file.empty()) {
      tls.Error("cert_file", "is required with key_file");
    }
    tls.RejectUnknownKeys();
  }

  config.format =
      map.Enum("format", "json", {"json", "ndjson_batch"}) == "ndjson_batch"
          ? WebhookFormat::kNdjsonBatch
          : WebhookFormat::kJson;

  config.timeout = map.Duration("timeout", config.timeout);
  if (config.timeout <= absl::ZeroDuration())
    map.Error("timeout", "must be more than 0");
  config.connect_timeout =
      map.Duration("connect_timeout", config.connect_timeout);
  if (config.connect_timeout <= absl::ZeroDuration()) {
    map.Error("connect_timeout", "must be more than 0");
  }

  if (map.errors()->messages().size() != errors_before) return std::nullopt;
  return config;
}

}  // namespace corral::outputs
