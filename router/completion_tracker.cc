#include "router/completion_tracker.h"

namespace corral::router {

void CompletionTracker::Finish(uint64_t seq) {
  if (seq <= low_watermark_) return;
  if (seq != low_watermark_ + 1) {
    finished_above_.insert(seq);
    return;
  }
  low_watermark_ = seq;
  // Absorb the run of already-finished seqs that now continues the watermark.
  auto it = finished_above_.begin();
  while (it != finished_above_.end() && *it == low_watermark_ + 1) {
    low_watermark_ = *it;
    it = finished_above_.erase(it);
  }
}

}  // namespace corral::router
