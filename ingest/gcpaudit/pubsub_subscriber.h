#ifndef CORRAL_INGEST_GCPAUDIT_PUBSUB_SUBSCRIBER_H_
#define CORRAL_INGEST_GCPAUDIT_PUBSUB_SUBSCRIBER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/callback_guard.h"
#include "core/metrics.h"

namespace grpc {
class Channel;
class ClientContext;
template <class W, class R>
class ClientReaderWriter;
}  // namespace grpc

namespace google::pubsub::v1 {
class StreamingPullRequest;
class StreamingPullResponse;
}  // namespace google::pubsub::v1

namespace corral::ingest::gcpaudit {

// What to tell Pub/Sub about one delivered message.
enum class AckDecision {
  kAck,   // done with it: its alerts are spooled, or it needs none
  kNack,  // not safe yet (spool full, shutting down): redeliver it now
};

struct PubSubSubscriberOptions {
  std::string name;                        // for logs and metric labels
  std::string subscription;                // projects/P/subscriptions/S
  std::shared_ptr<grpc::Channel> channel;  // endpoint, TLS and credentials
  // Called when a stream ends UNAUTHENTICATED, so that the reconnect carries
  // a new token (core::PubSubChannel::token_refused).
  std::function<void()> token_refused = [] {};
  int64_t max_outstanding_messages = 1000;
  int64_t max_outstanding_bytes = 100 << 20;
  absl::Duration ack_deadline = absl::Seconds(60);
  // Reconnect backoff: doubles from initial to max, with jitter; back to
  // initial after a stream that delivered messages or lasted a while.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(30);
  // An empty request this often keeps an idle stream from being cut.
  absl::Duration keepalive = absl::Seconds(30);
  // Threads calling the handler (parsing and rules are CPU work); 0: one per
  // usable core (core::UsableCpus).
  int handler_threads = 0;
  // How often deadlines of messages in flight are extended; 0: half the ack
  // deadline (one lost extension still leaves time for the next).
  absl::Duration extend_every = absl::ZeroDuration();
  // After a nack (the intake refused: spool full, shutting down), handing out
  // messages pauses, from this long doubling to max_refusal_pause, until an
  // ack: Pub/Sub redelivers a nacked message at once, and handling it again
  // right away would only be refused again, as fast as both sides can go.
  absl::Duration initial_refusal_pause = absl::Milliseconds(100);
  absl::Duration max_refusal_pause = absl::Seconds(10);
};

// One Pub/Sub subscription, consumed with StreamingPull for as long as it
// runs:
//   - one stream at a time, reopened with backoff whenever it ends (Pub/Sub
//     closes streams routinely);
//   - flow control: the limits are sent to Pub/Sub and also held here (the
//     stream is not read while they are reached);
//   - every message goes to the handler (on a pool of handler threads), whose
//     decision is sent back as an ack
//     or a nack (deadline 0); until then its ack deadline is extended, across
//     stream restarts too;
//   - acks waiting when a stream breaks go out on the next one.
// Thread-safe; threads are named "pubsub:<name>".
class PubSubSubscriber {
 public:
  // Gets each delivered message; calls `done` exactly once, from any thread.
  using Done = absl::AnyInvocable<void(AckDecision) &&>;
  using Handler = absl::AnyInvocable<void(absl::string_view message_id,
                                          absl::string_view data, Done done)>;

  PubSubSubscriber(PubSubSubscriberOptions options, Handler handler,
                   core::MetricsRegistry* metrics);
  ~PubSubSubscriber();  // Stop(ZeroDuration()) if still running

  void Start();
  // Stops taking messages: closes the stream (messages delivered but not yet
  // handed to the handler are nacked) and opens no other. Returns at once, so
  // that several subscribers can stop in parallel.
  void BeginStop();
  // BeginStop(), then waits until `deadline` for the handler's decisions on
  // messages in flight, sends every decision with unary Acknowledge /
  // ModifyAckDeadline calls (confirmed, unlike writes on a closing stream),
  // and ends the threads. Messages decided later are not acked: Pub/Sub
  // redelivers them after their deadline. Idempotent; thread-safe.
  void Stop(absl::Time deadline);

  // Messages handed to the handler and not yet decided.
  int64_t in_flight() const;
  // Streams opened so far.
  int64_t streams_opened() const;

 private:
  using Stream =
      grpc::ClientReaderWriter<google::pubsub::v1::StreamingPullRequest,
                               google::pubsub::v1::StreamingPullResponse>;
  struct Lease {
    int64_t bytes = 0;
    bool handling = false;  // handed to the handler (counts for flow control)
  };

  // A delivered message waiting for a handler thread.
  struct Work {
    std::string ack_id;
    std::string message_id;
    std::string data;
  };

  void PullLoop();
  void SendLoop();
  void HandleLoop();
  // Runs one stream until it ends; true if it delivered anything.
  bool RunStream();
  void OnReceived(google::pubsub::v1::StreamingPullResponse& response);
  void Decide(const std::string& ack_id, AckDecision decision);
  // Writes `request` on the current stream; false when there is none or it
  // broke.
  bool WriteToStream(const google::pubsub::v1::StreamingPullRequest& request);
  // Sends decisions no stream took, with unary calls (used at Stop).
  void FlushUnary(absl::Time deadline);

  absl::Duration ExtendEvery() const;

  const PubSubSubscriberOptions options_;
  const std::string client_id_;  // random; lets Pub/Sub keep stream affinity
  Handler handler_;

  core::Counter* received_;
  core::Counter* acked_;
  core::Counter* nacked_;
  core::Counter* lease_extensions_;
  core::CounterFamily* stream_ends_;
  core::Gauge* in_flight_gauge_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // no new messages handled
  bool closing_ ABSL_GUARDED_BY(mu_) = false;   // threads are to end
  // Delivered, not yet decided: their deadlines are extended.
  absl::flat_hash_map<std::string, Lease> leases_ ABSL_GUARDED_BY(mu_);
  // Flow control counts what the handler holds.
  int64_t handling_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t handling_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Handing out messages pauses until then after a nack (see
  // PubSubSubscriberOptions::initial_refusal_pause).
  absl::Time paused_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration refusal_pause_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::Time refusal_logged_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Waiting for a handler thread (counted in handling_).
  std::deque<Work> work_ ABSL_GUARDED_BY(mu_);
  // Decided, not yet sent.
  std::vector<std::string> pending_acks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> pending_nacks_ ABSL_GUARDED_BY(mu_);
  int64_t streams_opened_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  // A stream is open to write on; which one (the sender extends every lease
  // as soon as a new one opens).
  bool stream_up_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t stream_generation_ ABSL_GUARDED_BY(mu_) = 0;

  // Held while writing, and while the stream is swapped: gRPC allows one
  // writer at a time, and the stream must outlive every write.
  absl::Mutex write_mu_ ABSL_ACQUIRED_AFTER(mu_);
  Stream* stream_ ABSL_GUARDED_BY(write_mu_) = nullptr;

  int failed_streams_ = 0;  // in a row; the pull thread's own
  absl::Mutex stop_mu_;     // one Stop() at a time

  std::thread pull_thread_;
  std::thread send_thread_;
  std::vector<std::thread> handler_threads_;
  // Decisions reach this object only while it lives: an intake may answer
  // after the subscriber is gone (the message then comes again from Pub/Sub).
  // Last member: closed first.
  core::CallbackGuard<PubSubSubscriber> guard_{this};
};

}  // namespace corral::ingest::gcpaudit

#endif  // CORRAL_INGEST_GCPAUDIT_PUBSUB_SUBSCRIBER_H_
