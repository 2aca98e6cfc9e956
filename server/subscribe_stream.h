#ifndef CORRAL_SERVER_SUBSCRIBE_STREAM_H_
#define CORRAL_SERVER_SUBSCRIBE_STREAM_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/alert.h"
#include "corral/v1/alerts.pb.h"
#include "router/alert_feed.h"
#include "router/output_filter.h"
#include "router/spool.h"

namespace corral::server {

// Recent alerts as serialized corral.v1.Alert messages, by seq, so that with
// many subscribers each alert is converted and serialized once rather than
// once per stream. Slots are overwritten as seqs advance: memory stays
// bounded. Thread-safe.
class AlertWireCache {
 public:
  // The alert's serialized message; Internal when it cannot be serialized.
  absl::StatusOr<grpc::ByteBuffer> Get(const core::Alert& alert);

 private:
  struct Slot {
    absl::Mutex mu;
    uint64_t seq ABSL_GUARDED_BY(mu) = 0;  // 0: empty (seqs start at 1)
    grpc::ByteBuffer bytes ABSL_GUARDED_BY(mu);
  };
  std::array<Slot, 1024> slots_;
};

class SubscribeStream;

// Restarts streams that went idle waiting for alerts. The feed calls a
// stream's ready hook on the spool's writer thread, which must not do the
// stream's work (convert, serialize, start a write): the hook only queues the
// stream here, and this object's thread pumps it. Thread-safe.
class StreamWaker {
 public:
  StreamWaker();
  ~StreamWaker();  // every stream must have been Forget()-ed

  StreamWaker(const StreamWaker&) = delete;
  StreamWaker& operator=(const StreamWaker&) = delete;

  void Wake(SubscribeStream* stream);
  // Drops `stream` from the queue and waits until it is not being pumped.
  // No Wake() for it may follow.
  void Forget(SubscribeStream* stream);

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<SubscribeStream*> ready_ ABSL_GUARDED_BY(mu_);
  SubscribeStream* pumping_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// What every Subscribe stream shares; owned by the service, outlives every
// stream.
struct SubscribeShared {
  const router::Spool* spool;
  router::AlertFeed* feed;
  int64_t subscriber_buffer;
  AlertWireCache* cache;
  StreamWaker* waker;
};

// One corral.v1.Alerts/Subscribe call, served with gRPC's callback API: no
// thread per stream. A live stream takes batches from its feed subscription
// and writes one message at a time, each next write started by the previous
// one's completion; when the subscription is empty the stream goes idle
// until the feed's ready hook wakes it through the StreamWaker.
//
// With after_seq, a thread of its own first reads the retained alerts from
// the spool (blocking reads) a batch at a time into the same write path,
// joins the live feed, reads what became durable meanwhile, and then hands
// over to the live feed; seqs at or below the last one looked at are
// dropped, so there is no gap and no repeat.
//
// Ends with RESOURCE_EXHAUSTED (too slow: the subscription overflowed),
// UNAVAILABLE (the feed closed), INTERNAL (the spool could not be read, or
// an alert not serialized: resuming after it skips it, said in the status) or
// CANCELLED (the client went away), telling the after_seq to resume from, or
// with OUT_OF_RANGE (the spool no longer has what a resume asked for). Deletes
// itself when gRPC is done with it.
class SubscribeStream final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // Starts serving. `after_seq` set: resume after it (the caller checked the
  // range).
  SubscribeStream(const SubscribeShared& shared, router::OutputFilter filter,
                  std::optional<uint64_t> after_seq);

  // Starts the next write, or finishes, when the stream is not writing
  // already; called by the StreamWaker and after each write.
  void Pump();

 private:
  ~SubscribeStream() override = default;

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  std::unique_ptr<router::AlertFeed::Subscription> SubscribeLive();
  // What Pump() does next: true with `next` set (write it) or null (finish
  // with `end`); false when there is nothing to do until woken.
  bool NextToWrite(core::AlertPtr* next, grpc::Status* end)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The catch-up thread's body.
  void CatchUp(uint64_t after_seq);
  // Queues the retained alerts after the cursor from the spool, moving it
  // along; holds at most about one batch at a time, pumping and waiting for
  // room. Stops early once the stream finished.
  absl::Status ReadSpool(router::SpoolCursor* cursor);
  grpc::Status ResumableStatus(grpc::StatusCode code,
                               absl::string_view why) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SubscribeShared shared_;
  const router::OutputFilter filter_;
  std::thread catch_up_;
  grpc::ByteBuffer out_;  // the message being written

  absl::Mutex mu_;
  std::unique_ptr<router::AlertFeed::Subscription> live_ ABSL_GUARDED_BY(mu_);
  // Taken from the feed or read from the spool, not yet written; alerts the
  // filter refuses and seqs at or below last_ are dropped when they come up.
  std::deque<core::AlertPtr> pending_ ABSL_GUARDED_BY(mu_);
  // The highest seq looked at (sent or filtered out): resuming after it
  // misses nothing.
  uint64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  // The catch-up thread still reads the spool: the live feed waits.
  bool catching_up_ ABSL_GUARDED_BY(mu_) = false;
  // How the catch-up ended when it could not finish (the spool failed).
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool overflowed_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish() called
};

// A stream refused before it started: finishes with `status` at once.
class RefusedStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedStream(const grpc::Status& status) { Finish(status); }

 private:
  void OnDone() override { delete this; }
};

}  // namespace corral::server

#endif  // CORRAL_SERVER_SUBSCRIBE_STREAM_H_
