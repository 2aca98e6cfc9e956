#ifndef CORRAL_ROUTER_COMPLETION_TRACKER_H_
#define CORRAL_ROUTER_COMPLETION_TRACKER_H_

#include <cstdint>
#include <set>

namespace corral::router {

// One output's delivery progress over corral's sequence numbers, exact under
// out-of-order completion (concurrency > 1, retries): a low watermark (every
// seq ≤ it is finished) plus the finished seqs above it. "Finished" means
// delivered, dead-lettered, or not routed to this output. This is what the
// spool persists per output, so a restart replays exactly the unfinished seqs.
// Not thread-safe: the owner locks.
class CompletionTracker {
 public:
  explicit CompletionTracker(uint64_t low_watermark = 0)
      : low_watermark_(low_watermark) {}

  // Marks `seq` finished; seqs at or below the watermark are ignored.
  void Finish(uint64_t seq);
  uint64_t low_watermark() const { return low_watermark_; }
  const std::set<uint64_t>& finished_above() const { return finished_above_; }
  bool IsFinished(uint64_t seq) const {
    return seq <= low_watermark_ || finished_above_.count(seq) > 0;
  }

 private:
  uint64_t low_watermark_;
  std::set<uint64_t> finished_above_;
};

}  // namespace corral::router

#endif  // CORRAL_ROUTER_COMPLETION_TRACKER_H_
