// PubSubSubscriber against the fake Pub/Sub over real gRPC on loopback.
#include "ingest/gcpaudit/pubsub_subscriber.h"

#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <atomic>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingest/gcpaudit/audit_message_handler.h"
#include "ingest/rules/rules_loader.h"
#include "tests/fakes/fake_pubsub.h"

namespace corral::ingest::gcpaudit {
namespace {

using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kTopic[] = "projects/p/topics/audit";
constexpr char kSubscription[] = "projects/p/subscriptions/corral";
constexpr absl::Duration kWait = absl::Seconds(10);

// Decisions the test makes, in order: every message gets `answer` unless
// the test holds it to decide later.
class ScriptedHandler {
 public:
  PubSubSubscriber::Handler AsHandler() {
    return [this](absl::string_view id, absl::string_view data,
                  PubSubSubscriber::Done done) {
      absl::MutexLock lock(&mu_);
      ++calls_;
      if (hold_) {
        held_.push_back(std::move(done));
        return;
      }
      std::move(done)(answer_);
    };
  }
  void Answer(AckDecision answer) {
    absl::MutexLock lock(&mu_);
    answer_ = answer;
  }
  void Hold(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_ = hold;
  }
  // Decides every held message.
  void Release(AckDecision decision) {
    std::vector<PubSubSubscriber::Done> held;
    {
      absl::MutexLock lock(&mu_);
      held.swap(held_);
    }
    for (auto& done : held) std::move(done)(decision);
  }
  size_t held() {
    absl::MutexLock lock(&mu_);
    return held_.size();
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  absl::Mutex mu_;
  AckDecision answer_ ABSL_GUARDED_BY(mu_) = AckDecision::kAck;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<PubSubSubscriber::Done> held_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

class PubSubSubscriberTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    ASSERT_TRUE(fake_.CreateTopic(kTopic).ok());
    ASSERT_TRUE(fake_.CreateSubscription(kSubscription, kTopic).ok());
  }

  PubSubSubscriberOptions Options() {
    PubSubSubscriberOptions o;
    o.name = "audit";
    o.subscription = kSubscription;
    o.channel = grpc::CreateChannel(fake_.address(),
                                    grpc::InsecureChannelCredentials());
    o.ack_deadline = absl::Seconds(10);
    o.handler_threads = 2;
    o.initial_backoff = absl::Milliseconds(20);
    o.max_backoff = absl::Milliseconds(200);
    return o;
  }

  std::unique_ptr<PubSubSubscriber> Make(PubSubSubscriberOptions options) {
    return std::make_unique<PubSubSubscriber>(std::move(options),
                                              handler_.AsHandler(), &metrics_);
  }

  fakes::FakePubSub fake_;
  ScriptedHandler handler_;
  core::MetricsRegistry metrics_;
};

TEST_F(PubSubSubscriberTest, AcksWhatTheHandlerAcksAndSendsFlowControl) {
  PubSubSubscriberOptions options = Options();
  options.max_outstanding_messages = 7;
  options.max_outstanding_bytes = 5 << 20;
  auto subscriber = Make(std::move(options));
  subscriber->Start();
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    ids.push_back(fake_.Publish(kTopic, absl::StrCat("entry ", i)));
  }
  ASSERT_TRUE(fake_.WaitForAcked(kSubscription, 50, kWait));
  EXPECT_THAT(fake_.Nacked(kSubscription), IsEmpty());
  for (const std::string& id : ids) EXPECT_EQ(fake_.Deliveries(id), 1) << id;
  ASSERT_FALSE(fake_.FirstRequests().empty());
  const auto first = fake_.FirstRequests()[0];
  EXPECT_EQ(first.subscription(), kSubscription);
  EXPECT_EQ(first.stream_ack_deadline_seconds(), 10);
  EXPECT_EQ(first.max_outstanding_messages(), 7);
  EXPECT_EQ(first.max_outstanding_bytes(), 5 << 20);
  EXPECT_FALSE(first.client_id().empty());
  subscriber->Stop(absl::Now() + kWait);
}

TEST_F(PubSubSubscriberTest, ExtendsTheDeadlineOfAMessageTheHandlerHolds) {
  // 10 s deadlines last 300 ms; corral extends every 50 ms.
  fake_.SetDeadlineScale(0.03);
  PubSubSubscriberOptions options = Options();
  options.extend_every = absl::Milliseconds(50);
  auto subscriber = Make(std::move(options));
  handler_.Hold(true);
  subscriber->Start();
  const std::string id = fake_.Publish(kTopic, "slow entry");
  ASSERT_TRUE(fake_.WaitFor([&] { return handler_.held() == 1; }, kWait));
  absl::SleepFor(absl::Seconds(1));  // three deadlines' worth
  EXPECT_EQ(fake_.Deliveries(id), 1);
  EXPECT_THAT(fake_.ModAcks(kSubscription), Not(IsEmpty()));
  handler_.Release(AckDecision::kAck);
  ASSERT_TRUE(fake_.WaitForAcked(kSubscription, 1, kWait));
  EXPECT_EQ(fake_.Deliveries(id), 1);
  subscriber->Stop(absl::Now() + kWait);
}

TEST_F(PubSubSubscriberTest, RefusalsPauseHandingOutInsteadOfSpinning) {
  handler_.Answer(AckDecision::kNack);
  auto subscriber = Make(Options());
  subscriber->Start();
  const std::string id = fake_.Publish(kTopic, "refused entry");
  absl::SleepFor(absl::Seconds(1));
  // Pauses of 100, 200, 400 ms... between attempts: a handful, not
  // thousands.
  EXPECT_GE(fake_.Nacked(kSubscription).size(), 2u);
  EXPECT_LE(handler_.calls(), 6);
  handler_.Answer(AckDecision::kAck);
  ASSERT_TRUE(fake_.WaitForAcked(kSubscription, 1, kWait));
  subscriber->Stop(absl::Now() + kWait);
}

TEST_F(PubSubSubscriberTest, WaitsQuietlyWhilePubSubIsDown) {
  const int port = fake_.port();
  fake_.Stop();  // the port stays reserved: connections are refused
  PubSubSubscriberOptions options = Options();
  // Extensions and keepalives fall due many times during the outage.
  options.extend_every = absl::Milliseconds(20);
  options.keepalive = absl::Milliseconds(20);
  auto subscriber = Make(std::move(options));
  subscriber->Start();
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  absl::SleepFor(absl::Seconds(1));
  getrusage(RUSAGE_SELF, &after);
  const double cpu = (after.ru_utime.tv_sec - before.ru_utime.tv_sec) +
                     (after.ru_stime.tv_sec - before.ru_stime.tv_sec) +
                     (after.ru_utime.tv_usec - before.ru_utime.tv_usec) / 1e6 +
                     (after.ru_stime.tv_usec - before.ru_stime.tv_usec) / 1e6;
  EXPECT_LT(cpu, 0.25) << "CPU seconds used in one second of outage";
  EXPECT_THAT(
      metrics_.Render(),
      ::testing::HasSubstr("corral_gcpaudit_stream_ends_total{"
                           "subscription=\"audit\",code=\"UNAVAILABLE\"}"));
  // And it connects once Pub/Sub is back.
  ASSERT_TRUE(fake_.Start(port).ok());
  fake_.Publish(kTopic, "after the outage");
  ASSERT_TRUE(fake_.WaitForAcked(kSubscription, 1, kWait));
  subscriber->Stop(absl::Now() + kWait);
}

TEST_F(PubSubSubscriberTest, StopSendsDecisionsMadeDuringTheGrace) {
  auto subscriber = Make(Options());
  handler_.Hold(true);
  subscriber->Start();
  fake_.Publish(kTopic, "in flight at stop");
  ASSERT_TRUE(fake_.WaitFor([&] { return handler_.held() == 1; }, kWait));
  std::thread decider([&] {
    absl::SleepFor(absl::Milliseconds(200));
    handler_.Release(AckDecision::kAck);
  });
  subscriber->Stop(absl::Now() + kWait);
  decider.join();
  // The stream was already closed: the ack went out as a unary call.
  EXPECT_EQ(fake_.Acked(kSubscription).size(), 1u);
  EXPECT_EQ(subscriber->in_flight(), 0);
}

TEST_F(PubSubSubscriberTest, ADecisionAfterTheSubscriberIsGoneIsDropped) {
  auto subscriber = Make(Options());
  handler_.Hold(true);
  subscriber->Start();
  fake_.Publish(kTopic, "decided too late");
  ASSERT_TRUE(fake_.WaitFor([&] { return handler_.held() == 1; }, kWait));
  subscriber.reset();
  handler_.Release(AckDecision::kAck);  // must not touch the destroyed object
  EXPECT_THAT(fake_.Acked(kSubscription), IsEmpty());
}

TEST_F(PubSubSubscriberTest, StopLeavesUndecidedMessagesForRedelivery) {
  fake_.SetDeadlineScale(0.03);
  auto subscriber = Make(Options());
  handler_.Hold(true);
  subscriber->Start();
  const std::string id = fake_.Publish(kTopic, "never decided");
  ASSERT_TRUE(fake_.WaitFor([&] { return handler_.held() == 1; }, kWait));
  const absl::Time start = absl::Now();
  subscriber->Stop(absl::Now() + absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_THAT(fake_.Acked(kSubscription), IsEmpty());
  EXPECT_EQ(fake_.Pending(kSubscription).size(), 1u);
  handler_.Release(AckDecision::kAck);  // too late: nothing is sent
  EXPECT_THAT(fake_.Acked(kSubscription), IsEmpty());
}

// An intake that keeps every alert's callback until the test answers it.
class HeldIntake : public core::Intake {
 public:
  void Submit(core::Alert alert, core::IntakeDone done) override {
    absl::MutexLock lock(&mu_);
    alerts_.push_back(std::move(alert));
    pending_.push_back(std::move(done));
  }
  void AnswerAll(uint64_t seq) {
    std::vector<core::IntakeDone> now;
    {
      absl::MutexLock lock(&mu_);
      now.swap(pending_);
    }
    for (auto& done : now) std::move(done)(seq);
  }
  size_t alerts() {
    absl::MutexLock lock(&mu_);
    return alerts_.size();
  }

 private:
  absl::Mutex mu_;
  std::vector<core::Alert> alerts_ ABSL_GUARDED_BY(mu_);
  std::vector<core::IntakeDone> pending_ ABSL_GUARDED_BY(mu_);
};

TEST_F(PubSubSubscriberTest,
       ARealRedeliveryWhileTheFirstIsInFlightMakesOneAlert) {
  // Deadlines of 100 ms and no extension: Pub/Sub redelivers the message
  // while its alert is still on its way to the spool.
  fake_.SetDeadlineScale(0.01);
  rules::LoadResult loaded = rules::LoadRules({{"r.yaml", R"(
- rule: Bucket deleted
  desc: d
  condition: gcp.methodName = storage.buckets.delete
  output: bucket deleted
  priority: WARNING
  source: gcp_auditlog
)"}});
  ASSERT_TRUE(loaded.ok());
  HeldIntake intake;
  AuditMessageHandlerOptions handler_options;
  handler_options.subscription_name = "audit";
  handler_options.rules = loaded.rules;
  AuditMessageHandler handler(handler_options, &intake, nullptr, &metrics_,
                              core::Clock::Real());
  PubSubSubscriberOptions options = Options();
  options.extend_every = absl::Hours(1);
  auto subscriber = std::make_unique<PubSubSubscriber>(
      std::move(options),
      [&handler](absl::string_view id, absl::string_view data,
                 PubSubSubscriber::Done done) {
        handler.Handle(id, data, std::move(done));
      },
      &metrics_);
  subscriber->Start();
  const std::string id = fake_.Publish(
      kTopic,
      R"({"insertId":"i1","logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity","timestamp":"2026-11-30T10:00:00Z","protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","serviceName":"storage.googleapis.com","methodName":"storage.buckets.delete"}})");
  ASSERT_TRUE(fake_.WaitFor([&] { return fake_.Deliveries(id) >= 2; }, kWait));
  EXPECT_EQ(intake.alerts(), 1u);
  intake.AnswerAll(7);  // the alert is durable: both deliveries are acked
  ASSERT_TRUE(fake_.WaitFor(
      [&] { return fake_.Pending(kSubscription).empty(); }, kWait));
  EXPECT_EQ(intake.alerts(), 1u);
  EXPECT_THAT(fake_.Nacked(kSubscription), IsEmpty());
  subscriber->Stop(absl::Now() + kWait);
}

}  // namespace
}  // namespace corral::ingest::gcpaudit
