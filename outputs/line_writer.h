#ifndef CORRAL_OUTPUTS_LINE_WRITER_H_
#define CORRAL_OUTPUTS_LINE_WRITER_H_

#include <span>
#include <string>

#include "absl/status/status.h"
#include "core/alert.h"
#include "core/config_node.h"
#include "outputs/output.h"

namespace corral::outputs {

// The line formats of the stdout and file outputs.
enum class LineFormat {
  kJson,  // one Falco alert JSON per line
  kText,  // Falco's own text line: the alert's `output` (time priority rule
          // when it is empty)
};

// Parses "json" / "text" from `map` key `format`.
LineFormat ReadLineFormat(core::ConfigMap& map);

// Appends one line (with '\n') for `alert`.
void AppendLine(std::string* out, const core::Alert& alert, LineFormat format);

// Writes a whole batch of lines to `fd` with as few write(2) calls as the
// kernel allows, so that concurrent writers never interleave within a line.
// Retries on a short write or EINTR; any other failure is an error naming
// `what` (the file or "stdout").
SendResult WriteLines(int fd, std::span<const core::AlertPtr> batch,
                      LineFormat format, absl::string_view what);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_LINE_WRITER_H_
