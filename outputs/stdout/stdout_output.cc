#include "outputs/stdout/stdout_output.h"

#include <unistd.h>

#include "outputs/line_writer.h"

namespace corral::outputs {
namespace {

class StdoutOutput : public Output {
 public:
  StdoutOutput(LineFormat format, int64_t max_batch)
      : format_(format), max_batch_(max_batch) {}

  SendResult Send(std::span<const core::AlertPtr> batch, absl::Time) override {
    return WriteLines(STDOUT_FILENO, batch, format_, "stdout");
  }
  int64_t MaxBatchItems() const override { return max_batch_; }

 private:
  const LineFormat format_;
  const int64_t max_batch_;
};

}  // namespace

std::unique_ptr<Output> CreateStdoutOutput(const core::OutputConfig& common,
                                           core::ConfigMap& map,
                                           const OutputContext&) {
  return std::make_unique<StdoutOutput>(ReadLineFormat(map),
                                        common.batch.max_items);
}

}  // namespace corral::outputs
