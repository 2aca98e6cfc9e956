#include "outputs/slack/slack_config.h"

#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace corral::outputs {
namespace {

using Kind = SlackTemplate::Part::Kind;

// Reads `"KEY"` (Go's quoted string in Falcosidekick's `index .OutputFields
// "KEY"`).
std::optional<std::string> QuotedKey(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  if (s.size() < 3 || s.front() != '"' || s.back() != '"') return std::nullopt;
  s = s.substr(1, s.size() - 2);
  if (absl::StrContains(s, "\"") || absl::StrContains(s, "\\"))
    return std::nullopt;
  return std::string(s);
}

std::optional<SlackTemplate::Part> Placeholder(absl::string_view expr) {
  expr = absl::StripAsciiWhitespace(expr);
  struct Name {
    absl::string_view native;
    absl::string_view go;  // Falcosidekick's field of its FalcoPayload
    Kind kind;
  };
  static constexpr Name kNames[] = {
      {"rule", ".Rule", Kind::kRule},
      {"priority", ".Priority", Kind::kPriority},
      {"output", ".Output", Kind::kOutput},
      {"source", ".Source", Kind::kSource},
      {"hostname", ".Hostname", Kind::kHostname},
      {"time", ".Time", Kind::kTime},
      {"tags", ".Tags", Kind::kTags},
  };
  for (const Name& name : kNames) {
    if (expr == name.native || expr == name.go) return {{name.kind, ""}};
  }
  if (absl::string_view key = expr;
      absl::ConsumePrefix(&key, "output_fields.") && !key.empty() &&
      !absl::StrContains(key, " ")) {
    return {{Kind::kOutputField, std::string(key)}};
  }
  if (absl::string_view rest = expr; absl::ConsumePrefix(&rest, "index")) {
    rest = absl::StripLeadingAsciiWhitespace(rest);
    if (absl::ConsumePrefix(&rest, ".OutputFields")) {
      if (std::optional<std::string> key = QuotedKey(rest)) {
        return {{Kind::kOutputField, std::move(*key)}};
      }
    }
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<SlackTemplate> SlackTemplate::Parse(absl::string_view text) {
  SlackTemplate t;
  while (!text.empty()) {
    size_t open = text.find("{{");
    if (open == absl::string_view::npos) {
      t.parts_.push_back({Kind::kLiteral, std::string(text)});
      break;
    }
    if (open > 0)
      t.parts_.push_back({Kind::kLiteral, std::string(text.substr(0, open))});
    size_t close = text.find("}}", open + 2);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"{{\" at offset ", open, " is never closed"));
    }
    absl::string_view expr = text.substr(open + 2, close - open - 2);
    std::optional<Part> part = Placeholder(expr);
    if (!part) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown placeholder \"{{", expr,
          "}}\" (known: rule, priority, output, source, hostname, time, tags, "
          "output_fields.KEY)"));
    }
    t.parts_.push_back(std::move(*part));
    text.remove_prefix(close + 2);
  }
  return t;
}

std::optional<SlackConfig> ParseSlackConfig(core::ConfigMap& map) {
  const size_t errors_before = map.errors()->messages().size();
  SlackConfig config;

  config.webhook_url = map.RequiredString("webhook_url");
  if (!config.webhook_url.empty()) {
    map.CheckHttpUrl("webhook_url", config.webhook_url);
  }

  config.channel = map.String("channel");
  config.username = map.String("username");
  config.icon_url = map.String("icon_url");
  config.footer = map.String("footer", config.footer);

  const std::string format =
      map.Enum("output_format", "all", {"all", "text", "fields"});
  if (format == "text") config.output_format = SlackOutputFormat::kText;
  if (format == "fields") config.output_format = SlackOutputFormat::kFields;

  if (std::string text = map.String("message_template"); !text.empty()) {
    absl::StatusOr<SlackTemplate> parsed = SlackTemplate::Parse(text);
    if (parsed.ok()) {
      config.message_template = std::move(*parsed);
    } else {
      map.Error("message_template", parsed.status().message());
    }
  }

  if (map.Has("rate_limit_per_second")) {
    const std::string text = map.String("rate_limit_per_second");
    double rate = 0;
    if (!absl::SimpleAtod(text, &rate) || !std::isfinite(rate) || rate <= 0 ||
        rate > 1000) {
      map.Error("rate_limit_per_second",
                "expected a number of messages per second, more than 0 and at "
                "most 1000 (e.g. 1 or 0.5)");
    } else {
      config.rate_limit_per_second = rate;
    }
  }
  config.rate_limit_burst =
      map.Int("rate_limit_burst", config.rate_limit_burst, 1, 100);
  config.digest_after = map.Int("digest_after", config.digest_after, 0, 10000);
  if (config.digest_after == 1) {
    map.Error("digest_after",
              "must be 0 (no digests) or at least 2: a digest of one alert is "
              "just that alert");
  }
  config.digest_examples =
      map.Int("digest_examples", config.digest_examples, 0, 20);

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
