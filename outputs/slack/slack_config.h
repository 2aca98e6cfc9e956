#ifndef CORRAL_OUTPUTS_SLACK_SLACK_CONFIG_H_
#define CORRAL_OUTPUTS_SLACK_SLACK_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/config_node.h"

namespace corral::outputs {

// What the attachment of a single-alert message carries (Falcosidekick's
// `outputformat`).
enum class SlackOutputFormat {
  kAll,     // the alert's output as the attachment text, and the fields
  kText,    // the output only
  kFields,  // the fields (and footer) only
};

// `message_template`: text with placeholders, rendered per alert into the
// message's top-level `text` (above the attachment). Placeholders:
//   {{rule}} {{priority}} {{output}} {{source}} {{hostname}} {{time}}
//   {{tags}} (sorted, ", ") and {{output_fields.KEY}} (KEY as Falco names it,
//   e.g. {{output_fields.proc.name}}; an absent field renders as "").
// Falcosidekick's `messageformat` spellings of the same values are accepted
// too, so its configs keep working: {{ .Rule }}, {{ .Priority }},
// {{ .Output }}, {{ .Source }}, {{ .Hostname }}, {{ .Time }}, {{ .Tags }} and
// {{ index .OutputFields "KEY" }}. Spaces inside the braces are ignored. Any
// other placeholder, or an unclosed "{{", is a config error.
class SlackTemplate {
 public:
  struct Part {
    enum class Kind {
      kLiteral,
      kRule,
      kPriority,
      kOutput,
      kSource,
      kHostname,
      kTime,
      kTags,
      kOutputField,
    };
    Kind kind = Kind::kLiteral;
    std::string text;  // kLiteral: the text; kOutputField: the field's key
  };

  // InvalidArgument naming the first bad placeholder.
  static absl::StatusOr<SlackTemplate> Parse(absl::string_view text);

  const std::vector<Part>& parts() const { return parts_; }

 private:
  std::vector<Part> parts_;
};

// `type: slack` keys (DESIGN.md "Configuration", docs/configuration.md).
struct SlackConfig {
  // An incoming-webhook URL, http:// or https://. Its path is the secret: it
  // never appears in logs, dead letters or metrics.
  std::string webhook_url;
  std::string channel;   // legacy webhooks only; empty: the webhook's own
  std::string username;  // legacy webhooks only
  std::string icon_url;  // legacy webhooks only
  std::string footer = "corral";
  SlackOutputFormat output_format = SlackOutputFormat::kAll;
  std::optional<SlackTemplate> message_template;
  // Slack allows about one message per second per webhook, with short bursts.
  double rate_limit_per_second = 1.0;
  int64_t rate_limit_burst = 3;
  // A batch of at least this many alerts is sent as one digest message; 0
  // sends every alert on its own (and batches are not formed).
  int64_t digest_after = 3;
  // How many alerts' outputs a digest quotes.
  int64_t digest_examples = 3;
  absl::Duration timeout = absl::Seconds(10);  // one request, all of it
  absl::Duration connect_timeout = absl::Seconds(5);
};

// Reads the slack keys of an output's mapping: `webhook_url` (required,
// http(s)://), `channel`, `username`, `icon_url`, `footer` (default "corral"),
// `output_format` (all|text|fields; default all), `message_template`,
// `rate_limit_per_second` (> 0, fractions allowed; default 1),
// `rate_limit_burst` (1..100; default 3), `digest_after` (0 or 2..10000;
// default 3), `digest_examples` (0..20; default 3), `timeout` (default 10s),
// `connect_timeout` (default 5s). Every problem is recorded on `map`; unknown
// keys are left to the caller. Returns nullopt when anything was wrong. Does
// no I/O.
std::optional<SlackConfig> ParseSlackConfig(core::ConfigMap& map);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_SLACK_SLACK_CONFIG_H_
