#ifndef CORRAL_CORE_FILE_UTIL_H_
#define CORRAL_CORE_FILE_UTIL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace corral::core {

// The whole file. Errors carry the OS reason (NotFound, PermissionDenied, ...)
// and name the path: "cannot read /etc/corral/ca.pem: No such file or
// directory".
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Writes all of `data` to `fd`, continuing after short writes and EINTR.
// On failure returns the OS reason; `*written` (if given) says how many bytes
// made it, so a caller can undo a partial line.
absl::Status WriteAll(int fd, absl::string_view data,
                      size_t* written = nullptr);
// The same at byte `offset` of the file (pwrite), whatever its position.
absl::Status WriteAllAt(int fd, absl::string_view data, uint64_t offset,
                        size_t* written = nullptr);

}  // namespace corral::core

#endif  // CORRAL_CORE_FILE_UTIL_H_
