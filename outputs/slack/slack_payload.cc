#include "outputs/slack/slack_payload.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/alert_json.h"

namespace corral::outputs {
namespace {

// A digest names at most this many rules; the rest are counted together.
constexpr size_t kDigestMaxRules = 20;

// Debian's abseil has its own string_view, which boost::json does not take.
boost::json::string_view Js(absl::string_view s) {
  return boost::json::string_view(s.data(), s.size());
}

// Slack reads &, < and > as control characters in message text (links,
// mentions): values must carry them escaped.
std::string EscapeSlack(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out.append("&amp;");
        break;
      case '<':
        out.append("&lt;");
        break;
      case '>':
        out.append("&gt;");
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Characters, not bytes, as Falcosidekick counts them (Go runes).
size_t CodePoints(absl::string_view text) {
  return std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  });
}

std::string SortedTags(const core::Alert& alert) {
  std::vector<std::string> tags = alert.tags;
  std::sort(tags.begin(), tags.end());
  return absl::StrJoin(tags, ", ");
}

boost::json::object Field(absl::string_view title, absl::string_view value,
                          bool is_short) {
  boost::json::object f;
  f["title"] = Js(title);
  f["value"] = Js(value);
  f["short"] = is_short;
  return f;
}

// The keys every message starts with, in Falcosidekick's order.
void AddIdentity(const SlackConfig& config, boost::json::object& message) {
  if (!config.username.empty()) message["username"] = config.username;
  if (!config.icon_url.empty()) message["icon_url"] = config.icon_url;
  if (!config.channel.empty()) message["channel"] = config.channel;
}

}  // namespace

absl::string_view SlackColor(core::Priority priority) {
  switch (priority) {
    case core::Priority::kEmergency:
    case core::Priority::kError:
      return "#e20b0b";
    case core::Priority::kAlert:
    case core::Priority::kCritical:
      return "#ff5400";
    case core::Priority::kWarning:
      return "#ffc700";
    case core::Priority::kNotice:
      return "#5bffb5";
    case core::Priority::kInformational:
      return "#68c2ff";
    case core::Priority::kDebug:
      return "#ccfff2";
  }
  return "#ccfff2";
}

std::string RenderSlackTemplate(const SlackTemplate& t,
                                const core::Alert& alert) {
  using Kind = SlackTemplate::Part::Kind;
  std::optional<boost::json::object> fields;  // parsed on first use
  std::string out;
  for (const SlackTemplate::Part& part : t.parts()) {
    switch (part.kind) {
      case Kind::kLiteral:
        out.append(part.text);
        break;
      case Kind::kRule:
        absl::StrAppend(&out, EscapeSlack(alert.rule));
        break;
      case Kind::kPriority:
        absl::StrAppend(&out, core::PriorityName(alert.priority));
        break;
      case Kind::kOutput:
        absl::StrAppend(&out, EscapeSlack(alert.output));
        break;
      case Kind::kSource:
        absl::StrAppend(&out, EscapeSlack(alert.source));
        break;
      case Kind::kHostname:
        absl::StrAppend(&out, EscapeSlack(alert.hostname));
        break;
      case Kind::kTime:
        absl::StrAppend(&out, core::FormatAlertTime(alert.time));
        break;
      case Kind::kTags:
        absl::StrAppend(&out, EscapeSlack(SortedTags(alert)));
        break;
      case Kind::kOutputField: {
        if (!fields) fields = core::ParseOutputFields(alert);
        if (const boost::json::value* v = fields->if_contains(part.text)) {
          absl::StrAppend(&out, EscapeSlack(core::OutputFieldText(*v)));
        }
        break;
      }
    }
  }
  return out;
}

std::string BuildSlackMessage(const SlackConfig& config,
                              const core::Alert& alert) {
  boost::json::object message;
  if (config.message_template) {
    message["text"] = RenderSlackTemplate(*config.message_template, alert);
  }
  AddIdentity(config, message);

  const bool with_text = config.output_format != SlackOutputFormat::kFields;
  const bool with_fields = config.output_format != SlackOutputFormat::kText;

  boost::json::object attachment;
  attachment["fallback"] = alert.output;
  attachment["color"] = Js(SlackColor(alert.priority));
  if (with_text) attachment["text"] = EscapeSlack(alert.output);
  if (with_fields) {
    boost::json::array fields;
    fields.push_back(Field("rule", EscapeSlack(alert.rule), true));
    fields.push_back(
        Field("priority", core::PriorityName(alert.priority), true));
    fields.push_back(Field("source", EscapeSlack(alert.source), true));
    if (!alert.hostname.empty()) {
      fields.push_back(Field("hostname", EscapeSlack(alert.hostname), true));
    }
    if (!alert.tags.empty()) {
      fields.push_back(Field("tags", EscapeSlack(SortedTags(alert)), true));
    }
    boost::json::object output_fields = core::ParseOutputFields(alert);
    std::vector<std::pair<std::string, std::string>> sorted;
    sorted.reserve(output_fields.size());
    for (const auto& kv : output_fields) {
      sorted.emplace_back(std::string(kv.key()),
                          core::OutputFieldText(kv.value()));
    }
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [key, value] : sorted) {
      fields.push_back(
          Field(EscapeSlack(key), EscapeSlack(value), CodePoints(value) < 36));
    }
    fields.push_back(Field("time", core::FormatAlertTime(alert.time), false));
    attachment["fields"] = std::move(fields);
    if (!config.footer.empty()) attachment["footer"] = config.footer;
  }
  boost::json::array attachments;
  attachments.push_back(std::move(attachment));
  message["attachments"] = std::move(attachments);
  return boost::json::serialize(message);
}

std::string BuildSlackDigest(const SlackConfig& config,
                             std::span<const core::AlertPtr> batch) {
  struct Group {
    std::string rule;
    size_t count = 0;
    core::Priority highest = core::Priority::kDebug;
  };
  std::map<std::string, Group> by_rule;
  std::map<core::Priority, size_t> by_priority;
  core::Priority highest = core::Priority::kDebug;
  absl::Time first = absl::InfiniteFuture();
  absl::Time last = absl::InfinitePast();
  for (const core::AlertPtr& alert : batch) {
    Group& g = by_rule[alert->rule];
    g.rule = alert->rule;
    ++g.count;
    g.highest = std::max(g.highest, alert->priority);
    ++by_priority[alert->priority];
    highest = std::max(highest, alert->priority);
    first = std::min(first, alert->time);
    last = std::max(last, alert->time);
  }
  std::vector<Group> groups;
  groups.reserve(by_rule.size());
  for (auto& [rule, g] : by_rule) groups.push_back(std::move(g));
  std::sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) {
    if (a.highest != b.highest) return a.highest > b.highest;
    if (a.count != b.count) return a.count > b.count;
    return a.rule < b.rule;
  });

  // The headline twice: escaped for the message text, plain for `fallback`
  // (notifications show it as it is).
  std::string headline = absl::StrCat(batch.size(), " alerts: ");
  std::string plain = headline;
  size_t others = 0;
  for (size_t i = 0; i < groups.size(); ++i) {
    if (i >= kDigestMaxRules) {
      others += groups[i].count;
      continue;
    }
    const absl::string_view sep = i > 0 ? ", " : "";
    absl::StrAppend(&headline, sep, EscapeSlack(groups[i].rule), " × ",
                    groups[i].count);
    absl::StrAppend(&plain, sep, groups[i].rule, " × ", groups[i].count);
  }
  if (others > 0) {
    const std::string rest = absl::StrCat(", ", groups.size() - kDigestMaxRules,
                                          " other rules × ", others);
    headline.append(rest);
    plain.append(rest);
  }

  std::string text;
  const size_t examples =
      std::min(batch.size(), static_cast<size_t>(config.digest_examples));
  for (size_t i = 0; i < examples; ++i) {
    if (i > 0) text.push_back('\n');
    absl::StrAppend(&text, "• ", EscapeSlack(batch[i]->output));
  }
  if (batch.size() > examples && examples > 0) {
    absl::StrAppend(&text, "\n… and ", batch.size() - examples, " more");
  }

  std::string priorities;
  for (auto it = by_priority.rbegin(); it != by_priority.rend(); ++it) {
    if (!priorities.empty()) priorities.append(", ");
    absl::StrAppend(&priorities, core::PriorityName(it->first), " × ",
                    it->second);
  }
  std::string time = core::FormatAlertTime(first);
  if (last != first) absl::StrAppend(&time, " – ", core::FormatAlertTime(last));

  boost::json::object message;
  message["text"] = headline;
  AddIdentity(config, message);
  boost::json::object attachment;
  attachment["fallback"] = plain;
  attachment["color"] = Js(SlackColor(highest));
  if (!text.empty()) attachment["text"] = text;
  boost::json::array fields;
  fields.push_back(Field("priorities", priorities, false));
  fields.push_back(Field("time", time, false));
  attachment["fields"] = std::move(fields);
  if (!config.footer.empty()) attachment["footer"] = config.footer;
  boost::json::array attachments;
  attachments.push_back(std::move(attachment));
  message["attachments"] = std::move(attachments);
  return boost::json::serialize(message);
}

}  // namespace corral::outputs
