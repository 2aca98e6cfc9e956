#include "outputs/file/file_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "outputs/line_writer.h"

namespace corral::outputs {
namespace {

class FileOutput : public Output {
 public:
  FileOutput(std::string path, LineFormat format, int64_t max_batch)
      : path_(std::move(path)), format_(format), max_batch_(max_batch) {}
  ~FileOutput() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Start() override {
    std::error_code ec;
    std::filesystem::path parent = std::filesystem::path(path_).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    fd_ =
        ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot open ", path_, ": ", std::strerror(errno)));
    }
    writer_ = std::make_unique<LineWriter>(fd_, format_, path_);
    return absl::OkStatus();
  }

  SendResult Send(std::span<const core::AlertPtr> batch, absl::Time) override {
    return writer_->Write(batch);
  }
  int64_t MaxBatchItems() const override { return max_batch_; }

 private:
  const std::string path_;
  const LineFormat format_;
  const int64_t max_batch_;
  int fd_ = -1;
  std::unique_ptr<LineWriter> writer_;  // set by Start()
};

}  // namespace

std::unique_ptr<Output> CreateFileOutput(const core::OutputConfig& common,
                                         core::ConfigMap& map,
                                         const OutputContext&) {
  std::string path = map.RequiredString("path");
  LineFormat format = ReadLineFormat(map);
  if (path.empty()) return nullptr;
  return std::make_unique<FileOutput>(std::move(path), format,
                                      common.batch.max_items);
}

}  // namespace corral::outputs
