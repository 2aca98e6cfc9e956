#include "ingest/gcpaudit/pubsub_subscriber.h"

#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/cpus.h"
#include "core/log.h"
#include "google/pubsub/v1/pubsub.grpc.pb.h"

namespace corral::ingest::gcpaudit {
namespace {

namespace pubsub = ::google::pubsub::v1;

// Pub/Sub refuses requests over 10 MB; ack ids are up to ~200 bytes, so
// requests are split well below that.
constexpr size_t kMaxIdsPerRequest = 2500;

// How long the sender lets decisions gather before sending them: long
// enough to take the whole burst one spool fsync answers, short because
// Pub/Sub counts a message against max_outstanding_messages until its ack
// arrives, so time spent lingering is time the stream delivers less.
constexpr absl::Duration kAckLinger = absl::Milliseconds(1);

// Streams that deliver nothing and end, in a row, before it is an error
// worth an operator's attention rather than routine.
constexpr int kFailuresBeforeError = 3;

// A stream that lasted this long was healthy: the next reconnect starts from
// the initial backoff again.
constexpr absl::Duration kHealthyStream = absl::Seconds(10);

std::string RandomClientId() {
  absl::BitGen gen;
  return absl::StrCat("corral-", absl::Hex(absl::Uniform<uint64_t>(gen)));
}

void NameThread(absl::string_view name) {
  // Linux limits thread names to 15 characters.
  std::string n(name.substr(0, 15));
  pthread_setname_np(pthread_self(), n.c_str());
}

// gRPC's name for a status code ("UNAVAILABLE"), for logs and metric labels.
std::string CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  if (i >= 0 && i < static_cast<int>(std::size(kNames))) return kNames[i];
  return absl::StrCat(i);
}

int DeadlineSeconds(absl::Duration d) {
  return static_cast<int>(absl::ToInt64Seconds(d));
}

// Splits decisions into requests Pub/Sub accepts.
std::vector<pubsub::StreamingPullRequest> DecisionRequests(
    const std::vector<std::string>& acks, const std::vector<std::string>& nacks,
    const std::vector<std::string>& extend, int extend_seconds) {
  std::vector<pubsub::StreamingPullRequest> requests;
  auto current = [&]() -> pubsub::StreamingPullRequest& {
    if (requests.empty() ||
        requests.back().ack_ids_size() +
                requests.back().modify_deadline_ack_ids_size() >=
            static_cast<int>(kMaxIdsPerRequest)) {
      requests.emplace_back();
    }
    return requests.back();
  };
  for (const std::string& id : acks) current().add_ack_ids(id);
  for (const std::string& id : nacks) {
    pubsub::StreamingPullRequest& r = current();
    r.add_modify_deadline_ack_ids(id);
    r.add_modify_deadline_seconds(0);
  }
  for (const std::string& id : extend) {
    pubsub::StreamingPullRequest& r = current();
    r.add_modify_deadline_ack_ids(id);
    r.add_modify_deadline_seconds(extend_seconds);
  }
  return requests;
}

}  // namespace

PubSubSubscriber::PubSubSubscriber(PubSubSubscriberOptions options,
                                   Handler handler,
                                   core::MetricsRegistry* metrics)
    : options_(std::move(options)),
      client_id_(RandomClientId()),
      handler_(std::move(handler)) {
  const std::vector<std::string> labels = {options_.name};
  received_ = metrics
                  ->AddCounter("corral_gcpaudit_received_total",
                               "Pub/Sub messages delivered to corral.",
                               {"subscription"})
                  ->With(labels);
  acked_ = metrics
               ->AddCounter("corral_gcpaudit_acked_total",
                            "Pub/Sub messages acked (their alerts spooled, "
                            "or none needed).",
                            {"subscription"})
               ->With(labels);
  nacked_ = metrics
                ->AddCounter("corral_gcpaudit_nacked_total",
                             "Pub/Sub messages handed back for redelivery "
                             "(spool full, shutting down).",
                             {"subscription"})
                ->With(labels);
  lease_extensions_ =
      metrics
          ->AddCounter("corral_gcpaudit_lease_extensions_total",
                       "Ack deadline extensions sent for messages in flight.",
                       {"subscription"})
          ->With(labels);
  stream_ends_ = metrics->AddCounter(
      "corral_gcpaudit_stream_ends_total",
      "StreamingPull streams that ended, by gRPC status code (streams are "
      "reopened; Pub/Sub closes them routinely).",
      {"subscription", "code"});
  in_flight_gauge_ =
      metrics
          ->AddGauge("corral_gcpaudit_in_flight_messages",
                     "Pub/Sub messages delivered and not yet acked or nacked.",
                     {"subscription"})
          ->With(labels);
}

PubSubSubscriber::~PubSubSubscriber() {
  Stop(absl::Now());
  guard_.Close();
}

absl::Duration PubSubSubscriber::ExtendEvery() const {
  return options_.extend_every > absl::ZeroDuration()
             ? options_.extend_every
             : options_.ack_deadline / 2;
}

void PubSubSubscriber::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  pull_thread_ = std::thread([this] {
    NameThread(absl::StrCat("pubsub:", options_.name));
    PullLoop();
  });
  send_thread_ = std::thread([this] {
    NameThread(absl::StrCat("pubsub:", options_.name));
    SendLoop();
  });
  const int handlers = options_.handler_threads > 0 ? options_.handler_threads
                                                    : core::UsableCpus();
  for (int i = 0; i < handlers; ++i) {
    handler_threads_.emplace_back([this] {
      NameThread(absl::StrCat("pubsub:", options_.name));
      HandleLoop();
    });
  }
}

void PubSubSubscriber::BeginStop() {
  absl::MutexLock lock(&mu_);
  if (!started_ || stopping_) return;
  stopping_ = true;
  if (context_ != nullptr) context_->TryCancel();
}

void PubSubSubscriber::Stop(absl::Time deadline) {
  absl::MutexLock stop_lock(&stop_mu_);
  BeginStop();
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || closing_) return;
    // Every message handed to the handler decided.
    auto settled = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return handling_ == 0;
    };
    mu_.AwaitWithDeadline(absl::Condition(&settled), deadline);
    closing_ = true;
  }
  pull_thread_.join();
  send_thread_.join();
  for (std::thread& t : handler_threads_) t.join();
  FlushUnary(std::max(deadline, absl::Now() + absl::Seconds(1)));
}

int64_t PubSubSubscriber::in_flight() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(leases_.size());
}

int64_t PubSubSubscriber::streams_opened() const {
  absl::MutexLock lock(&mu_);
  return streams_opened_;
}

void PubSubSubscriber::PullLoop() {
  absl::BitGen jitter;
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      // While stopping, decisions go out by unary calls: no new stream.
      if (closing_ || stopping_) return;
    }
    const absl::Time opened = absl::Now();
    const bool delivered = RunStream();
    if (delivered || absl::Now() - opened >= kHealthyStream) {
      backoff = options_.initial_backoff;
    }
    const absl::Duration wait =
        backoff * absl::Uniform(jitter, 0.5, 1.0);  // spread reconnects
    backoff = std::min(backoff * 2, options_.max_backoff);
    absl::MutexLock lock(&mu_);
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return closing_ || stopping_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&ended), wait);
  }
}

bool PubSubSubscriber::RunStream() {
  auto stub = pubsub::Subscriber::NewStub(options_.channel);
  grpc::ClientContext context;
  {
    absl::MutexLock lock(&mu_);
    if (closing_ || stopping_) return false;
    context_ = &context;
    ++streams_opened_;
  }
  std::unique_ptr<Stream> stream = stub->StreamingPull(&context);

  pubsub::StreamingPullRequest first;
  first.set_subscription(options_.subscription);
  first.set_stream_ack_deadline_seconds(DeadlineSeconds(options_.ack_deadline));
  first.set_client_id(client_id_);
  first.set_max_outstanding_messages(options_.max_outstanding_messages);
  first.set_max_outstanding_bytes(options_.max_outstanding_bytes);
  bool delivered = false;
  if (stream->Write(first)) {
    {
      absl::MutexLock lock(&write_mu_);
      stream_ = stream.get();
    }
    {
      absl::MutexLock lock(&mu_);
      stream_up_ = true;
      ++stream_generation_;
    }
    pubsub::StreamingPullResponse response;
    while (stream->Read(&response)) {
      if (response.received_messages_size() > 0) delivered = true;
      OnReceived(response);
    }
    {
      absl::MutexLock lock(&mu_);
      stream_up_ = false;
    }
    absl::MutexLock lock(&write_mu_);
    stream_ = nullptr;
  }
  const grpc::Status status = stream->Finish();
  bool closing;
  {
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
    closing = closing_ || stopping_;
  }
  if (closing) return delivered;
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    options_.token_refused();
  }
  const std::string code = CodeName(status.error_code());
  stream_ends_->With({options_.name, code})->Inc();
  const bool routine =
      delivered && (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                    status.error_code() == grpc::StatusCode::OK);
  failed_streams_ = delivered ? 0 : failed_streams_ + 1;
  if (routine || failed_streams_ < kFailuresBeforeError) {
    // Pub/Sub ends streams routinely (about every 30 minutes, and when it
    // rebalances); reconnecting is the protocol.
    core::LogInfo("Pub/Sub stream ended; reconnecting",
                  {{"subscription", options_.name},
                   {"code", code},
                   {"error", status.error_message()}});
  } else {
    // Refused or unreachable again and again (no such subscription, no
    // permission, a key Google refuses, ...): the operator must act. corral
    // keeps trying so that it recovers once they have.
    core::LogError("cannot pull from Pub/Sub; retrying",
                   {{"subscription", options_.name},
                    {"pubsub", options_.subscription},
                    {"attempts", absl::StrCat(failed_streams_)},
                    {"code", code},
                    {"error", status.error_message()}});
  }
  return delivered;
}

void PubSubSubscriber::OnReceived(pubsub::StreamingPullResponse& response) {
  received_->Inc(response.received_messages_size());
  // One lock for the whole response (released only while flow control
  // waits): handler threads wake once per batch, not once per message.
  absl::MutexLock lock(&mu_);
  // Lease everything first, so that deadlines are extended even for messages
  // that wait here for flow control.
  for (const pubsub::ReceivedMessage& m : response.received_messages()) {
    const int64_t bytes = static_cast<int64_t>(m.message().ByteSizeLong());
    leases_.try_emplace(m.ack_id(), Lease{.bytes = bytes});
  }
  in_flight_gauge_->Set(static_cast<double>(leases_.size()));
  for (pubsub::ReceivedMessage& m : *response.mutable_received_messages()) {
    auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || handling_ == 0 ||
             (handling_ < options_.max_outstanding_messages &&
              handling_bytes_ < options_.max_outstanding_bytes);
    };
    mu_.Await(absl::Condition(&room));
    auto lease = leases_.find(m.ack_id());
    if (lease == leases_.end() || lease->second.handling) {
      continue;  // the same ack id twice in a response
    }
    if (stopping_) {
      // Shutting down: let another subscriber (or the next run) have it.
      pending_nacks_.push_back(m.ack_id());
      leases_.erase(lease);
      continue;
    }
    lease->second.handling = true;
    ++handling_;
    handling_bytes_ += lease->second.bytes;
    work_.push_back(Work{std::move(*m.mutable_ack_id()),
                         std::move(*m.mutable_message()->mutable_message_id()),
                         std::move(*m.mutable_message()->mutable_data())});
  }
}

void PubSubSubscriber::HandleLoop() {
  // Taken a few at a time: one lock per batch, and the other handler
  // threads still get a share of a large response.
  constexpr size_t kBatch = 16;
  std::vector<Work> batch;
  while (true) {
    batch.clear();
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return closing_ || !work_.empty();
        };
        mu_.Await(absl::Condition(&ready));
        // Delivered work is finished even when closing: it takes
        // microseconds, and its decision still reaches Pub/Sub by the unary
        // flush.
        if (work_.empty()) return;
        if (stopping_ || absl::Now() >= paused_until_) break;
        auto unpause = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_;
        };
        mu_.AwaitWithDeadline(absl::Condition(&unpause), paused_until_);
      }
      // While refusals are being tried out, one message at a time.
      const size_t take = refusal_pause_ > absl::ZeroDuration() ? 1 : kBatch;
      while (!work_.empty() && batch.size() < take) {
        batch.push_back(std::move(work_.front()));
        work_.pop_front();
      }
    }
    for (Work& work : batch) {
      handler_(
          work.message_id, work.data,
          [self = guard_.handle(),
           ack_id = std::move(work.ack_id)](AckDecision decision) {
            self.Run([&](PubSubSubscriber& s) { s.Decide(ack_id, decision); });
          });
    }
  }
}

void PubSubSubscriber::Decide(const std::string& ack_id, AckDecision decision) {
  absl::MutexLock lock(&mu_);
  auto lease = leases_.find(ack_id);
  if (lease == leases_.end()) return;
  if (lease->second.handling) {
    --handling_;
    handling_bytes_ -= lease->second.bytes;
  }
  leases_.erase(lease);
  in_flight_gauge_->Set(static_cast<double>(leases_.size()));
  if (decision == AckDecision::kAck) {
    pending_acks_.push_back(ack_id);
    refusal_pause_ = absl::ZeroDuration();
    return;
  }
  pending_nacks_.push_back(ack_id);
  if (stopping_) return;
  refusal_pause_ =
      refusal_pause_ == absl::ZeroDuration()
          ? options_.initial_refusal_pause
          : std::min(refusal_pause_ * 2, options_.max_refusal_pause);
  const absl::Time now = absl::Now();
  paused_until_ = now + refusal_pause_;
  if (now - refusal_logged_ >= absl::Seconds(10)) {
    refusal_logged_ = now;
    core::LogWarn(
        "alerts refused; Pub/Sub messages handed back and pulling paused",
        {{"subscription", options_.name},
         {"pause", absl::FormatDuration(refusal_pause_)}});
  }
}

bool PubSubSubscriber::WriteToStream(
    const pubsub::StreamingPullRequest& request) {
  absl::MutexLock lock(&write_mu_);
  return stream_ != nullptr && stream_->Write(request);
}

void PubSubSubscriber::SendLoop() {
  const absl::Duration extend_every = ExtendEvery();
  absl::Time next_extension = absl::Now() + extend_every;
  absl::Time next_keepalive = absl::Now() + options_.keepalive;
  uint64_t generation_seen = 0;
  // Held except while writing (a write may block on flow control).
  mu_.Lock();
  while (true) {
    if (!stream_up_) {
      // Nothing can be sent; extensions and keepalives wait for a stream
      // (a new one extends every lease at once).
      auto up = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return closing_ || stream_up_;
      };
      mu_.Await(absl::Condition(&up));
      if (closing_) break;
    }
    auto work = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return closing_ || (stream_up_ &&
                          (!pending_acks_.empty() || !pending_nacks_.empty() ||
                           stream_generation_ != generation_seen));
    };
    mu_.AwaitWithDeadline(absl::Condition(&work),
                          std::min(next_extension, next_keepalive));
    if (closing_) break;
    if (!stream_up_) continue;
    // Decisions arrive one by one from the spool's callbacks; lingering a
    // moment sends them as one request instead of waking for each.
    auto full = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return closing_ || stopping_ ||
             pending_acks_.size() + pending_nacks_.size() >= kMaxIdsPerRequest;
    };
    mu_.AwaitWithTimeout(absl::Condition(&full), kAckLinger);
    if (closing_) break;
    if (!stream_up_) continue;
    const absl::Time now = absl::Now();
    const uint64_t generation = stream_generation_;
    const bool new_stream = generation != generation_seen;
    generation_seen = generation;
    std::vector<std::string> acks, nacks, extend;
    acks.swap(pending_acks_);
    nacks.swap(pending_nacks_);
    if ((new_stream || now >= next_extension) && !leases_.empty()) {
      for (const auto& [ack_id, lease] : leases_) extend.push_back(ack_id);
    }
    if (new_stream || now >= next_extension)
      next_extension = now + extend_every;
    mu_.Unlock();

    std::vector<pubsub::StreamingPullRequest> requests = DecisionRequests(
        acks, nacks, extend, DeadlineSeconds(options_.ack_deadline));
    if (requests.empty() && now >= next_keepalive) requests.emplace_back();
    size_t sent = 0;
    for (; sent < requests.size(); ++sent) {
      if (!WriteToStream(requests[sent])) break;
      acked_->Inc(requests[sent].ack_ids_size());
      int nacks_in = 0;
      for (int s : requests[sent].modify_deadline_seconds()) nacks_in += s == 0;
      nacked_->Inc(nacks_in);
      lease_extensions_->Inc(requests[sent].modify_deadline_ack_ids_size() -
                             nacks_in);
    }
    if (!requests.empty()) next_keepalive = now + options_.keepalive;

    mu_.Lock();
    if (sent < requests.size()) {
      // The stream broke under us: keep the decisions for the next one (or
      // for the unary flush at Stop). Extensions are redone anyway.
      for (size_t i = sent; i < requests.size(); ++i) {
        const pubsub::StreamingPullRequest& r = requests[i];
        for (const std::string& id : r.ack_ids()) pending_acks_.push_back(id);
        for (int j = 0; j < r.modify_deadline_ack_ids_size(); ++j) {
          if (r.modify_deadline_seconds(j) == 0) {
            pending_nacks_.push_back(r.modify_deadline_ack_ids(j));
          }
        }
      }
      if (stream_generation_ == generation) stream_up_ = false;
    }
  }
  mu_.Unlock();
}

void PubSubSubscriber::FlushUnary(absl::Time deadline) {
  std::vector<std::string> acks, nacks;
  {
    absl::MutexLock lock(&mu_);
    acks.swap(pending_acks_);
    nacks.swap(pending_nacks_);
  }
  if (acks.empty() && nacks.empty()) return;
  auto stub = pubsub::Subscriber::NewStub(options_.channel);
  for (size_t i = 0; i < acks.size(); i += kMaxIdsPerRequest) {
    pubsub::AcknowledgeRequest request;
    request.set_subscription(options_.subscription);
    for (size_t j = i; j < std::min(acks.size(), i + kMaxIdsPerRequest); ++j) {
      request.add_ack_ids(acks[j]);
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    google::protobuf::Empty empty;
    grpc::Status status = stub->Acknowledge(&context, request, &empty);
    if (status.ok()) {
      acked_->Inc(request.ack_ids_size());
    } else {
      // Not lost: Pub/Sub redelivers them; dedup drops the second alert
      // while this process runs, a restart may send it again.
      core::LogWarn("could not ack Pub/Sub messages at shutdown",
                    {{"subscription", options_.name},
                     {"messages", absl::StrCat(request.ack_ids_size())},
                     {"error", status.error_message()}});
    }
  }
  for (size_t i = 0; i < nacks.size(); i += kMaxIdsPerRequest) {
    pubsub::ModifyAckDeadlineRequest request;
    request.set_subscription(options_.subscription);
    request.set_ack_deadline_seconds(0);
    for (size_t j = i; j < std::min(nacks.size(), i + kMaxIdsPerRequest); ++j) {
      request.add_ack_ids(nacks[j]);
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    google::protobuf::Empty empty;
    if (stub->ModifyAckDeadline(&context, request, &empty).ok()) {
      nacked_->Inc(request.ack_ids_size());
    }
  }
}

}  // namespace corral::ingest::gcpaudit
