// The Pub/Sub fake behind the gcpaudit subscriber's and the pubsub output's
// tests, checked over real gRPC with the generated stubs.
#include "tests/fakes/fake_pubsub.h"

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/pubsub/v1/pubsub.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/fakes/test_certs.h"

namespace corral::fakes {
namespace {

namespace pubsub = ::google::pubsub::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kTopic[] = "projects/p/topics/audit";
constexpr char kSub[] = "projects/p/subscriptions/corral";
// With SetDeadlineScale(kFast) a 10 s ack deadline lasts 300 ms: short for a
// test, long enough for an ack to make it on a loaded machine.
constexpr double kFast = 0.03;
constexpr absl::Duration kWait = absl::Seconds(5);

std::chrono::system_clock::time_point In(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

pubsub::StreamingPullRequest First(const std::string& subscription = kSub,
                                   int deadline_seconds = 10) {
  pubsub::StreamingPullRequest request;
  request.set_subscription(subscription);
  request.set_stream_ack_deadline_seconds(deadline_seconds);
  request.set_client_id("test-client");
  return request;
}

pubsub::StreamingPullRequest Acks(const std::vector<std::string>& ack_ids) {
  pubsub::StreamingPullRequest request;
  for (const std::string& id : ack_ids) request.add_ack_ids(id);
  return request;
}

pubsub::StreamingPullRequest ModAcks(const std::vector<std::string>& ack_ids,
                                     int seconds) {
  pubsub::StreamingPullRequest request;
  for (const std::string& id : ack_ids) {
    request.add_modify_deadline_ack_ids(id);
    request.add_modify_deadline_seconds(seconds);
  }
  return request;
}

// A StreamingPull call, read on a background thread so that every wait in the
// tests is bounded.
class TestStream {
 public:
  TestStream(pubsub::Subscriber::Stub& stub,
             const pubsub::StreamingPullRequest& first,
             bool wait_for_ready = false) {
    context_.set_deadline(In(absl::Seconds(30)));
    context_.set_wait_for_ready(wait_for_ready);
    stream_ = stub.StreamingPull(&context_);
    stream_->Write(first);
    reader_ = std::thread([this] { ReadLoop(); });
  }
  ~TestStream() {
    context_.TryCancel();
    reader_.join();
  }

  bool Send(const pubsub::StreamingPullRequest& request) {
    return stream_->Write(request);
  }

  // The next `n` messages received (fewer if `timeout` passes first).
  std::vector<pubsub::ReceivedMessage> Take(size_t n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return received_.size() >= n || end_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
    const size_t k = std::min(n, received_.size());
    std::vector<pubsub::ReceivedMessage> out(received_.begin(),
                                             received_.begin() + k);
    received_.erase(received_.begin(), received_.begin() + k);
    return out;
  }

  // True if no message arrives for `d`.
  bool Quiet(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    auto got = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !received_.empty();
    };
    return !mu_.AwaitWithTimeout(absl::Condition(&got), d);
  }

  // The call's status once it ends, or nullopt if it has not within `timeout`.
  std::optional<grpc::Status> End(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return end_.has_value();
    };
    mu_.AwaitWithTimeout(absl::Condition(&ended), timeout);
    return end_;
  }

  int Responses() {
    absl::MutexLock lock(&mu_);
    return responses_;
  }

 private:
  void ReadLoop() {
    pubsub::StreamingPullResponse response;
    while (stream_->Read(&response)) {
      absl::MutexLock lock(&mu_);
      ++responses_;
      for (const auto& m : response.received_messages()) {
        received_.push_back(m);
      }
    }
    grpc::Status status = stream_->Finish();
    absl::MutexLock lock(&mu_);
    end_ = status;
  }

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<pubsub::StreamingPullRequest,
                                           pubsub::StreamingPullResponse>>
      stream_;
  std::thread reader_;
  absl::Mutex mu_;
  std::vector<pubsub::ReceivedMessage> received_ ABSL_GUARDED_BY(mu_);
  int responses_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
};

class FakePubSubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    ASSERT_TRUE(fake_.CreateTopic(kTopic).ok());
    ASSERT_TRUE(fake_.CreateSubscription(kSub, kTopic).ok());
    // Reconnect quickly once the fake is back (gRPC's default backoff is 1 s).
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
    channel_ = grpc::CreateCustomChannel(
        fake_.address(), grpc::InsecureChannelCredentials(), args);
    subscriber_ = pubsub::Subscriber::NewStub(channel_);
    publisher_ = pubsub::Publisher::NewStub(channel_);
  }

  std::unique_ptr<TestStream> Open(
      const pubsub::StreamingPullRequest& first = First()) {
    return std::make_unique<TestStream>(*subscriber_, first);
  }

  grpc::Status GrpcPublish(const pubsub::PublishRequest& request,
                           pubsub::PublishResponse* response = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(In(kWait));
    pubsub::PublishResponse ignored;
    return publisher_->Publish(&context, request,
                               response != nullptr ? response : &ignored);
  }

  FakePubSub fake_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pubsub::Subscriber::Stub> subscriber_;
  std::unique_ptr<pubsub::Publisher::Stub> publisher_;
};

TEST_F(FakePubSubTest, PublishedMessagesArriveInOneBatch) {
  const std::string id1 = fake_.Publish(kTopic, "one", {{"k", "v"}});
  const std::string id2 = fake_.Publish(kTopic, "two");
  const std::string id3 = fake_.Publish(kTopic, "three");
  ASSERT_FALSE(id1.empty());

  auto stream = Open();
  std::vector<pubsub::ReceivedMessage> got = stream->Take(3, kWait);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(stream->Responses(), 1);
  EXPECT_EQ(got[0].message().data(), "one");
  EXPECT_THAT(got[0].message().attributes(), ElementsAre(Pair("k", "v")));
  EXPECT_EQ(got[0].message().message_id(), id1);
  EXPECT_GT(got[0].message().publish_time().seconds(), 0);
  EXPECT_EQ(got[1].message().message_id(), id2);
  EXPECT_EQ(got[2].message().message_id(), id3);
  std::set<std::string> ack_ids;
  for (const auto& m : got) {
    EXPECT_EQ(m.delivery_attempt(), 1);
    ack_ids.insert(m.ack_id());
  }
  EXPECT_EQ(ack_ids.size(), 3u);
  EXPECT_EQ(fake_.Deliveries(id1), 1);
  EXPECT_THAT(fake_.Pending(kSub), ElementsAre(id1, id2, id3));
  EXPECT_EQ(fake_.OpenStreams(), 1);
  ASSERT_EQ(fake_.FirstRequests().size(), 1u);
  EXPECT_EQ(fake_.FirstRequests()[0].client_id(), "test-client");

  // Published while the stream is open: delivered too.
  const std::string id4 = fake_.Publish(kTopic, "four");
  got = stream->Take(1, kWait);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].message().message_id(), id4);
}

TEST_F(FakePubSubTest, AckStopsRedelivery) {
  fake_.SetDeadlineScale(kFast);
  const std::string id = fake_.Publish(kTopic, "a");
  auto stream = Open();
  auto got = stream->Take(1, kWait);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(stream->Send(Acks({got[0].ack_id()})));
  ASSERT_TRUE(fake_.WaitForAcked(kSub, 1, kWait));
  EXPECT_TRUE(stream->Quiet(absl::Milliseconds(400)));  // past the deadline
  EXPECT_THAT(fake_.Acked(kSub), ElementsAre(id));
  EXPECT_EQ(fake_.AckCount(id), 1);
  EXPECT_EQ(fake_.Deliveries(id), 1);
  EXPECT_THAT(fake_.Pending(kSub), IsEmpty());
}

TEST_F(FakePubSubTest, UnackedMessageComesBackAfterTheDeadline) {
  fake_.SetDeadlineScale(kFast);
  const std::string id = fake_.Publish(kTopic, "a");
  auto stream = Open();
  auto first = stream->Take(1, kWait);
  ASSERT_EQ(first.size(), 1u);
  const absl::Time delivered = absl::Now();
  auto again = stream->Take(1, kWait);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_GE(absl::Now() - delivered, absl::Milliseconds(250));
  EXPECT_EQ(again[0].message().message_id(), id);
  EXPECT_EQ(again[0].delivery_attempt(), 2);
  EXPECT_NE(again[0].ack_id(), first[0].ack_id());
  EXPECT_EQ(fake_.Deliveries(id), 2);

  // The first delivery's ack id is stale: ignored, the message stays pending.
  ASSERT_TRUE(stream->Send(Acks({first[0].ack_id()})));
  ASSERT_TRUE(
      fake_.WaitFor([&] { return fake_.IgnoredAcks(kSub) == 1; }, kWait));
  EXPECT_THAT(fake_.Pending(kSub), ElementsAre(id));
  ASSERT_TRUE(stream->Send(Acks({again[0].ack_id()})));
  ASSERT_TRUE(fake_.WaitForAcked(kSub, 1, kWait));
  EXPECT_THAT(fake_.Pending(kSub), IsEmpty());
}

TEST_F(FakePubSubTest, NackRedeliversAtOnce) {
  const std::string id = fake_.Publish(kTopic, "a");
  auto stream = Open();  // 10 s deadline, unscaled
  auto got = stream->Take(1, kWait);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(stream->Send(ModAcks({got[0].ack_id()}, 0)));
  auto again = stream->Take(1, absl::Seconds(2));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].message().message_id(), id);
  EXPECT_EQ(again[0].delivery_attempt(), 2);
  EXPECT_THAT(fake_.Nacked(kSub), ElementsAre(id));
}

TEST_F(FakePubSubTest, ModAckExtendsTheDeadline) {
  fake_.SetDeadlineScale(kFast);
  const std::string id = fake_.Publish(kTopic, "a");
  auto stream = Open();  // 300 ms deadline
  auto got = stream->Take(1, kWait);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(stream->Send(ModAcks({got[0].ack_id()}, 60)));  // 1.8 s
  ASSERT_TRUE(
      fake_.WaitFor([&] { return fake_.ModAcks(kSub).size() == 1; }, kWait));
  EXPECT_EQ(fake_.ModAcks(kSub)[0].message_id, id);
  EXPECT_EQ(fake_.ModAcks(kSub)[0].seconds, 60);
  EXPECT_TRUE(stream->Quiet(absl::Milliseconds(500)));
  // Still acceptable after the original deadline.
  ASSERT_TRUE(stream->Send(Acks({got[0].ack_id()})));
  ASSERT_TRUE(fake_.WaitForAcked(kSub, 1, kWait));
  EXPECT_EQ(fake_.IgnoredAcks(kSub), 0);
}

TEST_F(FakePubSubTest, ExtendedDeadlineStillExpires) {
  fake_.SetDeadlineScale(kFast);
  fake_.Publish(kTopic, "a");
  auto stream = Open();
  auto got = stream->Take(1, kWait);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(stream->Send(ModAcks({got[0].ack_id()}, 20)));  // 600 ms
  const absl::Time sent = absl::Now();
  auto again = stream->Take(1, kWait);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_GE(absl::Now() - sent, absl::Milliseconds(550));
  EXPECT_EQ(again[0].delivery_attempt(), 2);
}

TEST_F(FakePubSubTest, FlowControlLimitsOutstandingMessages) {
  for (int i = 0; i < 5; ++i) fake_.Publish(kTopic, absl::StrCat("m", i));
  pubsub::StreamingPullRequest first = First();
  first.set_max_outstanding_messages(2);
  auto stream = Open(first);
  auto got = stream->Take(2, kWait);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(stream->Quiet(absl::Milliseconds(200)));
  // Acking one lets exactly one more through; a nack frees a slot too (and
  // the nacked message is the one that comes back, after the queue).
  ASSERT_TRUE(stream->Send(Acks({got[0].ack_id()})));
  auto third = stream->Take(1, kWait);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].message().data(), "m2");
  EXPECT_TRUE(stream->Quiet(absl::Milliseconds(100)));
  ASSERT_TRUE(stream->Send(ModAcks({got[1].ack_id()}, 0)));
  auto fourth = stream->Take(1, kWait);
  ASSERT_EQ(fourth.size(), 1u);
  EXPECT_EQ(fourth[0].message().data(), "m3");
}

TEST_F(FakePubSubTest, FlowControlLimitsOutstandingBytes) {
  const std::string big(1000, 'x');
  for (int i = 0; i < 4; ++i) fake_.Publish(kTopic, big);
  pubsub::StreamingPullRequest first = First();
  first.set_max_outstanding_bytes(2500);  // two messages of ~1 KB
  auto stream = Open(first);
  auto got = stream->Take(2, kWait);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(stream->Quiet(absl::Milliseconds(200)));
  ASSERT_TRUE(stream->Send(Acks({got[0].ack_id(), got[1].ack_id()})));
  EXPECT_EQ(stream->Take(2, kWait).size(), 2u);
}

TEST_F(FakePubSubTest, StreamsOfOneSubscriptionShareItsMessages) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(fake_.WaitForOpenStreams(2, kWait));
  std::string last;
  for (int i = 0; i < 10; ++i) last = fake_.Publish(kTopic, absl::StrCat(i));
  ASSERT_TRUE(
      fake_.WaitFor([&] { return fake_.Deliveries(last) == 1; }, kWait));
  auto from_a = a->Take(10, absl::Milliseconds(200));
  auto from_b = b->Take(10, absl::Milliseconds(200));
  EXPECT_EQ(from_a.size() + from_b.size(), 10u);
  EXPECT_FALSE(from_a.empty());
  EXPECT_FALSE(from_b.empty());
  std::set<std::string> ids;
  for (const auto& m : from_a) ids.insert(m.message().message_id());
  for (const auto& m : from_b) ids.insert(m.message().message_id());
  EXPECT_EQ(ids.size(), 10u);
}

TEST_F(FakePubSubTest, EverySubscriptionGetsEveryMessage) {
  const std::string other = "projects/p/subscriptions/other";
  ASSERT_TRUE(fake_.CreateSubscription(other, kTopic).ok());
  const std::string id = fake_.Publish(kTopic, "a");
  auto s1 = Open();
  auto s2 = Open(First(other));
  EXPECT_EQ(s1->Take(1, kWait).size(), 1u);
  EXPECT_EQ(s2->Take(1, kWait).size(), 1u);
  EXPECT_EQ(fake_.Deliveries(id), 2);
  EXPECT_EQ(fake_.Publish("projects/p/topics/nope", "x"), "");
}

TEST_F(FakePubSubTest, OutstandingMessagesOfAnEndedStreamWaitForTheDeadline) {
  fake_.SetDeadlineScale(0.05);  // 10 s: 500 ms
  const std::string id = fake_.Publish(kTopic, "a");
  auto a = Open();
  ASSERT_EQ(a->Take(1, kWait).size(), 1u);
  const absl::Time delivered = absl::Now();
  a.reset();  // cancels the call
  ASSERT_TRUE(fake_.WaitFor([&] { return fake_.OpenStreams() == 0; }, kWait));
  auto b = Open();
  auto again = b->Take(1, kWait);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_GE(absl::Now() - delivered, absl::Milliseconds(450));
  EXPECT_EQ(again[0].message().message_id(), id);
  EXPECT_EQ(again[0].delivery_attempt(), 2);
}

TEST_F(FakePubSubTest, DropStreamsEndsThemWithUnavailable) {
  auto stream = Open();
  ASSERT_TRUE(fake_.WaitForOpenStreams(1, kWait));
  fake_.DropStreams();
  std::optional<grpc::Status> end = stream->End(kWait);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(fake_.WaitFor([&] { return fake_.OpenStreams() == 0; }, kWait));

  auto next = Open();
  EXPECT_TRUE(fake_.WaitForOpenStreams(1, kWait));
  EXPECT_EQ(fake_.StreamsOpened(), 2);
}

TEST_F(FakePubSubTest, HalfCloseEndsTheStreamWithOk) {
  grpc::ClientContext context;
  context.set_deadline(In(kWait));
  auto stream = subscriber_->StreamingPull(&context);
  ASSERT_TRUE(stream->Write(First()));
  ASSERT_TRUE(stream->WritesDone());
  pubsub::StreamingPullResponse response;
  while (stream->Read(&response)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(FakePubSubTest, BadFirstRequests) {
  struct Case {
    pubsub::StreamingPullRequest first;
    grpc::StatusCode code;
  };
  std::vector<Case> cases = {
      {First(""), grpc::StatusCode::INVALID_ARGUMENT},
      {First(kSub, 0), grpc::StatusCode::INVALID_ARGUMENT},
      {First(kSub, 9), grpc::StatusCode::INVALID_ARGUMENT},
      {First(kSub, 601), grpc::StatusCode::INVALID_ARGUMENT},
      {First("projects/p/subscriptions/nope"), grpc::StatusCode::NOT_FOUND},
  };
  for (const Case& c : cases) {
    TestStream stream(*subscriber_, c.first);
    std::optional<grpc::Status> end = stream.End(kWait);
    ASSERT_TRUE(end.has_value()) << c.first.ShortDebugString();
    EXPECT_EQ(end->error_code(), c.code) << c.first.ShortDebugString();
  }
  TestStream stream(*subscriber_, First("projects/p/subscriptions/nope"));
  EXPECT_EQ(stream.End(kWait)->error_message(),
            "Resource not found (resource=nope).");
  // And a later request with mismatched modack lists.
  TestStream ok(*subscriber_, First());
  pubsub::StreamingPullRequest bad;
  bad.add_modify_deadline_ack_ids("x");
  ASSERT_TRUE(ok.Send(bad));
  EXPECT_EQ(ok.End(kWait)->error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(FakePubSubTest, RejectStreamsFailsTheNextCalls) {
  fake_.RejectStreams(2, grpc::StatusCode::UNAVAILABLE,
                      absl::Milliseconds(100));
  for (int i = 0; i < 2; ++i) {
    const absl::Time start = absl::Now();
    TestStream stream(*subscriber_, First());
    std::optional<grpc::Status> end = stream.End(kWait);
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_GE(absl::Now() - start, absl::Milliseconds(90));
  }
  auto stream = Open();
  EXPECT_TRUE(fake_.WaitForOpenStreams(1, kWait));
  EXPECT_EQ(fake_.StreamsOpened(), 3);
}

TEST_F(FakePubSubTest, PublishOverGrpc) {
  pubsub::PublishRequest request;
  request.set_topic(kTopic);
  request.add_messages()->set_data("a");
  (*request.add_messages()->mutable_attributes())["only"] = "attrs";
  pubsub::PublishResponse response;
  ASSERT_TRUE(GrpcPublish(request, &response).ok());
  ASSERT_EQ(response.message_ids_size(), 2);
  std::vector<pubsub::PubsubMessage> published = fake_.Published(kTopic);
  ASSERT_EQ(published.size(), 2u);
  EXPECT_EQ(published[0].data(), "a");
  EXPECT_EQ(published[0].message_id(), response.message_ids(0));
  EXPECT_EQ(published[1].attributes().at("only"), "attrs");
  EXPECT_THAT(fake_.Pending(kSub),
              ElementsAre(response.message_ids(0), response.message_ids(1)));
  EXPECT_TRUE(fake_.WaitForPublished(kTopic, 2, kWait));
  EXPECT_EQ(fake_.PublishCalls(), 1);
}

TEST_F(FakePubSubTest, PublishValidation) {
  pubsub::PublishRequest unknown;
  unknown.set_topic("projects/p/topics/nope");
  unknown.add_messages()->set_data("a");
  grpc::Status status = GrpcPublish(unknown);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "Resource not found (resource=nope).");

  pubsub::PublishRequest empty_list;
  empty_list.set_topic(kTopic);
  EXPECT_EQ(GrpcPublish(empty_list).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  pubsub::PublishRequest too_many;
  too_many.set_topic(kTopic);
  for (int i = 0; i < 1001; ++i) too_many.add_messages()->set_data("x");
  EXPECT_EQ(GrpcPublish(too_many).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  pubsub::PublishRequest too_big;
  too_big.set_topic(kTopic);
  too_big.add_messages()->set_data(std::string(6 << 20, 'x'));
  too_big.add_messages()->set_data(std::string(5 << 20, 'x'));
  EXPECT_EQ(GrpcPublish(too_big).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  pubsub::PublishRequest empty_message;
  empty_message.set_topic(kTopic);
  empty_message.add_messages()->set_data("a");
  empty_message.add_messages();
  EXPECT_EQ(GrpcPublish(empty_message).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_THAT(fake_.Published(kTopic), IsEmpty());
  EXPECT_EQ(fake_.PublishCalls(), 5);

  // 1000 messages and just under 10 MiB are fine.
  pubsub::PublishRequest at_limit;
  at_limit.set_topic(kTopic);
  for (int i = 0; i < 1000; ++i) {
    at_limit.add_messages()->set_data(std::string(10000, 'x'));
  }
  EXPECT_TRUE(GrpcPublish(at_limit).ok());
}

TEST_F(FakePubSubTest, PublishEnforcesAttributeLimits) {
  auto with_attributes = [](std::map<std::string, std::string> attributes) {
    pubsub::PublishRequest request;
    request.set_topic(kTopic);
    pubsub::PubsubMessage* m = request.add_messages();
    m->set_data("a");
    for (auto& [k, v] : attributes) (*m->mutable_attributes())[k] = v;
    return request;
  };
  grpc::Status long_value =
      GrpcPublish(with_attributes({{"k", std::string(1025, 'v')}}));
  EXPECT_EQ(long_value.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(long_value.error_message(),
              HasSubstr("has a value that is too long. The length is 1025 "
                        "characters, but the maximum allowed is 1024"));
  grpc::Status long_key =
      GrpcPublish(with_attributes({{std::string(257, 'k'), "v"}}));
  EXPECT_EQ(long_key.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(long_key.error_message(),
              HasSubstr("has a key that is too long"));
  std::map<std::string, std::string> many;
  for (int i = 0; i < 101; ++i) many[absl::StrCat("k", i)] = "v";
  EXPECT_EQ(GrpcPublish(with_attributes(many)).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(fake_.Published(kTopic), IsEmpty());
  EXPECT_THAT(fake_.PublishSizes(), IsEmpty());

  // At the limits: accepted.
  many.erase("k100");
  many["k0"] = std::string(1024, 'v');
  many[std::string(256, 'k')] = "v";
  many.erase("k1");
  EXPECT_TRUE(GrpcPublish(with_attributes(many)).ok());
  EXPECT_THAT(fake_.PublishSizes(), ElementsAre(1u));
}

TEST_F(FakePubSubTest, ScriptedPublishFailuresAndDelay) {
  pubsub::PublishRequest request;
  request.set_topic(kTopic);
  request.add_messages()->set_data("a");
  fake_.FailNextPublishes(2, grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(GrpcPublish(request).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(GrpcPublish(request).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(GrpcPublish(request).ok());
  EXPECT_EQ(fake_.Published(kTopic).size(), 1u);
  EXPECT_EQ(fake_.PublishCalls(), 3);
  EXPECT_THAT(fake_.PublishSizes(), ElementsAre(1u));

  fake_.FailNextPublishes(1, grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status denied = GrpcPublish(request);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(denied.error_message(),
            "User not authorized to perform this action.");

  fake_.SetPublishDelay(absl::Milliseconds(150));
  const absl::Time start = absl::Now();
  EXPECT_TRUE(GrpcPublish(request).ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(140));
}

TEST_F(FakePubSubTest, UnaryPullAckAndModifyAckDeadline) {
  const std::string id1 = fake_.Publish(kTopic, "a");
  const std::string id2 = fake_.Publish(kTopic, "b");
  const std::string id3 = fake_.Publish(kTopic, "c");

  auto pull = [&](int max, pubsub::PullResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(In(kWait));
    pubsub::PullRequest request;
    request.set_subscription(kSub);
    request.set_max_messages(max);
    return subscriber_->Pull(&context, request, response);
  };
  auto ack = [&](const std::vector<std::string>& ack_ids) {
    grpc::ClientContext context;
    context.set_deadline(In(kWait));
    pubsub::AcknowledgeRequest request;
    request.set_subscription(kSub);
    for (const auto& a : ack_ids) request.add_ack_ids(a);
    google::protobuf::Empty empty;
    return subscriber_->Acknowledge(&context, request, &empty);
  };
  auto modack = [&](const std::vector<std::string>& ack_ids, int seconds) {
    grpc::ClientContext context;
    context.set_deadline(In(kWait));
    pubsub::ModifyAckDeadlineRequest request;
    request.set_subscription(kSub);
    request.set_ack_deadline_seconds(seconds);
    for (const auto& a : ack_ids) request.add_ack_ids(a);
    google::protobuf::Empty empty;
    return subscriber_->ModifyAckDeadline(&context, request, &empty);
  };

  pubsub::PullResponse two;
  ASSERT_TRUE(pull(2, &two).ok());
  ASSERT_EQ(two.received_messages_size(), 2);
  EXPECT_EQ(two.received_messages(0).message().message_id(), id1);
  ASSERT_TRUE(ack({two.received_messages(0).ack_id()}).ok());
  ASSERT_TRUE(modack({two.received_messages(1).ack_id()}, 0).ok());
  EXPECT_THAT(fake_.Acked(kSub), ElementsAre(id1));
  EXPECT_THAT(fake_.Nacked(kSub), ElementsAre(id2));

  pubsub::PullResponse rest;
  ASSERT_TRUE(pull(10, &rest).ok());
  ASSERT_EQ(rest.received_messages_size(), 2);
  EXPECT_EQ(rest.received_messages(0).message().message_id(), id3);
  EXPECT_EQ(rest.received_messages(1).message().message_id(), id2);
  EXPECT_EQ(rest.received_messages(1).delivery_attempt(), 2);
  ASSERT_TRUE(modack({rest.received_messages(0).ack_id()}, 120).ok());
  EXPECT_EQ(fake_.ModAcks(kSub).size(), 1u);

  // A Pull that finds nothing waits for a message.
  std::thread publisher([&] {
    absl::SleepFor(absl::Milliseconds(50));
    fake_.Publish(kTopic, "late");
  });
  pubsub::PullResponse late;
  ASSERT_TRUE(pull(1, &late).ok());
  publisher.join();
  ASSERT_EQ(late.received_messages_size(), 1);
  EXPECT_EQ(late.received_messages(0).message().data(), "late");

  pubsub::PullResponse unused;
  EXPECT_EQ(pull(0, &unused).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ack({}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(modack({"x"}, 601).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext context;
  pubsub::PullRequest unknown;
  unknown.set_subscription("projects/p/subscriptions/nope");
  unknown.set_max_messages(1);
  EXPECT_EQ(subscriber_->Pull(&context, unknown, &unused).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(FakePubSubTest, StopEndsStreamsPromptlyAndRestartKeepsMessages) {
  fake_.SetDeadlineScale(kFast);
  const std::string id = fake_.Publish(kTopic, "a");
  auto stream = Open();
  ASSERT_EQ(stream->Take(1, kWait).size(), 1u);
  const int port = fake_.port();

  const absl::Time start = absl::Now();
  fake_.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  std::optional<grpc::Status> end = stream->End(kWait);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAVAILABLE);

  // While down: refused, quickly.
  TestStream refused(*subscriber_, First());
  end = refused.End(kWait);
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAVAILABLE);

  ASSERT_TRUE(fake_.Start(port).ok());
  EXPECT_EQ(fake_.port(), port);
  // The channel is backing off after the refused connection; a client that
  // retries (as corral's subscriber does) gets through.
  TestStream back_stream(*subscriber_, First(), /*wait_for_ready=*/true);
  auto* back = &back_stream;
  auto again = back->Take(1, kWait);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].message().message_id(), id);
  EXPECT_EQ(again[0].delivery_attempt(), 2);
}

TEST(FakePubSubAuthTest, BearerTokenRequiredOverTls) {
  std::string dir = ::testing::TempDir() + "/corral_pubsub_XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  absl::StatusOr<TestCerts> certs = GenerateTestCerts(dir);
  ASSERT_TRUE(certs.ok()) << certs.status();
  FakePubSub fake(FakeTlsOptions{.cert_file = certs->server_cert,
                                 .key_file = certs->server_key});
  ASSERT_TRUE(fake.Start().ok());
  ASSERT_TRUE(fake.CreateTopic(kTopic).ok());
  ASSERT_TRUE(fake.CreateSubscription(kSub, kTopic).ok());
  fake.RequireBearer([](absl::string_view token) { return token == "good"; });
  fake.Publish(kTopic, "a");

  std::ifstream ca_file(certs->ca_cert);
  std::string ca((std::istreambuf_iterator<char>(ca_file)),
                 std::istreambuf_iterator<char>());
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca;
  auto channel = grpc::CreateChannel(fake.address(), grpc::SslCredentials(ssl));
  auto publisher = pubsub::Publisher::NewStub(channel);
  auto subscriber = pubsub::Subscriber::NewStub(channel);

  pubsub::PublishRequest request;
  request.set_topic(kTopic);
  request.add_messages()->set_data("b");
  auto publish = [&](std::shared_ptr<grpc::CallCredentials> creds) {
    grpc::ClientContext context;
    context.set_deadline(In(kWait));
    if (creds != nullptr) context.set_credentials(creds);
    pubsub::PublishResponse response;
    return publisher->Publish(&context, request, &response);
  };
  grpc::Status none = publish(nullptr);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << none.error_message();
  EXPECT_EQ(publish(grpc::AccessTokenCredentials("bad")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(publish(grpc::AccessTokenCredentials("good")).ok());

  {
    TestStream stream(*subscriber, First());
    std::optional<grpc::Status> end = stream.End(kWait);
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  // With a good token (sent per call by the call credentials).
  auto authed = grpc::CreateChannel(
      fake.address(),
      grpc::CompositeChannelCredentials(grpc::SslCredentials(ssl),
                                        grpc::AccessTokenCredentials("good")));
  auto authed_subscriber = pubsub::Subscriber::NewStub(authed);
  TestStream stream(*authed_subscriber, First());
  EXPECT_EQ(stream.Take(2, kWait).size(), 2u);
}

}  // namespace
}  // namespace corral::fakes
