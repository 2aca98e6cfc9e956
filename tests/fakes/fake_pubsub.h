#ifndef CORRAL_TESTS_FAKES_FAKE_PUBSUB_H_
#define CORRAL_TESTS_FAKES_FAKE_PUBSUB_H_

#include <grpcpp/support/status.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/pubsub/v1/pubsub.pb.h"
#include "tests/fakes/fake_http_server.h"

namespace corral::fakes {

// Google Cloud Pub/Sub over real gRPC on 127.0.0.1: Publisher.Publish and
// Subscriber.StreamingPull / Pull / Acknowledge / ModifyAckDeadline with the
// service's semantics (at-least-once delivery, ack deadlines and redelivery,
// nacks, per-stream flow control, streams of one subscription sharing its
// messages), plus fault injection and observation for tests. Names are full
// resource names ("projects/p/topics/t", "projects/p/subscriptions/s").
// Topics, subscriptions and messages survive Stop()/Start(), as the real
// backend outlives the frontend a client was connected to. Thread-safe.
//
// As on the service: a stream that ends (dropped, cancelled, half-closed by the
// client, which gets OK) leaves its unacked messages outstanding until their
// deadlines pass, then they are redelivered to any stream of the subscription;
// acks with a stale ack id (deadline passed, nacked, redelivered since) are
// ignored and the message stays pending; a unary Pull that finds nothing waits
// up to 1 s for a message unless return_immediately.
//
// Publish enforces the service's limits with its INVALID_ARGUMENT answers: 1000
// messages and 10 MiB per request, no empty message, at most 100 attributes
// per message with non-empty keys of up to 256 bytes and values of up to 1024.
//
// Deliberate simplifications: no ordering keys, no exactly-once, no dead-letter
// topics (but every delivery carries delivery_attempt, counted from 1, as with
// a dead-letter policy), no retention limit. Message size for flow control is
// the serialized PubsubMessage. A StreamingPullResponse batches up to 1000
// messages / 10 MiB (Google's client libraries raise gRPC's 4 MB default
// receive limit to 20 MB for this).
class FakePubSub {
 public:
  struct ModAck {
    std::string message_id;
    int seconds;  // as sent, before SetDeadlineScale
  };

  // `tls.cert_file` set: serve TLS (needed for call credentials such as bearer
  // tokens, which gRPC only sends over secure channels); `tls.client_ca_file`
  // set: require a client certificate.
  explicit FakePubSub(FakeTlsOptions tls = {});
  ~FakePubSub();  // Stop()s
  FakePubSub(const FakePubSub&) = delete;
  FakePubSub& operator=(const FakePubSub&) = delete;

  // Serves on 127.0.0.1:`port` (0: an ephemeral port).
  absl::Status Start(int port = 0);
  // Ends every open stream with UNAVAILABLE (a frontend going away), answers
  // waiting calls and shuts the server down; returns within about a second even
  // if clients misbehave. The port stays reserved (bound, not listening:
  // connections are refused) until Start(port()) serves on it again, so a
  // client configured with address() sees the server go away and come back.
  void Stop();
  int port() const;
  std::string address() const;  // "127.0.0.1:PORT"

  // --- Admin (what gcloud / the emulator's REST surface would do) ---
  absl::Status CreateTopic(absl::string_view topic);
  // Receives only messages published after it is created, as on Pub/Sub.
  // `ack_deadline_seconds` (10..600) is the deadline for unary Pull.
  absl::Status CreateSubscription(absl::string_view subscription,
                                  absl::string_view topic,
                                  int ack_deadline_seconds = 10);
  // Publishes to every subscription of `topic` and returns the message id; ""
  // if the topic does not exist.
  std::string Publish(
      absl::string_view topic, absl::string_view data,
      const std::map<std::string, std::string>& attributes = {});

  // --- Behaviour knobs ---
  // Every call must carry "authorization: Bearer <token>" with `valid(token)`
  // true, or it fails with UNAUTHENTICATED. nullptr (the default): no check.
  void RequireBearer(std::function<bool(absl::string_view token)> valid);
  // Every ack deadline (stream_ack_deadline_seconds, modack seconds, the
  // subscription's deadline for Pull) lasts `scale` times as long, so tests can
  // see redelivery in milliseconds while clients still send the 10..600 s the
  // service demands. 1 by default.
  void SetDeadlineScale(double scale);

  // --- Fault injection ---
  // Ends every open StreamingPull with `code`, as the service does now and then
  // (about every 30 minutes, and on load balancing). Messages outstanding on
  // them keep their deadlines.
  void DropStreams(grpc::StatusCode code = grpc::StatusCode::UNAVAILABLE);
  // The next `n` StreamingPull calls fail with `code` after `delay`.
  void RejectStreams(int n,
                     grpc::StatusCode code = grpc::StatusCode::UNAVAILABLE,
                     absl::Duration delay = absl::ZeroDuration());
  // The next `n` Publish calls fail with `code` (nothing is published), with
  // the service's message for it where the fake knows one.
  void FailNextPublishes(int n,
                         grpc::StatusCode code = grpc::StatusCode::UNAVAILABLE);
  // Every Publish call is answered this much later (0 by default).
  void SetPublishDelay(absl::Duration delay);

  // --- Observation ---
  // Message ids acked on `subscription`, one entry per accepted ack, in order.
  std::vector<std::string> Acked(absl::string_view subscription) const;
  // Accepted acks of `message_id` over all subscriptions.
  int AckCount(absl::string_view message_id) const;
  // Acks ignored because the ack id was stale (deadline passed, nacked, already
  // acked) or unknown.
  int IgnoredAcks(absl::string_view subscription) const;
  // Message ids nacked (modack 0) on `subscription`, in order.
  std::vector<std::string> Nacked(absl::string_view subscription) const;
  // Accepted deadline extensions (modack > 0) on `subscription`, in order.
  std::vector<ModAck> ModAcks(absl::string_view subscription) const;
  // Times `message_id` was delivered (streams and Pull, all subscriptions).
  int Deliveries(absl::string_view message_id) const;
  // Ids of the messages of `subscription` not acked yet, in publish order.
  std::vector<std::string> Pending(absl::string_view subscription) const;
  // StreamingPull streams open now whose first request was accepted.
  int OpenStreams() const;
  // StreamingPull calls received, including rejected and failed ones.
  int StreamsOpened() const;
  // The first request of every StreamingPull call that sent one, in arrival
  // order (to check subscription, deadline, flow control and client_id).
  // Calls refused before reading (RejectStreams, UNAUTHENTICATED) have none.
  std::vector<google::pubsub::v1::StreamingPullRequest> FirstRequests() const;
  // Every message published to `topic` (by Publish() or over gRPC), with its
  // message_id and publish_time.
  std::vector<google::pubsub::v1::PubsubMessage> Published(
      absl::string_view topic) const;
  // Publish calls received over gRPC, including failed ones.
  int PublishCalls() const;
  // How many messages each Publish call that published carried, in order.
  std::vector<size_t> PublishSizes() const;

  // Bounded waits: true once the condition holds, false if `timeout` passes
  // first.
  bool WaitForAcked(absl::string_view subscription, size_t n,
                    absl::Duration timeout) const;
  bool WaitForPublished(absl::string_view topic, size_t n,
                        absl::Duration timeout) const;
  bool WaitForOpenStreams(int n, absl::Duration timeout) const;
  // `cond` may call the observers above; it is re-evaluated whenever the fake's
  // state changes (and at least every 20 ms).
  bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace corral::fakes

#endif  // CORRAL_TESTS_FAKES_FAKE_PUBSUB_H_
