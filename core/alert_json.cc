#include "core/alert_json.h"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/json_util.h"

namespace corral::core {
namespace json = boost::json;
namespace {

absl::Status Invalid(absl::string_view why) {
  return absl::InvalidArgumentError(why);
}

// Reads an optional string member; a present non-string value is an error.
absl::Status ReadString(const json::object& obj, absl::string_view key,
                        std::string* out) {
  const json::value* v =
      obj.if_contains(json::string_view(key.data(), key.size()));
  if (v == nullptr || v->is_null()) return absl::OkStatus();
  if (!v->is_string()) {
    return Invalid(absl::StrCat("\"", key, "\" must be a string"));
  }
  const json::string& s = v->get_string();
  out->assign(s.data(), s.size());
  return absl::OkStatus();
}

// Reads text[at, at + n) as decimal digits.
bool ReadDigits(absl::string_view text, size_t at, size_t n, int* out) {
  int value = 0;
  for (size_t i = at; i < at + n; ++i) {
    const unsigned digit = static_cast<unsigned char>(text[i]) - '0';
    if (digit > 9) return false;
    value = value * 10 + static_cast<int>(digit);
  }
  *out = value;
  return true;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// Days from 1970-01-01 to the given proleptic Gregorian date (Howard
// Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year =
      (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

}  // namespace

std::optional<absl::Time> ParseUtcTimestamp(absl::string_view text) {
  // "YYYY-MM-DDTHH:MM:SS" "Z", or with "." and 1 to 9 digits before the Z.
  constexpr size_t kSecondsEnd = 19;
  if (text.size() < kSecondsEnd + 1 || text.back() != 'Z') return std::nullopt;
  int year, month, day, hour, minute, second;
  if (!ReadDigits(text, 0, 4, &year) || text[4] != '-' ||
      !ReadDigits(text, 5, 2, &month) || text[7] != '-' ||
      !ReadDigits(text, 8, 2, &day) || text[10] != 'T' ||
      !ReadDigits(text, 11, 2, &hour) || text[13] != ':' ||
      !ReadDigits(text, 14, 2, &minute) || text[16] != ':' ||
      !ReadDigits(text, 17, 2, &second)) {
    return std::nullopt;
  }
  int nanos = 0;
  if (text.size() > kSecondsEnd + 1) {
    const size_t fraction_digits = text.size() - kSecondsEnd - 2;  // '.', 'Z'
    if (text[kSecondsEnd] != '.' || fraction_digits < 1 ||
        fraction_digits > 9 ||
        !ReadDigits(text, kSecondsEnd + 1, fraction_digits, &nanos)) {
      return std::nullopt;
    }
    for (size_t i = fraction_digits; i < 9; ++i) nanos *= 10;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) ||
      hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 +
                          hour * 3600 + minute * 60 + second;
  return absl::FromUnixSeconds(seconds) + absl::Nanoseconds(nanos);
}

absl::StatusOr<absl::Time> ParseAlertTime(absl::string_view text) {
  if (std::optional<absl::Time> t = ParseUtcTimestamp(text)) return *t;
  absl::Time t;
  std::string err;
  // absl::ParseTime also takes "infinite-future" and "infinite-past".
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err) ||
      t == absl::InfiniteFuture() || t == absl::InfinitePast()) {
    return Invalid(
        absl::StrCat("\"time\" is not an RFC 3339 timestamp: \"", text, "\""));
  }
  return t;
}

bool AlertTimeInRange(absl::Time time) {
  return time >= absl::FromUnixNanos(std::numeric_limits<int64_t>::min()) &&
         time <= absl::FromUnixNanos(std::numeric_limits<int64_t>::max());
}

bool AllNumbersFinite(const json::value& value) {
  switch (value.kind()) {
    case json::kind::double_:
      return std::isfinite(value.get_double());
    case json::kind::object:
      for (const auto& member : value.get_object()) {
        if (!AllNumbersFinite(member.value())) return false;
      }
      return true;
    case json::kind::array:
      for (const json::value& item : value.get_array()) {
        if (!AllNumbersFinite(item)) return false;
      }
      return true;
    default:
      return true;
  }
}

std::string FormatAlertTime(absl::Time time) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

absl::StatusOr<Alert> DecodeFalcoAlert(absl::string_view text) {
  std::error_code ec;
  // Most alerts parse within this buffer without touching the heap.
  unsigned char buffer[8192];
  json::monotonic_resource mr(buffer, sizeof(buffer));
  json::value doc =
      json::parse(json::string_view(text.data(), text.size()), ec, &mr);
  if (ec) {
    return Invalid(absl::StrCat("body is not valid JSON (", ec.message(), ")"));
  }
  if (!doc.is_object()) return Invalid("body must be a JSON object");
  const json::object& obj = doc.get_object();

  Alert alert;
  if (absl::Status s = ReadString(obj, "rule", &alert.rule); !s.ok()) return s;
  if (alert.rule.empty()) return Invalid("missing rule");

  std::string priority;
  if (absl::Status s = ReadString(obj, "priority", &priority); !s.ok()) {
    return s;
  }
  if (priority.empty()) return Invalid("missing priority");
  absl::StatusOr<Priority> p = ParsePriority(priority);
  if (!p.ok()) return Invalid(p.status().message());
  alert.priority = *p;

  std::string time;
  if (absl::Status s = ReadString(obj, "time", &time); !s.ok()) return s;
  if (time.empty()) return Invalid("missing time");
  absl::StatusOr<absl::Time> t = ParseAlertTime(time);
  if (!t.ok()) return t.status();
  if (absl::ToCivilYear(*t, absl::UTCTimeZone()).year() <= 1) {
    return Invalid("\"time\" is zero");
  }
  if (!AlertTimeInRange(*t)) {
    return Invalid(
        absl::StrCat("\"time\" is out of range: \"", time,
                     "\" (corral keeps times from 1677-09-21 to 2262-04-11)"));
  }
  alert.time = *t;

  const json::value* fields = obj.if_contains("output_fields");
  if (fields == nullptr || fields->is_null()) {
    return Invalid("missing output_fields");
  }
  if (!fields->is_object())
    return Invalid("\"output_fields\" must be an object");
  if (fields->get_object().empty()) return Invalid("empty output_fields");
  if (!AllNumbersFinite(*fields)) {
    return Invalid("\"output_fields\" holds a number out of range");
  }
  alert.output_fields_json = json::serialize(*fields);

  if (absl::Status s = ReadString(obj, "output", &alert.output); !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadString(obj, "source", &alert.source); !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadString(obj, "hostname", &alert.hostname); !s.ok()) {
    return s;
  }
  if (const json::value* tags = obj.if_contains("tags");
      tags != nullptr && !tags->is_null()) {
    if (!tags->is_array())
      return Invalid("\"tags\" must be an array of strings");
    for (const json::value& tag : tags->get_array()) {
      if (!tag.is_string())
        return Invalid("\"tags\" must be an array of strings");
      alert.tags.emplace_back(tag.get_string().data(), tag.get_string().size());
    }
  }
  return alert;
}

void AppendFalcoAlert(std::string* out, const Alert& a) {
  out->append("{\"hostname\":");
  AppendJsonString(out, a.hostname);
  out->append(",\"output\":");
  AppendJsonString(out, a.output);
  out->append(",\"output_fields\":");
  out->append(a.output_fields_json);
  out->append(",\"priority\":");
  AppendJsonString(out, PriorityName(a.priority));
  out->append(",\"rule\":");
  AppendJsonString(out, a.rule);
  absl::StrAppend(out, ",\"seq\":", a.seq, ",\"source\":");
  AppendJsonString(out, a.source);
  out->append(",\"tags\":[");
  for (size_t i = 0; i < a.tags.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(out, a.tags[i]);
  }
  out->append("],\"time\":");
  AppendJsonString(out, FormatAlertTime(a.time));
  out->append(",\"uuid\":");
  AppendJsonString(out, a.uuid);
  out->push_back('}');
}

std::string EncodeFalcoAlert(const Alert& alert) {
  std::string out;
  out.reserve(256 + alert.output.size() + alert.output_fields_json.size());
  AppendFalcoAlert(&out, alert);
  return out;
}

json::object ParseOutputFields(const Alert& alert) {
  // Deeper than Boost.JSON's default of 32: fields that came over gRPC
  // (protobuf Struct values) may nest deeper than a `POST /` body can.
  json::parse_options options;
  options.max_depth = 256;
  std::error_code ec;
  json::value v = json::parse(alert.output_fields_json, ec, {}, options);
  if (ec || !v.is_object()) return {};
  return std::move(v.get_object());
}

std::string SerializeOutputFields(const json::object& fields) {
  return json::serialize(fields);
}

std::string OutputFieldText(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string:
      return std::string(v.get_string());
    case json::kind::null:
      return "<NA>";
    case json::kind::bool_:
      return v.get_bool() ? "true" : "false";
    case json::kind::int64:
      return absl::StrCat(v.get_int64());
    case json::kind::uint64:
      return absl::StrCat(v.get_uint64());
    case json::kind::double_: {
      // The shortest text that reads back as the same number, so that no
      // digit of a value that arrived is lost.
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v.get_double());
      return ec == std::errc() ? std::string(buf, end)
                               : absl::StrCat(v.get_double());
    }
    default:
      return json::serialize(v);
  }
}

}  // namespace corral::core
