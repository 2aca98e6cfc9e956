#include "router/dead_letter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/alert_json.h"
#include "core/file_util.h"
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

absl::Status DeadLetterFile::Write(std::span<const core::AlertPtr> alerts,
                                   absl::string_view output,
                                   absl::string_view reason, int attempts,
                                   int last_status) {
  // Everything but the alert is the same on every line of the batch.
  std::string head = "{\"time\":";
  core::AppendJsonString(&head, core::FormatAlertTime(clock_->Now()));
  head.append(",\"output\":");
  core::AppendJsonString(&head, output);
  head.append(",\"reason\":");
  core::AppendJsonString(&head, reason);
  absl::StrAppend(&head, ",\"attempts\":", attempts,
                  ",\"last_status\":", last_status, ",\"alert\":");
  std::string lines;
  for (const core::AlertPtr& alert : alerts) {
    lines.append(head);
    core::AppendFalcoAlert(&lines, *alert);
    lines.append("}\n");
  }

  return AppendDurably(lines);
}

absl::Status DeadLetterFile::WriteRejectedInput(absl::string_view input,
                                                absl::string_view message_id,
                                                absl::string_view reason,
                                                absl::string_view data) {
  std::string line = "{\"time\":";
  core::AppendJsonString(&line, core::FormatAlertTime(clock_->Now()));
  line.append(",\"input\":");
  core::AppendJsonString(&line, input);
  line.append(",\"message_id\":");
  core::AppendJsonString(&line, message_id);
  line.append(",\"reason\":");
  core::AppendJsonString(&line, reason);
  line.append(",\"data_base64\":");
  core::AppendJsonString(&line, absl::Base64Escape(data));
  line.append("}\n");
  return AppendDurably(line);
}

absl::Status DeadLetterFile::AppendDurably(const std::string& lines) {
  absl::MutexLock lock(&mu_);
  if (fd_ < 0) {
    return absl::FailedPreconditionError("dead-letter file is not open");
  }
  const off_t size_before = ::lseek(fd_, 0, SEEK_END);
  size_t written = 0;
  absl::Status status = core::WriteAll(fd_, lines, &written);
  if (status.ok() && ::fdatasync(fd_) != 0) {
    status = absl::ErrnoToStatus(errno, "fdatasync failed");
  }
  if (!status.ok()) {
    // Leave no half line behind for the next write to continue.
    if (written > 0 && size_before >= 0) (void)::ftruncate(fd_, size_before);
    return absl::UnavailableError(absl::StrCat("cannot write dead-letter file ",
                                               path_, ": ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace corral::router
