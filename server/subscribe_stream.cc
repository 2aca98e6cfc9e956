#include "server/subscribe_stream.h"

#include <grpcpp/impl/codegen/proto_utils.h>

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

absl::StatusOr<grpc::ByteBuffer> AlertWireCache::Get(const core::Alert& alert) {
  Slot& slot = slots_[alert.seq % slots_.size()];
  {
    absl::MutexLock lock(&slot.mu);
    if (slot.seq == alert.seq) return slot.bytes;  // shares the slices
  }
  v1::Alert proto;
  AlertToProto(alert, &proto);
  grpc::ByteBuffer bytes;
  bool own_buffer = false;
  const grpc::Status serialized =
      grpc::SerializationTraits<v1::Alert>::Serialize(proto, &bytes,
                                                      &own_buffer);
  if (!serialized.ok()) {
    // Only a message over 2 GiB fails; the spool refuses those long before.
    // Not cached: an empty buffer must never reach StartWrite.
    return absl::InternalError(absl::StrCat("cannot serialize alert seq ",
                                            alert.seq, ": ",
                                            serialized.error_message()));
  }
  absl::MutexLock lock(&slot.mu);
  slot.seq = alert.seq;
  slot.bytes = bytes;
  return bytes;
}

StreamWaker::StreamWaker() : thread_([this] { Loop(); }) {}

StreamWaker::~StreamWaker() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void StreamWaker::Wake(SubscribeStream* stream) {
  absl::MutexLock lock(&mu_);
  ready_.push_back(stream);
}

void StreamWaker::Forget(SubscribeStream* stream) {
  absl::MutexLock lock(&mu_);
  std::erase(ready_, stream);
  auto not_pumping = [this, stream]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return pumping_ != stream;
  };
  mu_.Await(absl::Condition(&not_pumping));
}

void StreamWaker::Loop() {
  auto has_work = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !ready_.empty() || stopping_;
  };
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(&has_work));
    if (ready_.empty()) return;  // stopping
    SubscribeStream* stream = ready_.front();
    ready_.pop_front();
    pumping_ = stream;
    mu_.Unlock();
    stream->Pump();
    mu_.Lock();
    pumping_ = nullptr;
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
    catch_up_ = std::thread([this, after = *after_seq] { CatchUp(after); });
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
                                 [this] { shared_.waker->Wake(this); });
}

void SubscribeStream::Pump() {
  core::AlertPtr next;
  grpc::Status end;
  {
    absl::MutexLock lock(&mu_);
    if (writing_ || finished_) return;
    if (!NextToWrite(&next, &end)) return;
    if (next == nullptr) {
      finished_ = true;
    } else {
      last_ = next->seq;
      writing_ = true;
    }
  }
  if (next == nullptr) {
    Finish(end);
    return;
  }
  absl::StatusOr<grpc::ByteBuffer> bytes = shared_.cache->Get(*next);
  if (!bytes.ok()) {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      finished_ = true;
      end =
          ResumableStatus(grpc::StatusCode::INTERNAL, bytes.status().message());
    }
    Finish(end);
    return;
  }
  out_ = *std::move(bytes);
  // No buffer hint: a hinted write completes before it is sent, and when
  // the stream then goes idle nothing would flush it.
  StartWrite(&out_);
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
    // The catch-up thread adds more, or ends, and pumps again.
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
  shared_.waker->Forget(this);
  // The catch-up thread stops at its next record now that the stream
  // finished (gRPC runs OnDone on its own threads, never on this one).
  if (catch_up_.joinable()) catch_up_.join();
  delete this;
}

void SubscribeStream::CatchUp(uint64_t after_seq) {
  // Most of the backlog first, without holding a live buffer; then join the
  // live feed and read on from where the first read stopped, for what became
  // durable meanwhile. Every alert is in one of the two; NextToWrite() drops
  // the overlap by seq.
  router::SpoolCursor cursor{.after_seq = after_seq};
  absl::Status read;
  // Retention may have moved on since the request was checked; an
  // unpositioned read would then start past a gap.
  if (const uint64_t first = shared_.spool->first_seq();
      after_seq != 0 && after_seq + 1 < first) {
    read =
        absl::OutOfRangeError(absl::StrCat("the oldest alert kept is ", first));
  }
  if (read.ok()) read = ReadSpool(&cursor);
  bool go_on = read.ok();
  if (go_on) {
    absl::MutexLock lock(&mu_);
    go_on = !finished_;
    if (go_on) live_ = SubscribeLive();
  }
  if (go_on) read = ReadSpool(&cursor);
  {
    absl::MutexLock lock(&mu_);
    catching_up_ = false;
    if (absl::IsOutOfRange(read)) {
      end_ =
          grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                       absl::StrCat("alerts after seq ", cursor.after_seq,
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

absl::Status SubscribeStream::ReadSpool(router::SpoolCursor* cursor) {
  return shared_.spool->Read(cursor, [&](core::Alert alert) {
    bool kick = false;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return false;
      pending_.push_back(std::make_shared<const core::Alert>(std::move(alert)));
      kick = pending_.size() >= kTakeBatch;
    }
    if (!kick) return true;
    // A batch is ready: write it, and read on once half of it is out, so
    // that this thread wakes once per batch rather than once per alert.
    Pump();
    absl::MutexLock lock(&mu_);
    auto room = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return pending_.size() < kTakeBatch / 2 || finished_;
    };
    mu_.Await(absl::Condition(&room));
    return !finished_;
  });
}

}  // namespace corral::server
