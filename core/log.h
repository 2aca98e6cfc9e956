#ifndef CORRAL_CORE_LOG_H_
#define CORRAL_CORE_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace corral::core {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Structured logging: one logfmt line per event on stderr,
//   ts=2026-11-30T10:00:00.123Z level=info msg="listening" http=127.0.0.1:2801
// written with a single write(2), so lines from different threads never
// interleave. Callers must never pass secrets (tokens, keys, webhook URL
// paths): use RedactUrl() for URLs.
using LogField = std::pair<absl::string_view, absl::string_view>;

void Log(LogLevel level, absl::string_view msg,
         std::initializer_list<LogField> fields = {});
inline void LogDebug(absl::string_view msg,
                     std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kDebug, msg, f);
}
inline void LogInfo(absl::string_view msg,
                    std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kInfo, msg, f);
}
inline void LogWarn(absl::string_view msg,
                    std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kWarn, msg, f);
}
inline void LogError(absl::string_view msg,
                     std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kError, msg, f);
}

// Lines below `level` are dropped. Default: info, or CORRAL_LOG_LEVEL
// (debug|info|warn|error).
void SetLogLevel(LogLevel level);
bool ParseLogLevel(absl::string_view name, LogLevel* level);
bool LogEnabled(LogLevel level);

// Keeps a URL's scheme, host and port and hides the rest
// ("https://hooks.slack.com/***"), since webhook URLs carry their secret in the
// path or query.
std::string RedactUrl(absl::string_view url);

}  // namespace corral::core

#endif  // CORRAL_CORE_LOG_H_
