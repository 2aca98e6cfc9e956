#include "outputs/line_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/alert_json.h"
#include "core/file_util.h"

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
    // One alert, one line: a line break inside the output must not split it.
    absl::StrAppend(
        out, absl::StrReplaceAll(alert.output, {{"\r", "\\r"}, {"\n", "\\n"}}));
  } else {
    absl::StrAppend(out, core::FormatAlertTime(alert.time), " ",
                    core::PriorityName(alert.priority), " ", alert.rule);
  }
  out->push_back('\n');
}

SendResult LineWriter::Write(std::span<const core::AlertPtr> batch) {
  std::string buffer;
  for (const core::AlertPtr& alert : batch)
    AppendLine(&buffer, *alert, format_);

  absl::MutexLock lock(&mu_);
  struct stat st;
  const bool regular = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  const off_t size_before = regular ? st.st_size : 0;
  size_t written = 0;
  absl::Status status = core::WriteAll(fd_, buffer, &written);
  if (status.ok()) return SendResult::Delivered();
  if (regular && written > 0) (void)::ftruncate(fd_, size_before);
  // A full disk or a closed pipe may clear up; the queue retries with backoff.
  return SendResult::Retry(
      absl::StrCat("cannot write to ", what_, ": ", status.message()));
}

}  // namespace corral::outputs
