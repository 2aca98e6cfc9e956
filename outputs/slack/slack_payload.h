#ifndef CORRAL_OUTPUTS_SLACK_SLACK_PAYLOAD_H_
#define CORRAL_OUTPUTS_SLACK_SLACK_PAYLOAD_H_

#include <span>
#include <string>

#include "absl/strings/string_view.h"
#include "core/alert.h"
#include "core/priority.h"
#include "outputs/slack/slack_config.h"

namespace corral::outputs {

// Falcosidekick's attachment colour for a priority (PROTOCOLS.md §7).
absl::string_view SlackColor(core::Priority priority);

// `message_template` rendered for `alert`. Substituted values are escaped for
// Slack's mrkdwn (&, <, >); the template's own text is not, so it may hold
// links like <https://runbook|runbook>.
std::string RenderSlackTemplate(const SlackTemplate& t,
                                const core::Alert& alert);

// The incoming-webhook body for one alert, in Falcosidekick's layout: an
// optional top-level `text` (the rendered message_template), `username`,
// `icon_url` and `channel` when set, and one attachment with `fallback` (the
// output), `color` (by priority), `text` (the output; output_format all|text),
// `fields` and `footer` (output_format all|fields). Fields, in order: rule,
// priority, source, hostname (when set), tags (when any; sorted, ", "), every
// output field sorted by key (short when its value is under 36 characters),
// time (RFC 3339). Output field values: strings as they are, numbers and
// booleans as written in the alert, null as "<NA>" (Falco's own spelling),
// arrays and objects as compact JSON. Pure.
std::string BuildSlackMessage(const SlackConfig& config,
                              const core::Alert& alert);

// One message standing for a whole batch (an alert storm), so that Slack is
// not put minutes behind at one message per second. Top-level `text` and the
// attachment's `fallback` are the headline
//   "N alerts: RULE × count, RULE × count, ..."
// with rules ordered by their highest priority, then count, then name (at most
// 20 named; the rest as "M other rules × count", so the counts always add up
// to N). The attachment is coloured for the highest priority in the batch,
// quotes the outputs of the first `digest_examples` alerts in its `text`
// (then "… and K more"), and has fields `priorities` ("Critical × 2, Warning ×
// 5") and `time` (first – last). `username`, `icon_url`, `channel` and
// `footer` as for single messages; message_template is not used. Pure.
std::string BuildSlackDigest(const SlackConfig& config,
                             std::span<const core::AlertPtr> batch);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_SLACK_SLACK_PAYLOAD_H_
