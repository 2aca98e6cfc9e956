#include "outputs/line_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/alert_json.h"
#include "core/config_node.h"

namespace corral::outputs {

LineFormat ReadLineFormat(core::ConfigMap& map) {
  return map.Enum("format", "json", {"json", "text"}) == "text"
             ? LineFormat::kText
             : LineFormat::kJson;
}

void AppendLine(std::string* out, const core::Alert& alert, LineFormat format) {
  if (format == LineFormat::kJson) {
    core::AppendFalcoAlert(out, alert);
  } else if (!alert.output.empty()) {
    absl::StrAppend(out, alert.output);
  } else {
    absl::StrAppend(out, core::FormatAlertTime(alert.time), " ",
                    core::PriorityName(alert.priority), " ", alert.rule);
  }
  out->push_back('\n');
}

SendResult WriteLines(int fd, std::span<const core::AlertPtr> batch,
                      LineFormat format, absl::string_view what) {
  std::string buffer;
  for (const core::AlertPtr& alert : batch) AppendLine(&buffer, *alert, format);
  const char* p = buffer.data();
  size_t left = buffer.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      // A full disk or a closed pipe may clear up; let the queue retry with
      // backoff.
      return SendResult::Retry(
          absl::StrCat("cannot write to ", what, ": ", std::strerror(errno)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return SendResult::Delivered();
}

}  // namespace corral::outputs
