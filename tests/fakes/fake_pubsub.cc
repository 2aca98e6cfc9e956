#include "tests/fakes/fake_pubsub.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/pubsub/v1/pubsub.grpc.pb.h"
#include "tests/fakes/grpc_server_credentials.h"
#include "tests/fakes/held_port.h"

namespace corral::fakes {
namespace {

namespace pubsub = ::google::pubsub::v1;

// Pub/Sub's limits.
constexpr int kMaxPublishMessages = 1000;
constexpr size_t kMaxPublishRequestBytes = 10 << 20;
constexpr int kMaxAttributes = 100;
constexpr size_t kMaxAttributeKeyBytes = 256;
constexpr size_t kMaxAttributeValueBytes = 1024;
constexpr int kMinAckDeadlineSeconds = 10;
constexpr int kMaxAckDeadlineSeconds = 600;
// What one StreamingPullResponse / PullResponse carries at most.
constexpr int kMaxBatchMessages = 1000;
constexpr size_t kMaxBatchBytes = 10 << 20;
// A Pull that finds nothing waits this long for a message before answering
// empty (the service waits a while too, unless return_immediately).
constexpr absl::Duration kPullWait = absl::Seconds(1);
// The dispatcher sleeps until the next deadline or a state change, but no
// longer than this (a backstop; nothing depends on it).
constexpr absl::Duration kMaxDispatchSleep = absl::Milliseconds(50);
// How long Stop() lets calls finish before gRPC cancels them: only a client
// that stopped reading holds a call up that long.
constexpr absl::Duration kShutdownGrace = absl::Milliseconds(500);

grpc::Status NotFound(absl::string_view name) {
  // The service names the resource by its last path segment.
  size_t slash = name.rfind('/');
  absl::string_view id =
      slash == absl::string_view::npos ? name : name.substr(slash + 1);
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      absl::StrCat("Resource not found (resource=", id, ")."));
}

grpc::Status InvalidArgument(absl::string_view message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(message));
}

// Deprecated in the API, but the service still honours it.
bool ReturnImmediately(const pubsub::PullRequest& request) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  return request.return_immediately();
#pragma GCC diagnostic pop
}

// Why the service would refuse `message`'s attributes, or "" when it would
// not.
std::string AttributeProblem(const pubsub::PubsubMessage& message) {
  if (message.attributes_size() > kMaxAttributes) {
    return absl::StrCat("The number of message attributes (",
                        message.attributes_size(),
                        ") exceeds the maximum allowed (", kMaxAttributes,
                        "). Refer to https://cloud.google.com/pubsub/quotas "
                        "for more information.");
  }
  for (const auto& [key, value] : message.attributes()) {
    const char* what = nullptr;
    size_t size = 0;
    size_t max = 0;
    if (key.empty()) {
      return "One of the attributes in the request has an empty key.";
    } else if (key.size() > kMaxAttributeKeyBytes) {
      what = "key";
      size = key.size();
      max = kMaxAttributeKeyBytes;
    } else if (value.size() > kMaxAttributeValueBytes) {
      what = "value";
      size = value.size();
      max = kMaxAttributeValueBytes;
    } else {
      continue;
    }
    return absl::StrCat("One of the attributes in the request has a ", what,
                        " that is too long. The length is ", size,
                        " characters, but the maximum allowed is ", max,
                        ". Refer to https://cloud.google.com/pubsub/quotas "
                        "for more information.");
  }
  return "";
}

// What the service says with `code` (FailNextPublishes).
std::string FailureMessage(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
      return "The service was unable to fulfill your request. Please try "
             "again. [Code: 14]";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "User not authorized to perform this action.";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "Quota exceeded for quota metric 'Publisher throughput'.";
    default:
      return "fake: publish failed";
  }
}

bool ValidAckDeadline(int seconds) {
  return seconds >= kMinAckDeadlineSeconds && seconds <= kMaxAckDeadlineSeconds;
}

}  // namespace

struct FakePubSub::Impl {
  class StreamReactor;
  class SubscriberService;
  class PublisherService;

  // A message of a subscription that has not been acked.
  struct Entry {
    std::shared_ptr<const pubsub::PubsubMessage> message;
    size_t bytes = 0;  // counted against max_outstanding_bytes
    int delivery_attempt = 0;
    // While outstanding (delivered, deadline not passed, not acked/nacked):
    bool outstanding = false;
    std::string ack_id;     // of the current delivery; older ones are stale
    uint64_t delivery = 0;  // the number in ack_id, which names the delivery
    absl::Time deadline;
    uint64_t stream_id = 0;  // delivered on this stream; 0 for Pull
  };

  struct Subscription {
    std::string name;
    std::string topic;
    int ack_deadline_seconds = 10;
    std::map<uint64_t, Entry> entries;  // by publish sequence number
    std::deque<uint64_t> available;     // ready for delivery, in order
    size_t round_robin = 0;             // spreads messages over streams
    std::vector<uint64_t> acked;        // message seqs, in ack order
    std::vector<std::string> nacked;
    std::vector<ModAck> modacks;
    int ignored_acks = 0;
  };

  struct Topic {
    std::vector<Subscription*> subscriptions;
    std::vector<pubsub::PubsubMessage> published;
  };

  // A deadline to check. Extending a deadline pushes a new one; the old one is
  // recognised as stale when it comes up (lazy deletion).
  struct Expiry {
    absl::Time deadline;
    Subscription* sub;
    uint64_t seq;
    uint64_t delivery;
    bool operator>(const Expiry& other) const {
      return deadline > other.deadline;
    }
  };

  // A call to answer later: a rejected stream (RejectStreams with a delay) or
  // a Publish (SetPublishDelay).
  struct TimedFinish {
    absl::Time at;
    StreamReactor* stream = nullptr;
    grpc::ServerUnaryReactor* unary = nullptr;
    grpc::CallbackServerContext* context = nullptr;  // of `unary`
    grpc::Status status;
  };

  // A Pull waiting for a message.
  struct ParkedPull {
    absl::Time until;
    grpc::CallbackServerContext* context;
    grpc::ServerUnaryReactor* reactor;
    pubsub::PullResponse* response;
    Subscription* sub;
    int max_messages;
  };

  // What the dispatcher does with the lock released. gRPC may run reactions
  // inline in these calls, and reactions take `mu`.
  struct Action {
    enum Kind { kRead, kWrite, kFinishStream, kFinishUnary } kind;
    StreamReactor* stream = nullptr;
    grpc::ServerUnaryReactor* unary = nullptr;
    grpc::Status status;
  };

  explicit Impl(FakeTlsOptions tls_options);

  // --- Lifecycle, serialised by lifecycle_mu ---
  FakeTlsOptions tls;
  std::mutex lifecycle_mu;
  std::unique_ptr<SubscriberService> subscriber_service;
  std::unique_ptr<PublisherService> publisher_service;
  std::unique_ptr<grpc::Server> server;
  std::thread dispatcher;
  // While stopped, the port stays bound (not listening) so that connections
  // are refused as from a server that is down and nothing else takes the port
  // before Start() serves on it again.
  HeldPort held_port;
  std::atomic<int> port{0};

  // --- State ---
  mutable absl::Mutex mu;
  absl::node_hash_map<std::string, Topic> topics ABSL_GUARDED_BY(mu);
  absl::node_hash_map<std::string, Subscription> subscriptions
      ABSL_GUARDED_BY(mu);
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<Expiry>>
      expiries ABSL_GUARDED_BY(mu);
  // Streams not finished yet, by id (ids start at 1 and are never reused).
  std::map<uint64_t, StreamReactor*> streams ABSL_GUARDED_BY(mu);
  std::list<TimedFinish> timed ABSL_GUARDED_BY(mu);
  std::list<ParkedPull> parked ABSL_GUARDED_BY(mu);
  uint64_t next_stream_id ABSL_GUARDED_BY(mu) = 0;
  uint64_t next_message_seq ABSL_GUARDED_BY(mu) = 0;
  uint64_t next_ack_seq ABSL_GUARDED_BY(mu) = 0;

  std::function<bool(absl::string_view)> bearer_check ABSL_GUARDED_BY(mu);
  double deadline_scale ABSL_GUARDED_BY(mu) = 1.0;
  int reject_streams ABSL_GUARDED_BY(mu) = 0;
  grpc::StatusCode reject_code ABSL_GUARDED_BY(mu) = grpc::StatusCode::OK;
  absl::Duration reject_delay ABSL_GUARDED_BY(mu);
  int fail_publishes ABSL_GUARDED_BY(mu) = 0;
  grpc::StatusCode fail_publish_code ABSL_GUARDED_BY(mu) = grpc::StatusCode::OK;
  absl::Duration publish_delay ABSL_GUARDED_BY(mu);

  // By message seq (a message id is its seq), over every subscription.
  std::vector<int> ack_counts ABSL_GUARDED_BY(mu);
  std::vector<int> deliveries ABSL_GUARDED_BY(mu);
  std::vector<pubsub::StreamingPullRequest> first_requests ABSL_GUARDED_BY(mu);
  int streams_opened ABSL_GUARDED_BY(mu) = 0;
  int publish_calls ABSL_GUARDED_BY(mu) = 0;
  std::vector<size_t> publish_sizes ABSL_GUARDED_BY(mu);

  // Bumped on every observable change, for WaitFor().
  uint64_t version ABSL_GUARDED_BY(mu) = 0;
  // Set when the dispatcher may have something to do.
  bool dirty ABSL_GUARDED_BY(mu) = false;
  bool stopping ABSL_GUARDED_BY(mu) = false;  // finish every call at once
  bool exit_dispatcher ABSL_GUARDED_BY(mu) = false;

  void Changed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { ++version; }
  void Wake() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++version;
    dirty = true;
  }

  absl::Duration Scaled(int seconds) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return absl::Seconds(seconds) * deadline_scale;
  }

  Subscription* FindSubscription(absl::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = subscriptions.find(name);
    return it == subscriptions.end() ? nullptr : &it->second;
  }

  // UNAUTHENTICATED unless the call carries a bearer token RequireBearer()
  // accepts. Runs the check without `mu` (it is test code).
  grpc::Status CheckAuth(const grpc::CallbackServerContext* context)
      ABSL_LOCKS_EXCLUDED(mu);

  std::string PublishLocked(Topic& topic, pubsub::PubsubMessage message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Starts a delivery of message `seq`: fills `out` but for its message,
  // which the caller copies or lends from the returned entry.
  const Entry& DeliverLocked(Subscription& sub, uint64_t seq,
                             uint64_t stream_id, int deadline_seconds,
                             pubsub::ReceivedMessage* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Ends the current delivery of `entry` (ack, nack or expiry).
  void ReleaseLocked(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void MakeAvailableLocked(Subscription& sub, uint64_t seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The entry `ack_id` currently stands for in `sub`, or nullptr if the ack id
  // is unknown, from another subscription or stale. A delivery whose deadline
  // has passed is expired here (the dispatcher may not have got to it yet).
  Entry* LiveEntryLocked(Subscription& sub, const std::string& ack_id,
                         uint64_t* seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void AckLocked(Subscription& sub, const std::string& ack_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void ModifyDeadlineLocked(Subscription& sub, const std::string& ack_id,
                            int seconds) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void ExpireDueLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Fills `response` with up to `max_messages` available messages.
  void PullLocked(Subscription& sub, int max_messages,
                  pubsub::PullResponse* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  void DispatchLoop() ABSL_LOCKS_EXCLUDED(mu);
  absl::Time NextWakeLocked(absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void CollectLocked(std::vector<Action>* actions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void DistributeLocked(Subscription& sub,
                        const std::vector<StreamReactor*>& to)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  static void Run(std::vector<Action>& actions);
};

// One StreamingPull call. Every operation on the call (StartRead, StartWrite,
// Finish) is started by the dispatcher thread, and nothing is started after
// Finish: that is what keeps the reactor race-free without per-call locks.
// Reactions only update state under Impl::mu and wake the dispatcher.
class FakePubSub::Impl::StreamReactor final
    : public grpc::ServerBidiReactor<pubsub::StreamingPullRequest,
                                     pubsub::StreamingPullResponse> {
 public:
  StreamReactor(Impl* impl, grpc::CallbackServerContext* context);
  // Runs after OnDone: nothing else uses the reactor.
  ~StreamReactor() override ABSL_NO_THREAD_SAFETY_ANALYSIS { ClearOutLocked(); }

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // True if a message of `bytes` fits the stream's flow control and the
  // response being built.
  bool HasRoom(size_t bytes) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu);

  // Puts `message` into `received` without a copy: a fake that copies every
  // message it sends costs corral's benchmark CPU the service would not. The
  // stream holds a reference until ClearOutLocked().
  void LendLocked(std::shared_ptr<const pubsub::PubsubMessage> message,
                  pubsub::ReceivedMessage* received)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) {
    // Only read while `out` is serialised; never modified or freed by it.
    received->unsafe_arena_set_allocated_message(
        const_cast<pubsub::PubsubMessage*>(message.get()));
    lent_.push_back(std::move(message));
  }
  // Empties `out`, handing lent messages back first.
  void ClearOutLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) {
    for (pubsub::ReceivedMessage& m : *out.mutable_received_messages()) {
      (void)m.unsafe_arena_release_message();
    }
    out.Clear();
    lent_.clear();
  }

  Impl* const impl_;
  uint64_t id ABSL_GUARDED_BY(impl_->mu) = 0;
  Subscription* sub ABSL_GUARDED_BY(impl_->mu) = nullptr;  // once accepted
  int deadline_seconds ABSL_GUARDED_BY(impl_->mu) = 0;
  int64_t max_messages ABSL_GUARDED_BY(impl_->mu) = 0;  // 0: no limit
  int64_t max_bytes ABSL_GUARDED_BY(impl_->mu) = 0;
  int64_t outstanding_messages ABSL_GUARDED_BY(impl_->mu) = 0;
  int64_t outstanding_bytes ABSL_GUARDED_BY(impl_->mu) = 0;
  size_t batch_bytes ABSL_GUARDED_BY(impl_->mu) = 0;
  bool read_in_flight ABSL_GUARDED_BY(impl_->mu) = false;
  bool read_closed ABSL_GUARDED_BY(impl_->mu) = false;
  bool write_in_flight ABSL_GUARDED_BY(impl_->mu) = false;
  bool cancelled ABSL_GUARDED_BY(impl_->mu) = false;
  bool finished ABSL_GUARDED_BY(impl_->mu) = false;  // Finish started
  // How the stream is to end, once decided.
  std::optional<grpc::Status> finish ABSL_GUARDED_BY(impl_->mu);
  pubsub::StreamingPullRequest in;
  pubsub::StreamingPullResponse out ABSL_GUARDED_BY(impl_->mu);
  std::vector<std::shared_ptr<const pubsub::PubsubMessage>> lent_
      ABSL_GUARDED_BY(impl_->mu);

 private:
  void HandleRequestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu);
  void EndLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) {
    if (!finish.has_value()) finish = std::move(status);
    impl_->Wake();
  }
};

class FakePubSub::Impl::SubscriberService final
    : public pubsub::Subscriber::CallbackService {
 public:
  explicit SubscriberService(Impl* impl) : impl_(impl) {}

  grpc::ServerBidiReactor<pubsub::StreamingPullRequest,
                          pubsub::StreamingPullResponse>*
  StreamingPull(grpc::CallbackServerContext* context) override {
    return new StreamReactor(impl_, context);
  }

  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* context,
                                 const pubsub::PullRequest* request,
                                 pubsub::PullResponse* response) override;
  grpc::ServerUnaryReactor* Acknowledge(
      grpc::CallbackServerContext* context,
      const pubsub::AcknowledgeRequest* request,
      google::protobuf::Empty* response) override;
  grpc::ServerUnaryReactor* ModifyAckDeadline(
      grpc::CallbackServerContext* context,
      const pubsub::ModifyAckDeadlineRequest* request,
      google::protobuf::Empty* response) override;

 private:
  Impl* const impl_;
};

class FakePubSub::Impl::PublisherService final
    : public pubsub::Publisher::CallbackService {
 public:
  explicit PublisherService(Impl* impl) : impl_(impl) {}

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const pubsub::PublishRequest* request,
                                    pubsub::PublishResponse* response) override;

 private:
  Impl* const impl_;
};

FakePubSub::Impl::Impl(FakeTlsOptions tls_options)
    : tls(std::move(tls_options)),
      subscriber_service(std::make_unique<SubscriberService>(this)),
      publisher_service(std::make_unique<PublisherService>(this)) {}

grpc::Status FakePubSub::Impl::CheckAuth(
    const grpc::CallbackServerContext* context) {
  std::function<bool(absl::string_view)> valid;
  {
    absl::MutexLock lock(&mu);
    valid = bearer_check;
  }
  if (!valid) return grpc::Status::OK;
  const grpc::Status unauthenticated(
      grpc::StatusCode::UNAUTHENTICATED,
      "Request had invalid authentication credentials. Expected OAuth 2 access "
      "token, login cookie or other valid authentication credential.");
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return unauthenticated;
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ") || !valid(value)) {
    return unauthenticated;
  }
  return grpc::Status::OK;
}

std::string FakePubSub::Impl::PublishLocked(Topic& topic,
                                            pubsub::PubsubMessage message) {
  const uint64_t seq = ++next_message_seq;
  message.set_message_id(absl::StrCat(seq));
  deliveries.resize(seq + 1);
  ack_counts.resize(seq + 1);
  const absl::Time now = absl::Now();
  message.mutable_publish_time()->set_seconds(absl::ToUnixSeconds(now));
  message.mutable_publish_time()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(
          now - absl::FromUnixSeconds(absl::ToUnixSeconds(now)))));
  auto shared = std::make_shared<const pubsub::PubsubMessage>(message);
  topic.published.push_back(std::move(message));
  for (Subscription* sub : topic.subscriptions) {
    Entry& entry = sub->entries[seq];
    entry.message = shared;
    entry.bytes = shared->ByteSizeLong();
    sub->available.push_back(seq);
  }
  Wake();
  return shared->message_id();
}

const FakePubSub::Impl::Entry& FakePubSub::Impl::DeliverLocked(
    Subscription& sub, uint64_t seq, uint64_t stream_id, int deadline_seconds,
    pubsub::ReceivedMessage* out) {
  Entry& entry = sub.entries.at(seq);
  entry.outstanding = true;
  ++entry.delivery_attempt;
  // Opaque to clients; unique per delivery so a stale one is recognised. It
  // ends in the message's seq, which is how an ack finds the entry.
  entry.delivery = ++next_ack_seq;
  entry.ack_id = absl::StrCat("ack-", entry.delivery, "-", seq);
  entry.deadline = absl::Now() + Scaled(deadline_seconds);
  entry.stream_id = stream_id;
  expiries.push(Expiry{entry.deadline, &sub, seq, entry.delivery});
  ++deliveries[seq];
  out->set_ack_id(entry.ack_id);
  out->set_delivery_attempt(entry.delivery_attempt);
  Changed();
  return entry;
}

void FakePubSub::Impl::ReleaseLocked(Entry& entry) {
  entry.ack_id.clear();
  entry.delivery = 0;
  entry.outstanding = false;
  auto it = streams.find(entry.stream_id);
  if (it != streams.end()) {
    StreamReactor* stream = it->second;
    stream->outstanding_messages -= 1;
    stream->outstanding_bytes -= static_cast<int64_t>(entry.bytes);
  }
  Wake();  // flow control may let more through now
}

void FakePubSub::Impl::MakeAvailableLocked(Subscription& sub, uint64_t seq) {
  ReleaseLocked(sub.entries.at(seq));
  sub.available.push_back(seq);
}

FakePubSub::Impl::Entry* FakePubSub::Impl::LiveEntryLocked(
    Subscription& sub, const std::string& ack_id, uint64_t* seq) {
  // "ack-DELIVERY-SEQ" (DeliverLocked). The entry's own ack id must match:
  // an ack id of another subscription or of an earlier delivery does not.
  const size_t dash = ack_id.rfind('-');
  if (dash == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(ack_id).substr(dash + 1), seq)) {
    return nullptr;
  }
  auto it = sub.entries.find(*seq);
  if (it == sub.entries.end() || !it->second.outstanding ||
      it->second.ack_id != ack_id) {
    return nullptr;
  }
  Entry& entry = it->second;
  if (absl::Now() >= entry.deadline) {
    MakeAvailableLocked(sub, *seq);
    return nullptr;
  }
  return &entry;
}

void FakePubSub::Impl::AckLocked(Subscription& sub, const std::string& ack_id) {
  uint64_t seq = 0;
  Entry* entry = LiveEntryLocked(sub, ack_id, &seq);
  if (entry == nullptr) {
    // As on Pub/Sub: the message stays pending and comes again.
    ++sub.ignored_acks;
    Changed();
    return;
  }
  ReleaseLocked(*entry);
  sub.acked.push_back(seq);
  ++ack_counts[seq];
  sub.entries.erase(seq);
}

void FakePubSub::Impl::ModifyDeadlineLocked(Subscription& sub,
                                            const std::string& ack_id,
                                            int seconds) {
  uint64_t seq = 0;
  Entry* entry = LiveEntryLocked(sub, ack_id, &seq);
  if (entry == nullptr) return;
  if (seconds == 0) {
    sub.nacked.push_back(entry->message->message_id());
    MakeAvailableLocked(sub, seq);
    return;
  }
  entry->deadline = absl::Now() + Scaled(seconds);
  expiries.push(Expiry{entry->deadline, &sub, seq, entry->delivery});
  sub.modacks.push_back(ModAck{entry->message->message_id(), seconds});
  Changed();
}

void FakePubSub::Impl::ExpireDueLocked(absl::Time now) {
  while (!expiries.empty() && expiries.top().deadline <= now) {
    Expiry expiry = expiries.top();
    expiries.pop();
    auto it = expiry.sub->entries.find(expiry.seq);
    if (it == expiry.sub->entries.end()) continue;  // acked
    const Entry& entry = it->second;
    if (!entry.outstanding || entry.delivery != expiry.delivery ||
        entry.deadline != expiry.deadline) {
      continue;  // nacked, redelivered or extended since
    }
    MakeAvailableLocked(*expiry.sub, expiry.seq);
  }
}

void FakePubSub::Impl::PullLocked(Subscription& sub, int max_messages,
                                  pubsub::PullResponse* response) {
  size_t bytes = 0;
  while (!sub.available.empty() &&
         response->received_messages_size() <
             std::min(max_messages, kMaxBatchMessages)) {
    const uint64_t seq = sub.available.front();
    const size_t size = sub.entries.at(seq).bytes;
    if (bytes > 0 && bytes + size > kMaxBatchBytes) break;
    sub.available.pop_front();
    bytes += size;
    pubsub::ReceivedMessage* out = response->add_received_messages();
    *out->mutable_message() =
        *DeliverLocked(sub, seq, /*stream_id=*/0, sub.ack_deadline_seconds, out)
             .message;
  }
}

// --- StreamReactor ---

FakePubSub::Impl::StreamReactor::StreamReactor(
    Impl* impl, grpc::CallbackServerContext* context)
    : impl_(impl) {
  grpc::Status auth = impl_->CheckAuth(context);
  std::optional<grpc::Status> finish_now;
  {
    absl::MutexLock lock(&impl_->mu);
    id = ++impl_->next_stream_id;
    ++impl_->streams_opened;
    if (!auth.ok()) {
      finished = true;
      finish_now = auth;
    } else if (impl_->reject_streams > 0) {
      --impl_->reject_streams;
      grpc::Status status(impl_->reject_code, "fake: stream rejected");
      if (impl_->reject_delay <= absl::ZeroDuration() || impl_->stopping) {
        finished = true;
        finish_now = status;
      } else {
        impl_->timed.push_back(TimedFinish{
            .at = absl::Now() + impl_->reject_delay,
            .stream = this,
            .status = status,
        });
      }
    } else {
      // The dispatcher starts the first read.
      impl_->streams[id] = this;
    }
    impl_->Wake();
  }
  // Not bound to the call yet: gRPC keeps this until the handler returns, so
  // nothing can run (or delete this) before then.
  if (finish_now.has_value()) Finish(*std::move(finish_now));
}

bool FakePubSub::Impl::StreamReactor::HasRoom(size_t bytes) const {
  if (out.received_messages_size() >= kMaxBatchMessages) return false;
  if (batch_bytes > 0 && batch_bytes + bytes > kMaxBatchBytes) return false;
  if (max_messages > 0 && outstanding_messages >= max_messages) return false;
  // A message larger than max_outstanding_bytes still goes out alone, or it
  // would never be delivered.
  if (max_bytes > 0 && outstanding_bytes > 0 &&
      outstanding_bytes + static_cast<int64_t>(bytes) > max_bytes) {
    return false;
  }
  return true;
}

void FakePubSub::Impl::StreamReactor::OnReadDone(bool ok) {
  absl::MutexLock lock(&impl_->mu);
  read_in_flight = false;
  if (!ok) {
    // The client half-closed (or the call is gone): end the stream.
    read_closed = true;
    EndLocked(grpc::Status::OK);
    return;
  }
  if (finished) return;
  HandleRequestLocked();
  impl_->Wake();
}

void FakePubSub::Impl::StreamReactor::HandleRequestLocked() {
  if (sub == nullptr) {
    impl_->first_requests.push_back(in);
    if (in.subscription().empty()) {
      EndLocked(InvalidArgument(
          "The first StreamingPullRequest must specify a subscription."));
      return;
    }
    Subscription* found = impl_->FindSubscription(in.subscription());
    if (found == nullptr) {
      EndLocked(NotFound(in.subscription()));
      return;
    }
    if (!ValidAckDeadline(in.stream_ack_deadline_seconds())) {
      EndLocked(InvalidArgument(absl::StrCat(
          "Invalid stream_ack_deadline_seconds: ",
          in.stream_ack_deadline_seconds(), "; must be in [10, 600].")));
      return;
    }
    sub = found;
    deadline_seconds = in.stream_ack_deadline_seconds();
    max_messages = in.max_outstanding_messages();
    max_bytes = in.max_outstanding_bytes();
  } else if (in.stream_ack_deadline_seconds() != 0) {
    // Later requests may change the stream's deadline.
    if (!ValidAckDeadline(in.stream_ack_deadline_seconds())) {
      EndLocked(InvalidArgument("Invalid stream_ack_deadline_seconds."));
      return;
    }
    deadline_seconds = in.stream_ack_deadline_seconds();
  }
  if (in.modify_deadline_seconds_size() != in.modify_deadline_ack_ids_size()) {
    EndLocked(InvalidArgument(
        "modify_deadline_seconds and modify_deadline_ack_ids must be the same "
        "size."));
    return;
  }
  for (int seconds : in.modify_deadline_seconds()) {
    if (seconds < 0 || seconds > kMaxAckDeadlineSeconds) {
      EndLocked(InvalidArgument(
          absl::StrCat("Invalid modify_deadline_seconds: ", seconds, ".")));
      return;
    }
  }
  for (const std::string& ack_id : in.ack_ids()) impl_->AckLocked(*sub, ack_id);
  for (int i = 0; i < in.modify_deadline_ack_ids_size(); ++i) {
    impl_->ModifyDeadlineLocked(*sub, in.modify_deadline_ack_ids(i),
                                in.modify_deadline_seconds(i));
  }
}

void FakePubSub::Impl::StreamReactor::OnWriteDone(bool ok) {
  absl::MutexLock lock(&impl_->mu);
  write_in_flight = false;
  // A failed write means the call is gone; the messages in it stay
  // outstanding until their deadlines, as on the service.
  if (!ok) EndLocked(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
  impl_->Wake();
}

void FakePubSub::Impl::StreamReactor::OnCancel() {
  absl::MutexLock lock(&impl_->mu);
  cancelled = true;
  EndLocked(grpc::Status::CANCELLED);
}

void FakePubSub::Impl::StreamReactor::OnDone() {
  {
    absl::MutexLock lock(&impl_->mu);
    // Normally already gone (the dispatcher removes a stream when it finishes
    // it); kept for safety.
    auto it = impl_->streams.find(id);
    if (it != impl_->streams.end() && it->second == this) {
      impl_->streams.erase(it);
    }
    impl_->Changed();
  }
  delete this;
}

// --- Unary methods ---

grpc::ServerUnaryReactor* FakePubSub::Impl::SubscriberService::Pull(
    grpc::CallbackServerContext* context, const pubsub::PullRequest* request,
    pubsub::PullResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status status = impl_->CheckAuth(context);
  if (status.ok()) {
    absl::MutexLock lock(&impl_->mu);
    Subscription* sub = impl_->FindSubscription(request->subscription());
    if (sub == nullptr) {
      status = NotFound(request->subscription());
    } else if (request->max_messages() <= 0) {
      status = InvalidArgument("max_messages must be positive.");
    } else {
      impl_->PullLocked(*sub, request->max_messages(), response);
      if (response->received_messages_size() == 0 &&
          !ReturnImmediately(*request) && !impl_->stopping) {
        impl_->parked.push_back(ParkedPull{
            .until = absl::Now() + kPullWait,
            .context = context,
            .reactor = reactor,
            .response = response,
            .sub = sub,
            .max_messages = request->max_messages(),
        });
        impl_->Wake();
        return reactor;  // the dispatcher answers
      }
    }
  }
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* FakePubSub::Impl::SubscriberService::Acknowledge(
    grpc::CallbackServerContext* context,
    const pubsub::AcknowledgeRequest* request, google::protobuf::Empty*) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status status = impl_->CheckAuth(context);
  if (status.ok()) {
    absl::MutexLock lock(&impl_->mu);
    Subscription* sub = impl_->FindSubscription(request->subscription());
    if (sub == nullptr) {
      status = NotFound(request->subscription());
    } else if (request->ack_ids().empty()) {
      status = InvalidArgument("No ack ids specified.");
    } else {
      for (const std::string& ack_id : request->ack_ids()) {
        impl_->AckLocked(*sub, ack_id);
      }
    }
  }
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor*
FakePubSub::Impl::SubscriberService::ModifyAckDeadline(
    grpc::CallbackServerContext* context,
    const pubsub::ModifyAckDeadlineRequest* request, google::protobuf::Empty*) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status status = impl_->CheckAuth(context);
  if (status.ok()) {
    absl::MutexLock lock(&impl_->mu);
    Subscription* sub = impl_->FindSubscription(request->subscription());
    if (sub == nullptr) {
      status = NotFound(request->subscription());
    } else if (request->ack_ids().empty()) {
      status = InvalidArgument("No ack ids specified.");
    } else if (request->ack_deadline_seconds() < 0 ||
               request->ack_deadline_seconds() > kMaxAckDeadlineSeconds) {
      status = InvalidArgument(absl::StrCat(
          "Invalid ack_deadline_seconds: ", request->ack_deadline_seconds(),
          "."));
    } else {
      for (const std::string& ack_id : request->ack_ids()) {
        impl_->ModifyDeadlineLocked(*sub, ack_id,
                                    request->ack_deadline_seconds());
      }
    }
  }
  reactor->Finish(status);
  return reactor;
}

grpc::ServerUnaryReactor* FakePubSub::Impl::PublisherService::Publish(
    grpc::CallbackServerContext* context, const pubsub::PublishRequest* request,
    pubsub::PublishResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  {
    absl::MutexLock lock(&impl_->mu);
    ++impl_->publish_calls;
    impl_->Changed();
  }
  grpc::Status status = impl_->CheckAuth(context);
  {
    absl::MutexLock lock(&impl_->mu);
    if (!status.ok()) {
      // Answered below.
    } else if (impl_->fail_publishes > 0) {
      --impl_->fail_publishes;
      status = grpc::Status(impl_->fail_publish_code,
                            FailureMessage(impl_->fail_publish_code));
    } else if (auto topic = impl_->topics.find(request->topic());
               topic == impl_->topics.end()) {
      status = NotFound(request->topic());
    } else if (request->messages().empty()) {
      status = InvalidArgument("The publish request contains no messages.");
    } else if (request->messages_size() > kMaxPublishMessages) {
      status = InvalidArgument(
          absl::StrCat("The value for message_count is too large. You passed ",
                       request->messages_size(),
                       " in the request, but the maximum value is ",
                       kMaxPublishMessages, "."));
    } else if (request->ByteSizeLong() > kMaxPublishRequestBytes) {
      status = InvalidArgument(absl::StrCat(
          "Request payload size exceeds the limit: ", kMaxPublishRequestBytes,
          " bytes."));
    } else if (std::any_of(request->messages().begin(),
                           request->messages().end(),
                           [](const pubsub::PubsubMessage& m) {
                             return m.data().empty() && m.attributes().empty();
                           })) {
      status = InvalidArgument(
          "One or more messages in the publish request is empty. Each message "
          "must contain either non-empty data, or at least one attribute.");
    } else if (std::string problem; std::any_of(
                   request->messages().begin(), request->messages().end(),
                   [&problem](const pubsub::PubsubMessage& m) {
                     problem = AttributeProblem(m);
                     return !problem.empty();
                   })) {
      status = InvalidArgument(problem);
    } else {
      impl_->publish_sizes.push_back(request->messages_size());
      for (const pubsub::PubsubMessage& message : request->messages()) {
        pubsub::PubsubMessage copy = message;
        copy.clear_message_id();
        copy.clear_publish_time();
        response->add_message_ids(
            impl_->PublishLocked(topic->second, std::move(copy)));
      }
    }
    if (impl_->publish_delay > absl::ZeroDuration() && !impl_->stopping) {
      // Published already; only the answer is late, so a client that gives up
      // and retries publishes twice, as it would on the service.
      impl_->timed.push_back(TimedFinish{
          .at = absl::Now() + impl_->publish_delay,
          .unary = reactor,
          .context = context,
          .status = status,
      });
      impl_->Wake();
      return reactor;
    }
  }
  reactor->Finish(status);
  return reactor;
}

// --- Dispatcher ---

void FakePubSub::Impl::DispatchLoop() {
  std::vector<Action> actions;
  for (;;) {
    actions.clear();
    bool exit = false;
    {
      absl::MutexLock lock(&mu);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return dirty || exit_dispatcher;
      };
      mu.AwaitWithDeadline(absl::Condition(&ready),
                           NextWakeLocked(absl::Now()));
      dirty = false;
      CollectLocked(&actions);
      exit = exit_dispatcher;
    }
    Run(actions);
    if (exit) return;
  }
}

absl::Time FakePubSub::Impl::NextWakeLocked(absl::Time now) const {
  absl::Time wake = now + kMaxDispatchSleep;
  if (!expiries.empty()) wake = std::min(wake, expiries.top().deadline);
  for (const TimedFinish& t : timed) wake = std::min(wake, t.at);
  for (const ParkedPull& p : parked) wake = std::min(wake, p.until);
  return wake;
}

void FakePubSub::Impl::CollectLocked(std::vector<Action>* actions) {
  const absl::Time now = absl::Now();
  ExpireDueLocked(now);

  for (auto it = timed.begin(); it != timed.end();) {
    bool cancelled = it->stream != nullptr ? it->stream->cancelled
                                           : it->context->IsCancelled();
    if (!stopping && !cancelled && it->at > now) {
      ++it;
      continue;
    }
    if (it->stream != nullptr) {
      it->stream->finished = true;
      actions->push_back(Action{.kind = Action::kFinishStream,
                                .stream = it->stream,
                                .status = it->status});
    } else {
      actions->push_back(Action{.kind = Action::kFinishUnary,
                                .unary = it->unary,
                                .status = it->status});
    }
    it = timed.erase(it);
    Changed();
  }

  for (auto it = parked.begin(); it != parked.end();) {
    const bool give_up =
        stopping || it->until <= now || it->context->IsCancelled();
    if (!give_up) {
      PullLocked(*it->sub, it->max_messages, it->response);
      if (it->response->received_messages_size() == 0) {
        ++it;
        continue;
      }
    }
    actions->push_back(Action{.kind = Action::kFinishUnary,
                              .unary = it->reactor,
                              .status = grpc::Status::OK});
    it = parked.erase(it);
  }

  // Streams to end, streams to read from, and who can take messages.
  std::map<Subscription*, std::vector<StreamReactor*>> takers;
  for (auto it = streams.begin(); it != streams.end();) {
    StreamReactor* stream = it->second;
    if (stopping && !stream->finish.has_value()) {
      stream->finish = grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          "The service was unable to fulfill your request. Please try again.");
    }
    if (stream->finish.has_value()) {
      // Its outstanding messages keep their deadlines (the service redelivers
      // them after the deadline, not at once).
      stream->finished = true;
      actions->push_back(Action{.kind = Action::kFinishStream,
                                .stream = stream,
                                .status = *stream->finish});
      it = streams.erase(it);
      Changed();
      continue;
    }
    if (!stream->read_in_flight && !stream->read_closed) {
      stream->read_in_flight = true;
      actions->push_back(Action{.kind = Action::kRead, .stream = stream});
    }
    if (stream->sub != nullptr && !stream->write_in_flight) {
      takers[stream->sub].push_back(stream);
    }
    ++it;
  }
  for (auto& [sub, to] : takers) {
    if (sub->available.empty()) continue;
    DistributeLocked(*sub, to);
    for (StreamReactor* stream : to) {
      if (stream->out.received_messages_size() == 0) continue;
      stream->write_in_flight = true;
      actions->push_back(Action{.kind = Action::kWrite, .stream = stream});
    }
  }
}

void FakePubSub::Impl::DistributeLocked(Subscription& sub,
                                        const std::vector<StreamReactor*>& to) {
  for (StreamReactor* stream : to) {
    stream->ClearOutLocked();
    stream->batch_bytes = 0;
  }
  // Round robin, one message at a time, starting with a different stream each
  // time, so that streams of one subscription share its messages.
  const size_t start = sub.round_robin++;
  bool progress = true;
  while (progress && !sub.available.empty()) {
    progress = false;
    for (size_t i = 0; i < to.size() && !sub.available.empty(); ++i) {
      StreamReactor* stream = to[(start + i) % to.size()];
      const uint64_t seq = sub.available.front();
      const size_t bytes = sub.entries.at(seq).bytes;
      if (!stream->HasRoom(bytes)) continue;
      sub.available.pop_front();
      pubsub::ReceivedMessage* out = stream->out.add_received_messages();
      stream->LendLocked(
          DeliverLocked(sub, seq, stream->id, stream->deadline_seconds, out)
              .message,
          out);
      stream->outstanding_messages += 1;
      stream->outstanding_bytes += static_cast<int64_t>(bytes);
      stream->batch_bytes += bytes;
      progress = true;
    }
  }
}

void FakePubSub::Impl::Run(std::vector<Action>& actions) {
  for (Action& action : actions) {
    switch (action.kind) {
      case Action::kRead:
        action.stream->StartRead(&action.stream->in);
        break;
      case Action::kWrite:
        // `out` is not touched again until OnWriteDone.
        action.stream->StartWrite(&action.stream->out);
        break;
      case Action::kFinishStream:
        // May delete the reactor (OnDone); it is not used again.
        action.stream->Finish(std::move(action.status));
        break;
      case Action::kFinishUnary:
        action.unary->Finish(std::move(action.status));
        break;
    }
  }
}

// --- FakePubSub ---

FakePubSub::FakePubSub(FakeTlsOptions tls)
    : impl_(std::make_unique<Impl>(std::move(tls))) {}

FakePubSub::~FakePubSub() { Stop(); }

absl::Status FakePubSub::Start(int port) {
  std::lock_guard<std::mutex> lifecycle(impl_->lifecycle_mu);
  if (impl_->server != nullptr) {
    return absl::FailedPreconditionError("fake Pub/Sub already started");
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      GrpcServerCredentials(impl_->tls);
  if (!credentials.ok()) return credentials.status();

  {
    absl::MutexLock lock(&impl_->mu);
    impl_->stopping = false;
    impl_->exit_dispatcher = false;
  }
  impl_->dispatcher =
      std::thread([impl = impl_.get()] { impl->DispatchLoop(); });

  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), *credentials,
                           &bound_port);
  // Without this gRPC sets SO_REUSEPORT, and Start() on a port in use would
  // "succeed".
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Let oversized publishes reach the handler, which refuses them as Pub/Sub
  // does (INVALID_ARGUMENT), instead of gRPC's RESOURCE_EXHAUSTED at 4 MB.
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(impl_->subscriber_service.get());
  builder.RegisterService(impl_->publisher_service.get());
  impl_->held_port.Release();
  impl_->server = builder.BuildAndStart();
  if (impl_->server == nullptr || bound_port == 0) {
    impl_->server.reset();
    {
      absl::MutexLock lock(&impl_->mu);
      impl_->exit_dispatcher = true;
    }
    impl_->dispatcher.join();
    return absl::UnavailableError(
        absl::StrCat("fake Pub/Sub cannot listen on 127.0.0.1:", port));
  }
  impl_->port = bound_port;
  return absl::OkStatus();
}

void FakePubSub::Stop() {
  std::lock_guard<std::mutex> lifecycle(impl_->lifecycle_mu);
  if (impl_->server == nullptr) return;
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->stopping = true;
    impl_->Wake();
  }
  // The dispatcher ends every call now; the grace period only matters for a
  // client that stopped reading.
  impl_->server->Shutdown(absl::ToChronoTime(absl::Now() + kShutdownGrace));
  impl_->server->Wait();
  impl_->server.reset();
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->exit_dispatcher = true;
  }
  impl_->dispatcher.join();

  impl_->held_port.Hold(impl_->port.load());
}

int FakePubSub::port() const { return impl_->port.load(); }

std::string FakePubSub::address() const {
  return absl::StrCat("127.0.0.1:", port());
}

absl::Status FakePubSub::CreateTopic(absl::string_view topic) {
  absl::MutexLock lock(&impl_->mu);
  if (!impl_->topics.try_emplace(topic).second) {
    return absl::AlreadyExistsError(absl::StrCat("topic exists: ", topic));
  }
  impl_->Changed();
  return absl::OkStatus();
}

absl::Status FakePubSub::CreateSubscription(absl::string_view subscription,
                                            absl::string_view topic,
                                            int ack_deadline_seconds) {
  if (!ValidAckDeadline(ack_deadline_seconds)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ack deadline ", ack_deadline_seconds, " not in 10..600"));
  }
  absl::MutexLock lock(&impl_->mu);
  auto t = impl_->topics.find(topic);
  if (t == impl_->topics.end()) {
    return absl::NotFoundError(absl::StrCat("no topic ", topic));
  }
  auto [it, inserted] = impl_->subscriptions.try_emplace(subscription);
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("subscription exists: ", subscription));
  }
  it->second.name = std::string(subscription);
  it->second.topic = std::string(topic);
  it->second.ack_deadline_seconds = ack_deadline_seconds;
  t->second.subscriptions.push_back(&it->second);
  impl_->Changed();
  return absl::OkStatus();
}

std::string FakePubSub::Publish(
    absl::string_view topic, absl::string_view data,
    const std::map<std::string, std::string>& attributes) {
  google::pubsub::v1::PubsubMessage message;
  message.set_data(std::string(data));
  for (const auto& [key, value] : attributes) {
    (*message.mutable_attributes())[key] = value;
  }
  absl::MutexLock lock(&impl_->mu);
  auto t = impl_->topics.find(topic);
  if (t == impl_->topics.end()) return "";
  return impl_->PublishLocked(t->second, std::move(message));
}

void FakePubSub::RequireBearer(
    std::function<bool(absl::string_view token)> valid) {
  absl::MutexLock lock(&impl_->mu);
  impl_->bearer_check = std::move(valid);
}

void FakePubSub::SetDeadlineScale(double scale) {
  absl::MutexLock lock(&impl_->mu);
  impl_->deadline_scale = scale > 0 ? scale : 1.0;
}

void FakePubSub::DropStreams(grpc::StatusCode code) {
  absl::MutexLock lock(&impl_->mu);
  for (auto& [id, stream] : impl_->streams) {
    if (stream->finish.has_value()) continue;
    stream->finish = grpc::Status(
        code, code == grpc::StatusCode::UNAVAILABLE
                  ? "The service was unable to fulfill your request. Please "
                    "try again."
                  : "fake: stream dropped");
  }
  impl_->Wake();
}

void FakePubSub::RejectStreams(int n, grpc::StatusCode code,
                               absl::Duration delay) {
  absl::MutexLock lock(&impl_->mu);
  impl_->reject_streams = n;
  impl_->reject_code = code;
  impl_->reject_delay = delay;
}

void FakePubSub::FailNextPublishes(int n, grpc::StatusCode code) {
  absl::MutexLock lock(&impl_->mu);
  impl_->fail_publishes = n;
  impl_->fail_publish_code = code;
}

void FakePubSub::SetPublishDelay(absl::Duration delay) {
  absl::MutexLock lock(&impl_->mu);
  impl_->publish_delay = delay;
}

std::vector<std::string> FakePubSub::Acked(
    absl::string_view subscription) const {
  absl::MutexLock lock(&impl_->mu);
  const Impl::Subscription* sub = impl_->FindSubscription(subscription);
  std::vector<std::string> ids;
  if (sub == nullptr) return ids;
  ids.reserve(sub->acked.size());
  for (uint64_t seq : sub->acked) ids.push_back(absl::StrCat(seq));
  return ids;
}

int FakePubSub::AckCount(absl::string_view message_id) const {
  absl::MutexLock lock(&impl_->mu);
  uint64_t seq = 0;
  if (!absl::SimpleAtoi(message_id, &seq) || seq >= impl_->ack_counts.size()) {
    return 0;
  }
  return impl_->ack_counts[seq];
}

int FakePubSub::IgnoredAcks(absl::string_view subscription) const {
  absl::MutexLock lock(&impl_->mu);
  const Impl::Subscription* sub = impl_->FindSubscription(subscription);
  return sub == nullptr ? 0 : sub->ignored_acks;
}

std::vector<std::string> FakePubSub::Nacked(
    absl::string_view subscription) const {
  absl::MutexLock lock(&impl_->mu);
  const Impl::Subscription* sub = impl_->FindSubscription(subscription);
  return sub == nullptr ? std::vector<std::string>() : sub->nacked;
}

std::vector<FakePubSub::ModAck> FakePubSub::ModAcks(
    absl::string_view subscription) const {
  absl::MutexLock lock(&impl_->mu);
  const Impl::Subscription* sub = impl_->FindSubscription(subscription);
  return sub == nullptr ? std::vector<ModAck>() : sub->modacks;
}

int FakePubSub::Deliveries(absl::string_view message_id) const {
  absl::MutexLock lock(&impl_->mu);
  uint64_t seq = 0;
  if (!absl::SimpleAtoi(message_id, &seq) || seq >= impl_->deliveries.size()) {
    return 0;
  }
  return impl_->deliveries[seq];
}

std::vector<std::string> FakePubSub::Pending(
    absl::string_view subscription) const {
  absl::MutexLock lock(&impl_->mu);
  std::vector<std::string> ids;
  const Impl::Subscription* sub = impl_->FindSubscription(subscription);
  if (sub == nullptr) return ids;
  for (const auto& [seq, entry] : sub->entries) {
    ids.push_back(entry.message->message_id());
  }
  return ids;
}

int FakePubSub::OpenStreams() const {
  absl::MutexLock lock(&impl_->mu);
  int n = 0;
  for (const auto& [id, stream] : impl_->streams) {
    if (stream->sub != nullptr && !stream->finish.has_value()) ++n;
  }
  return n;
}

int FakePubSub::StreamsOpened() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->streams_opened;
}

std::vector<google::pubsub::v1::StreamingPullRequest>
FakePubSub::FirstRequests() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->first_requests;
}

std::vector<google::pubsub::v1::PubsubMessage> FakePubSub::Published(
    absl::string_view topic) const {
  absl::MutexLock lock(&impl_->mu);
  auto it = impl_->topics.find(topic);
  return it == impl_->topics.end()
             ? std::vector<google::pubsub::v1::PubsubMessage>()
             : it->second.published;
}

int FakePubSub::PublishCalls() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->publish_calls;
}

std::vector<size_t> FakePubSub::PublishSizes() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->publish_sizes;
}

bool FakePubSub::WaitForAcked(absl::string_view subscription, size_t n,
                              absl::Duration timeout) const {
  return WaitFor([&] { return Acked(subscription).size() >= n; }, timeout);
}

bool FakePubSub::WaitForPublished(absl::string_view topic, size_t n,
                                  absl::Duration timeout) const {
  return WaitFor([&] { return Published(topic).size() >= n; }, timeout);
}

bool FakePubSub::WaitForOpenStreams(int n, absl::Duration timeout) const {
  return WaitFor([&] { return OpenStreams() >= n; }, timeout);
}

bool FakePubSub::WaitFor(const std::function<bool()>& cond,
                         absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    uint64_t seen;
    {
      absl::MutexLock lock(&impl_->mu);
      seen = impl_->version;
    }
    // Evaluated without the lock: `cond` calls the observers.
    if (cond()) return true;
    const absl::Time now = absl::Now();
    if (now >= deadline) return false;
    absl::MutexLock lock(&impl_->mu);
    auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(impl_->mu) {
      return impl_->version != seen;
    };
    // The 20 ms cap covers conditions on state outside the fake.
    impl_->mu.AwaitWithDeadline(
        absl::Condition(&changed),
        std::min(deadline, now + absl::Milliseconds(20)));
  }
}

}  // namespace corral::fakes
