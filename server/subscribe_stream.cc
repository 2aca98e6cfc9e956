#include "server/subscribe_stream.h"

#include <grpcpp/support/slice.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/alert_proto.h"

namespace corral::server {
namespace {

// Alerts taken from the feed at a time: one lock round per batch rather than
// per alert.
constexpr size_t kTakeBatch = 256;

}  // namespace

grpc::ByteBuffer AlertWireCache::Get(const core::Alert& alert) {
  Slot& slot = slots_[alert.seq % slots_.size()];
  {
    absl::MutexLock lock(&slot.mu);
    if (slot.seq == alert.seq) return slot.bytes;  // shares the slices
  }
  grpc::Slice slice(SerializeAlert(alert));
  grpc::ByteBuffer bytes(&slice, 1);
  absl::MutexLock lock(&slot.mu);
  slot.seq = alert.seq;
  slot.bytes = bytes;
  return bytes;
}

StreamRunner::StreamRunner(void (SubscribeStream::*work)(), int threads)
    : work_(work) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

StreamRunner::~StreamRunner() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void StreamRunner::Queue(SubscribeStream* stream) {
  absl::MutexLock lock(&mu_);
  if (std::find(running_.begin(), running_.end(), stream) != running_.end()) {
    if (std::find(again_.begin(), again_.end(), stream) == again_.end()) {
      again_.push_back(stream);
    }
  } else if (std::find(queue_.begin(), queue_.end(), stream) == queue_.end()) {
    queue_.push_back(stream);
  }
}

void StreamRunner::DropLocked(SubscribeStream* stream) {
  std::erase(queue_, stream);
  std::erase(again_, stream);
}

void StreamRunner::Forget(SubscribeStream* stream) {
  absl::MutexLock lock(&mu_);
  DropLocked(stream);
  auto not_running = [this, stream]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return std::find(running_.begin(), running_.end(), stream) ==
           running_.end();
  };
  mu_.Await(absl::Condition(&not_running));
  // A run that ended meanwhile may have queued it again.
  DropLocked(stream);
}

void StreamRunner::Loop() {
  auto has_work = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || stopping_;
  };
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(&has_work));
    if (queue_.empty()) return;  // stopping
    SubscribeStream* stream = queue_.front();
    queue_.pop_front();
    running_.push_back(stream);
    mu_.Unlock();
    (stream->*work_)();
    mu_.Lock();
    running_.erase(std::find(running_.begin(), running_.end(), stream));
    if (auto it = std::find(again_.begin(), again_.end(), stream);
        it != again_.end()) {
      again_.erase(it);
      queue_.push_back(stream);
    }
  }
}

SubscribeStream::SubscribeStream(const SubscribeShared& shared,
                                 router::OutputFilter filter,
                                 std::optional<uint64_t> after_seq)
    : shared_(shared), filter_(std::move(filter)) {
  if (after_seq.has_value()) {
    {
      absl::MutexLock lock(&mu_);
      catching_up_ = true;
      last_ = *after_seq;
    }
    cursor_.after_seq = *after_seq;
    shared_.catch_up->Queue(this);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    live_ = SubscribeLive();
    // Ended before it wrote anything, the stream tells the client to resume
    // from here, not from 0 (which would be everything retained).
    last_ = live_->starts_after();
  }
  // Writes what arrived meanwhile, or goes idle until the ready hook fires.
  Pump();
}

std::unique_ptr<router::AlertFeed::Subscription>
SubscribeStream::SubscribeLive() {
  return shared_.feed->Subscribe(filter_, shared_.subscriber_buffer,
                                 [this] { shared_.waker->Queue(this); });
}

void SubscribeStream::Pump() {
  core::AlertPtr next;
  grpc::Status end;
  bool act = false;  // write `next`, or finish with `end` when it is null
  bool read_on = false;
  bool more = false;  // another alert is pending: this write may wait for it
  {
    absl::MutexLock lock(&mu_);
    if (writing_ || finished_) return;
    act = NextToWrite(&next, &end);
    // Half a batch is out: the catch-up reads the next one meanwhile.
    if (wants_room_ && pending_.size() < kTakeBatch / 2) {
      wants_room_ = false;
      read_on = true;
    }
    if (act && next == nullptr) {
      finished_ = true;
    } else if (act) {
      last_ = next->seq;
      writing_ = true;
      // Not the first: its initial metadata would wait for the flush too.
      more = wrote_any_ && AnotherIsPending();
      wrote_any_ = true;
    }
  }
  if (read_on) shared_.catch_up->Queue(this);
  if (!act) return;
  if (next == nullptr) {
    Finish(end);
    return;
  }
  out_ = shared_.cache->Get(*next);
  // A hinted write completes before it is sent, so it is hinted only when
  // the next write surely follows at once: that one, or the last of the run
  // (never hinted), sends them together, one transport write for many
  // messages. Unhinted, every message costs a sendmsg of its own.
  grpc::WriteOptions options;
  if (more) options.set_buffer_hint();
  StartWrite(&out_, options);
}

bool SubscribeStream::AnotherIsPending() const {
  // Stops at the first alert to write: those it passes are dropped by the
  // next NextToWrite() anyway, so the scans cost one look per alert.
  for (const core::AlertPtr& alert : pending_) {
    if (alert->seq > last_ && filter_.Matches(*alert)) return true;
  }
  return false;
}

bool SubscribeStream::NextToWrite(core::AlertPtr* next, grpc::Status* end) {
  if (cancelled_) {
    *end = ResumableStatus(grpc::StatusCode::CANCELLED, "client went away");
    return true;
  }
  while (true) {
    // Alerts the catch-up read but the filter refuses, and alerts of the live
    // feed the catch-up already looked at, only move last_ on.
    while (!pending_.empty()) {
      core::AlertPtr& front = pending_.front();
      if (front->seq > last_ && filter_.Matches(*front)) break;
      last_ = std::max(last_, front->seq);
      pending_.pop_front();
    }
    if (!pending_.empty()) {
      *next = std::move(pending_.front());
      pending_.pop_front();
      return true;
    }
    if (end_.has_value()) {
      *end = *end_;
      return true;
    }
    // The catch-up adds more, or ends, and pumps again.
    if (catching_up_) return false;
    if (overflowed_) {
      *end = ResumableStatus(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("subscriber too slow: more than ",
                       shared_.subscriber_buffer, " alerts waited for it"));
      return true;
    }
    if (closed_) {
      *end = ResumableStatus(grpc::StatusCode::UNAVAILABLE,
                             "corral is shutting down");
      return true;
    }
    router::AlertFeed::Batch batch = live_->TryTake(kTakeBatch);
    if (batch.alerts.empty() && !batch.overflowed && !batch.closed) {
      return false;  // idle: the ready hook wakes this stream
    }
    std::move(batch.alerts.begin(), batch.alerts.end(),
              std::back_inserter(pending_));
    overflowed_ = batch.overflowed;
    closed_ = batch.closed;
  }
}

grpc::Status SubscribeStream::ResumableStatus(grpc::StatusCode code,
                                              absl::string_view why) const {
  return grpc::Status(
      code, absl::StrCat(why, "; resubscribe with after_seq=", last_));
}

void SubscribeStream::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      // The call is over (cancelled or broken); Finish is still owed.
      if (finished_) return;
      finished_ = true;
    }
  }
  if (!ok) {
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    return;
  }
  Pump();
}

void SubscribeStream::OnCancel() {
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    // A write in flight completes, failed or not; either way the stream
    // finishes there (see NextToWrite).
    if (writing_ || finished_) return;
    finished_ = true;
  }
  Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
}

void SubscribeStream::OnDone() {
  {
    absl::MutexLock lock(&mu_);
    live_.reset();  // no ready hook runs after this
  }
  // The waker first: a Pump of its own may queue a catch-up step. A step
  // that runs now stops at its first record, the stream being finished.
  shared_.waker->Forget(this);
  shared_.catch_up->Forget(this);
  delete this;
}

void SubscribeStream::CatchUpStep() {
  // Most of the backlog first, without holding a live buffer; then join the
  // live feed and read on from where the first read stopped, for what became
  // durable meanwhile. Every alert is in one of the two; NextToWrite() drops
  // the overlap by seq.
  absl::Status read;
  // Retention may have moved on since the request was checked; an
  // unpositioned read would then start past a gap.
  if (const uint64_t first = shared_.spool->first_seq();
      cursor_.segment == 0 && cursor_.after_seq != 0 &&
      cursor_.after_seq + 1 < first) {
    read =
        absl::OutOfRangeError(absl::StrCat("the oldest alert kept is ", first));
  }
  while (read.ok()) {
    bool full = false, finished = false, caught_up = false;
    read = shared_.spool->Read(&cursor_, [&](core::Alert alert) {
      if (join_seq_.has_value() && alert.seq > *join_seq_) {
        caught_up = true;  // the live feed holds this one and what follows
        return false;
      }
      absl::MutexLock lock(&mu_);
      if (finished_) {
        finished = true;
        return false;
      }
      pending_.push_back(std::make_shared<const core::Alert>(std::move(alert)));
      full = pending_.size() >= kTakeBatch;
      return !full;
    });
    if (finished) return;
    if (!read.ok() || caught_up || (join_seq_.has_value() && !full)) break;
    if (full) {
      // A batch is ready: write it, and read the next once half of it is out
      // (Pump queues this step again then), so that a slow client holds no
      // thread. A batch the filter mostly refused is gone already: the next
      // step goes to the back of the queue, behind other streams.
      Pump();
      {
        absl::MutexLock lock(&mu_);
        if (finished_) return;
        if (pending_.size() >= kTakeBatch / 2) {
          wants_room_ = true;
          return;
        }
      }
      shared_.catch_up->Queue(this);
      return;
    }
    // The backlog is read: join the live feed, then read what became durable
    // before the feed's first alert.
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    live_ = SubscribeLive();
    join_seq_ = live_->starts_after();
  }
  EndCatchUp(read);
}

void SubscribeStream::EndCatchUp(const absl::Status& read) {
  {
    absl::MutexLock lock(&mu_);
    catching_up_ = false;
    if (absl::IsOutOfRange(read)) {
      end_ =
          grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                       absl::StrCat("alerts after seq ", cursor_.after_seq,
                                    " are no longer retained (", read.message(),
                                    "); resubscribe without after_seq, or with "
                                    "after_seq=0 for everything retained"));
    } else if (!read.ok()) {
      end_ = ResumableStatus(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("cannot read the spool: ", read.message()));
    }
  }
  Pump();
}

}  // namespace corral::server
