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
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/alert.h"
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
  // The alert's serialized message.
  grpc::ByteBuffer Get(const core::Alert& alert);

 private:
  struct Slot {
    absl::Mutex mu;
    uint64_t seq ABSL_GUARDED_BY(mu) = 0;  // 0: empty (seqs start at 1)
    grpc::ByteBuffer bytes ABSL_GUARDED_BY(mu);
  };
  std::array<Slot, 1024> slots_;
};

class SubscribeStream;

// Runs one SubscribeStream method for queued streams, on threads of its own,
// never for the same stream on two threads at once. Two of them serve every
// stream:
// - the waker (Pump, one thread) restarts streams that went idle waiting
//   for alerts. The feed calls a stream's ready hook on the spool's writer
//   thread, which must not do the stream's work (convert, serialize, start a
//   write): the hook only queues the stream here.
// - the catch-up runner (CatchUpStep, a few threads) reads retained alerts
//   for resuming streams a batch at a time, so that any number of resumes
//   costs a fixed number of threads, and a resume whose client reads slowly
//   holds none while it waits.
// Thread-safe.
class StreamRunner {
 public:
  StreamRunner(void (SubscribeStream::*work)(), int threads);
  ~StreamRunner();  // every stream must have been Forget()-ed

  StreamRunner(const StreamRunner&) = delete;
  StreamRunner& operator=(const StreamRunner&) = delete;

  // Runs the method for `stream` soon (once more after the current run, if
  // it is running now); queued already, it runs once.
  void Queue(SubscribeStream* stream);
  // Drops `stream` from the queue and waits until it is not running. No
  // Queue() for it may follow once it returns.
  void Forget(SubscribeStream* stream);

 private:
  void Loop();
  void DropLocked(SubscribeStream* stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void (SubscribeStream::*const work_)();
  absl::Mutex mu_;
  std::deque<SubscribeStream*> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<SubscribeStream*> running_ ABSL_GUARDED_BY(mu_);
  // Queued while running: queued again once the run ends.
  std::vector<SubscribeStream*> again_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// What every Subscribe stream shares; owned by the service, outlives every
// stream.
struct SubscribeShared {
  const router::Spool* spool;
  router::AlertFeed* feed;
  int64_t subscriber_buffer;
  AlertWireCache* cache;
  StreamRunner* waker;     // runs Pump
  StreamRunner* catch_up;  // runs CatchUpStep
};

// One corral.v1.Alerts/Subscribe call, served with gRPC's callback API: no
// thread per stream. A live stream takes batches from its feed subscription
// and writes one message at a time, each next write started by the previous
// one's completion; when the subscription is empty the stream goes idle
// until the feed's ready hook wakes it through the waker.
//
// With after_seq, the catch-up runner first reads the retained alerts from
// the spool (blocking reads) a batch at a time into the same write path,
// each next batch once half of the last one is written; then the stream
// joins the live feed, reads what became durable meanwhile, and hands over
// to the live feed. Seqs at or below the last one looked at are dropped, so
// there is no gap and no repeat.
//
// Ends with RESOURCE_EXHAUSTED (too slow: the subscription overflowed),
// UNAVAILABLE (the feed closed), INTERNAL (the spool could not be read) or
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
  // already; called by the waker and after each write.
  void Pump();
  // Reads the next batch of retained alerts (the catch-up runner's work).
  void CatchUpStep();

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
  // Whether pending_ holds an alert after last_ that the filter passes,
  // which the write after the one in flight will take.
  bool AnotherIsPending() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the catch-up: hands over to the live feed, or ends the stream with
  // `read`'s error.
  void EndCatchUp(const absl::Status& read);
  grpc::Status ResumableStatus(grpc::StatusCode code,
                               absl::string_view why) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SubscribeShared shared_;
  const router::OutputFilter filter_;
  grpc::ByteBuffer out_;  // the message being written
  // The catch-up's position, used by one CatchUpStep at a time: where the
  // next spool read starts, and once the live feed was joined, the last seq
  // the spool must still give (the feed has what follows).
  router::SpoolCursor cursor_;
  std::optional<uint64_t> join_seq_;

  absl::Mutex mu_;
  std::unique_ptr<router::AlertFeed::Subscription> live_ ABSL_GUARDED_BY(mu_);
  // Taken from the feed or read from the spool, not yet written; alerts the
  // filter refuses and seqs at or below last_ are dropped when they come up.
  std::deque<core::AlertPtr> pending_ ABSL_GUARDED_BY(mu_);
  // The highest seq looked at (sent or filtered out): resuming after it
  // misses nothing.
  uint64_t last_ ABSL_GUARDED_BY(mu_) = 0;
  // The catch-up still reads the spool: the live feed waits.
  bool catching_up_ ABSL_GUARDED_BY(mu_) = false;
  // The catch-up waits for half a batch of room in pending_.
  bool wants_room_ ABSL_GUARDED_BY(mu_) = false;
  // How the catch-up ended when it could not finish (the spool failed).
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool wrote_any_ ABSL_GUARDED_BY(mu_) = false;  // a write was started
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
