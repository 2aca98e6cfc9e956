#include "router/dead_letter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "core/alert_json.h"
#include "core/json_util.h"

namespace corral::router {

DeadLetterFile::DeadLetterFile(std::string path, core::Clock* clock)
    : path_(std::move(path)), clock_(clock) {}

DeadLetterFile::~DeadLetterFile() {
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) ::close(fd_);
}

absl::Status DeadLetterFile::Open() {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create dead-letter directory ", parent.string(),
                     ": ", ec.message()));
  }
  int fd =
      ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open dead-letter file ", path_, ": ", std::strerror(errno)));
  }
  absl::MutexLock lock(&mu_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  return absl::OkStatus();
}

absl::Status DeadLetterFile::Write(const core::Alert& alert,
                                   absl::string_view output,
                                   absl::string_view reason, int attempts,
                                   int last_status) {
  std::string line = "{\"time\":";
  core::AppendJsonString(&line, core::FormatAlertTime(clock_->Now()));
  line.append(",\"output\":");
  core::AppendJsonString(&line, output);
  line.append(",\"reason\":");
  core::AppendJsonString(&line, reason);
  absl::StrAppend(&line, ",\"attempts\":", attempts,
                  ",\"last_status\":", last_status, ",\"alert\":");
  core::AppendFalcoAlert(&line, alert);
  line.append("}\n");

  absl::MutexLock lock(&mu_);
  if (fd_ < 0)
    return absl::FailedPreconditionError("dead-letter file is not open");
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::UnavailableError(absl::StrCat(
          "cannot write dead-letter file ", path_, ": ", std::strerror(errno)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot sync dead-letter file ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace corral::router
