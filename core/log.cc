#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/file_util.h"
#include "core/json_util.h"

namespace corral::core {
namespace {

std::atomic<int> g_level = [] {
  LogLevel level = LogLevel::kInfo;
  if (const char* env = std::getenv("CORRAL_LOG_LEVEL"))
    ParseLogLevel(env, &level);
  return static_cast<int>(level);
}();

constexpr absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

bool NeedsQuotes(absl::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

// logfmt values are bare when they can be, otherwise quoted with the same
// escapes as JSON strings.
void AppendValue(std::string* out, absl::string_view v) {
  if (NeedsQuotes(v)) {
    AppendJsonString(out, v);
  } else {
    absl::StrAppend(out, v);
  }
}

}  // namespace

bool ParseLogLevel(absl::string_view name, LogLevel* level) {
  for (LogLevel l :
       {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (absl::EqualsIgnoreCase(name, LevelName(l))) {
      *level = l;
      return true;
    }
  }
  if (absl::EqualsIgnoreCase(name, "warning")) {
    *level = LogLevel::kWarn;
    return true;
  }
  return false;
}

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level; }

void Log(LogLevel level, absl::string_view msg,
         std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  std::string line;
  line.reserve(128);
  line.append("ts=");
  line.append(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                               absl::UTCTimeZone()));
  line.append(" level=");
  absl::StrAppend(&line, LevelName(level));
  line.append(" msg=");
  AppendValue(&line, msg);
  for (const auto& [key, value] : fields) {
    line.push_back(' ');
    absl::StrAppend(&line, key);
    line.push_back('=');
    AppendValue(&line, value);
  }
  line.push_back('\n');
  (void)WriteAll(STDERR_FILENO, line);  // nowhere left to report a failure
}

std::string RedactUrl(absl::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == absl::string_view::npos) return "***";
  size_t host_end = url.find_first_of("/?#", scheme + 3);
  absl::string_view authority = url.substr(
      scheme + 3, host_end == absl::string_view::npos ? absl::string_view::npos
                                                      : host_end - scheme - 3);
  // Drop userinfo (user:password@host).
  if (size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  std::string out(url.substr(0, scheme + 3));
  absl::StrAppend(&out, authority);
  if (host_end != absl::string_view::npos && host_end + 1 < url.size()) {
    out.append("/***");
  }
  return out;
}

}  // namespace corral::core
