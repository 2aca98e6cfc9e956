#include "outputs/http_classifier.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace corral::outputs {
namespace {

constexpr size_t kReasonBodyBytes = 200;

// The start of a response body as one printable line: control characters become
// spaces, runs of spaces collapse, and a UTF-8 sequence is never cut in half.
std::string BodySnippet(absl::string_view body) {
  if (body.size() > kReasonBodyBytes) {
    size_t end = kReasonBodyBytes;
    // Back off over continuation bytes (10xxxxxx) so we stop on a character
    // boundary.
    while (end > 0 && (static_cast<unsigned char>(body[end]) & 0xC0) == 0x80)
      --end;
    body = body.substr(0, end);
  }
  std::string out;
  out.reserve(body.size());
  bool space = false;
  for (char c : body) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F || c == ' ') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

bool Retryable(int status) {
  return status == 408 || status == 429 ||
         (status >= 500 && status <= 599 && status != 501);
}

}  // namespace

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now) {
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return std::nullopt;
  bool negative = false;
  absl::string_view digits = value;
  if (digits[0] == '-') {
    negative = true;
    digits.remove_prefix(1);
  }
  if (!digits.empty() && std::all_of(digits.begin(), digits.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    if (negative) return absl::ZeroDuration();
    // Clamped so that the queue's arithmetic on it cannot overflow; its max_age
    // still rules.
    constexpr uint64_t kMaxSeconds = uint64_t{1} << 40;
    uint64_t seconds;
    if (!absl::SimpleAtoi(digits, &seconds))
      seconds = kMaxSeconds;  // more digits than fit
    return absl::Seconds(static_cast<int64_t>(std::min(seconds, kMaxSeconds)));
  }
  // IMF-fixdate (the preferred form), then the two obsolete forms HTTP still
  // accepts.
  static constexpr const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",  // Sun, 06 Nov 1994 08:49:37 GMT
      "%A, %d-%b-%y %H:%M:%S GMT",  // Sunday, 06-Nov-94 08:49:37 GMT
      "%a %b %e %H:%M:%S %Y",       // Sun Nov  6 08:49:37 1994
  };
  for (const char* format : kFormats) {
    absl::Time when;
    std::string err;
    if (absl::ParseTime(format, value, absl::UTCTimeZone(), &when, &err)) {
      return std::max(when - now, absl::ZeroDuration());
    }
  }
  return std::nullopt;
}

SendResult ClassifyHttp(const absl::StatusOr<core::HttpResponse>& response,
                        absl::Time now) {
  if (!response.ok()) {
    // The client's messages are already free of URL paths and queries.
    return SendResult::Retry(std::string(response.status().message()));
  }
  const int status = response->status;
  if (status >= 200 && status <= 299) return SendResult::Delivered(status);

  std::string reason = absl::StrCat("HTTP ", status);
  if (std::string snippet = BodySnippet(response->body); !snippet.empty()) {
    absl::StrAppend(&reason, ": ", snippet);
  }
  if (!Retryable(status))
    return SendResult::Permanent(std::move(reason), status);

  absl::Duration after = absl::ZeroDuration();
  if (std::string header = response->Header("retry-after"); !header.empty()) {
    if (std::optional<absl::Duration> d = ParseRetryAfter(header, now))
      after = *d;
  }
  return SendResult::Retry(std::move(reason), status, after);
}

}  // namespace corral::outputs
