#include "outputs/stdout/stdout_output.h"

#include <unistd.h>

#include "outputs/line_writer.h"

namespace corral::outputs {
namespace {

class StdoutOutput : public Output {
 public:
  StdoutOutput(LineFormat format, int64_t max_batch)
      : writer_(STDOUT_FILENO, format, "stdout"), max_batch_(max_batch) {}

  SendResult Send(std::span<const core::AlertPtr> batch, absl::Time) override {
    return writer_.Write(batch);
  }
  int64_t MaxBatchItems() const override { return max_batch_; }

 private:
  LineWriter writer_;
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
