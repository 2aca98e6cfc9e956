#include "core/file_util.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <optional>

#include "absl/strings/str_cat.h"

namespace corral::core {

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", path));
  }
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  const int err = std::ferror(f) ? errno : 0;
  std::fclose(f);
  if (err != 0) {
    return absl::ErrnoToStatus(err, absl::StrCat("cannot read ", path));
  }
  return text;
}

namespace {

// write(2) at the file position, or pwrite(2) at `offset` when it is set.
absl::Status WriteAllImpl(int fd, absl::string_view data,
                          std::optional<uint64_t> offset, size_t* written) {
  size_t done = 0;
  absl::Status status;
  while (done < data.size()) {
    const ssize_t n = offset
                          ? ::pwrite(fd, data.data() + done, data.size() - done,
                                     static_cast<off_t>(*offset + done))
                          : ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = absl::ErrnoToStatus(errno, "write failed");
      break;
    }
    if (n == 0) {
      status = absl::UnavailableError("write failed: wrote nothing");
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (written != nullptr) *written = done;
  return status;
}

}  // namespace

absl::Status WriteAll(int fd, absl::string_view data, size_t* written) {
  return WriteAllImpl(fd, data, std::nullopt, written);
}

absl::Status WriteAllAt(int fd, absl::string_view data, uint64_t offset,
                        size_t* written) {
  return WriteAllImpl(fd, data, offset, written);
}

}  // namespace corral::core
