#ifndef CORRAL_OUTPUTS_LINE_WRITER_H_
#define CORRAL_OUTPUTS_LINE_WRITER_H_

#include <span>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/alert.h"
#include "core/config_node.h"
#include "outputs/output.h"

namespace corral::outputs {

// The line formats of the stdout and file outputs.
enum class LineFormat {
  kJson,  // one Falco alert JSON per line
  kText,  // Falco's text line: the alert's `output`, or "time priority rule"
          // when that is empty; line breaks inside it become "\n"
};

// Parses "json" / "text" from `map` key `format`.
LineFormat ReadLineFormat(core::ConfigMap& map);

// Appends one line (with '\n') for `alert`.
void AppendLine(std::string* out, const core::Alert& alert, LineFormat format);

// Writes batches of alert lines to one file descriptor for the stdout and file
// outputs. Thread-safe: one batch is written whole before the next starts, so
// lines never interleave even where write(2) is not atomic (pipes over 4 KiB).
// On a failed write to a regular file, what the batch wrote is cut off again,
// so a retry never leaves half a line behind.
class LineWriter {
 public:
  // `what` names the destination in errors ("stdout", the file's path).
  LineWriter(int fd, LineFormat format, std::string what)
      : fd_(fd), format_(format), what_(std::move(what)) {}

  SendResult Write(std::span<const core::AlertPtr> batch);

 private:
  const int fd_;
  const LineFormat format_;
  const std::string what_;
  absl::Mutex mu_;  // one batch at a time
};

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_LINE_WRITER_H_
