#include "outputs/pubsub/pubsub_output.h"

#include <yaml-cpp/yaml.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/alert_json.h"
#include "core/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outputs/registry.h"
#include "tests/fakes/fake_google_token.h"
#include "tests/fakes/fake_pubsub.h"
#include "tests/fakes/test_certs.h"
#include "tests/outputs/fixed_alert.h"
#include "tests/outputs/make_output.h"

namespace corral::outputs {
namespace {

using fakes::FakeGoogleTokenServer;
using fakes::FakePubSub;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kTopic[] = "projects/test-project/topics/alerts";

TEST(PubSubClassifyTest, TransientCodesRetry) {
  for (grpc::StatusCode code :
       {grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED,
        grpc::StatusCode::RESOURCE_EXHAUSTED, grpc::StatusCode::ABORTED,
        grpc::StatusCode::INTERNAL, grpc::StatusCode::UNKNOWN,
        grpc::StatusCode::CANCELLED}) {
    SendResult r = ClassifyPubSubStatus(grpc::Status(code, "try later"));
    EXPECT_EQ(r.kind, SendResult::Kind::kRetry) << code;
    EXPECT_EQ(r.status, static_cast<int>(code));
    EXPECT_EQ(r.retry_after, absl::ZeroDuration());
  }
  SendResult down = ClassifyPubSubStatus(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect"));
  EXPECT_EQ(down.reason, "pubsub: UNAVAILABLE: failed to connect");
}

TEST(PubSubClassifyTest, UnauthenticatedRetriesForAFreshToken) {
  SendResult r = ClassifyPubSubStatus(
      grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "token expired"));
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(r.reason, "pubsub: UNAUTHENTICATED: token expired");
}

TEST(PubSubClassifyTest, ConfigurationProblemsArePermanentWithTheCodeName) {
  const std::map<grpc::StatusCode, std::string> cases = {
      {grpc::StatusCode::PERMISSION_DENIED,
       "pubsub: PERMISSION_DENIED: User not authorized to perform this "
       "action."},
      {grpc::StatusCode::NOT_FOUND,
       "pubsub: NOT_FOUND: User not authorized to perform this action."},
      {grpc::StatusCode::INVALID_ARGUMENT,
       "pubsub: INVALID_ARGUMENT: User not authorized to perform this "
       "action."},
      {grpc::StatusCode::FAILED_PRECONDITION,
       "pubsub: FAILED_PRECONDITION: User not authorized to perform this "
       "action."},
  };
  for (const auto& [code, reason] : cases) {
    SendResult r = ClassifyPubSubStatus(
        grpc::Status(code, "User not authorized to perform this action."));
    EXPECT_EQ(r.kind, SendResult::Kind::kPermanent) << code;
    EXPECT_EQ(r.status, static_cast<int>(code));
    EXPECT_EQ(r.reason, reason);
  }
}

TEST(PubSubClassifyTest, OkIsDeliveredAndLongMessagesAreCut) {
  EXPECT_TRUE(ClassifyPubSubStatus(grpc::Status::OK).delivered());
  SendResult r = ClassifyPubSubStatus(
      grpc::Status(grpc::StatusCode::INTERNAL, std::string(5000, 'm')));
  EXPECT_EQ(r.reason.size(), std::string("pubsub: INTERNAL: ").size() + 300);
}

core::AlertPtr Alert(uint64_t seq, size_t output_bytes = 20) {
  auto alert = std::make_shared<core::Alert>(*FixedAlert(seq));
  alert->uuid = absl::StrCat("uuid-", seq);
  alert->output = std::string(output_bytes, 'x');
  return alert;
}

std::vector<core::AlertPtr> Alerts(uint64_t n, size_t output_bytes = 20) {
  std::vector<core::AlertPtr> batch;
  for (uint64_t i = 1; i <= n; ++i) batch.push_back(Alert(i, output_bytes));
  return batch;
}

absl::Time In(absl::Duration d) { return absl::Now() + d; }

// The output against a fake Pub/Sub: in plaintext as the emulator
// (PUBSUB_EMULATOR_HOST injected), or over TLS demanding tokens from a fake
// token endpoint.
class PubSubOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/pubsub_output_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }

  void StartEmulator() {
    pubsub_ = std::make_unique<FakePubSub>();
    ASSERT_TRUE(pubsub_->Start().ok());
    ASSERT_TRUE(pubsub_->CreateTopic(kTopic).ok());
    emulator_host_ = pubsub_->address();
  }

  // Returns the keys that point the output at the fake.
  std::string StartTls() {
    absl::StatusOr<fakes::TestCerts> certs = fakes::GenerateTestCerts(dir_);
    EXPECT_TRUE(certs.ok()) << certs.status();
    if (!certs.ok()) return "";
    EXPECT_TRUE(tokens_.Start().ok());
    key_file_ = dir_ + "/sa.json";
    EXPECT_TRUE(tokens_.WriteServiceAccountKey(key_file_).ok());
    pubsub_ = std::make_unique<FakePubSub>(fakes::FakeTlsOptions{
        .cert_file = certs->server_cert, .key_file = certs->server_key});
    pubsub_->RequireBearer([this](absl::string_view token) {
      return tokens_.IsValidToken(token);
    });
    EXPECT_TRUE(pubsub_->Start().ok());
    EXPECT_TRUE(pubsub_->CreateTopic(kTopic).ok());
    return absl::StrCat("endpoint: '", pubsub_->address(),
                        "', tls: {ca_file: '", certs->ca_cert,
                        "'}, credentials_file: '", key_file_, "'");
  }

  // Builds the output through the registry from `keys` (a flow mapping's
  // insides); nullptr and `errors` set when it is refused.
  std::unique_ptr<Output> Make(const std::string& keys,
                               std::string* errors = nullptr,
                               int64_t max_items = 1000) {
    core::OutputConfig common = OutputCommon(
        "pubsub", "pubsub", absl::StrCat("{", keys, "}"), max_items);
    common.path = "outputs[0]";
    common.retry.initial_backoff = absl::Milliseconds(50);
    common.retry.max_backoff = absl::Milliseconds(200);
    OutputContext context;
    context.env = [this](const char* name) -> const char* {
      return std::string(name) == "PUBSUB_EMULATOR_HOST" &&
                     !emulator_host_.empty()
                 ? emulator_host_.c_str()
                 : nullptr;
    };
    auto output = CreateBuiltinOutput(common, context);
    if (!output.ok()) {
      if (errors != nullptr) *errors = std::string(output.status().message());
      return nullptr;
    }
    return std::move(*output);
  }

  std::unique_ptr<Output> MakeStarted(const std::string& keys) {
    std::unique_ptr<Output> output = Make(keys);
    EXPECT_NE(output, nullptr);
    if (output == nullptr) return nullptr;
    absl::Status started = output->Start();
    EXPECT_TRUE(started.ok()) << started;
    return started.ok() ? std::move(output) : nullptr;
  }

  std::vector<std::string> PublishedData() const {
    std::vector<std::string> data;
    for (const auto& m : pubsub_->Published(kTopic)) data.push_back(m.data());
    return data;
  }

  std::string dir_;
  std::string emulator_host_;
  FakeGoogleTokenServer tokens_;  // outlives pubsub_'s token check
  std::string key_file_;
  std::unique_ptr<FakePubSub> pubsub_;
};

TEST_F(PubSubOutputTest, EmulatorPublishesTheAlertJsonWithAttributes) {
  StartEmulator();
  std::unique_ptr<Output> output = MakeStarted(
      absl::StrCat("topic: ", kTopic, ", attributes: {team: secops}"));
  ASSERT_NE(output, nullptr);
  std::vector<core::AlertPtr> batch = Alerts(3);
  SendResult r = output->Send(batch, In(absl::Seconds(10)));
  ASSERT_TRUE(r.delivered()) << r.reason;
  EXPECT_THAT(pubsub_->PublishSizes(), ElementsAre(3u));
  std::vector<google::pubsub::v1::PubsubMessage> got =
      pubsub_->Published(kTopic);
  ASSERT_EQ(got.size(), 3u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].data(), core::EncodeFalcoAlert(*batch[i]));
    EXPECT_EQ(got[i].attributes().at("rule"), batch[i]->rule);
    EXPECT_EQ(got[i].attributes().at("priority"), "Warning");
    EXPECT_EQ(got[i].attributes().at("source"), "syscall");
    EXPECT_EQ(got[i].attributes().at("hostname"), "753144d3be64");
    EXPECT_EQ(got[i].attributes().at("team"), "secops");
    EXPECT_EQ(got[i].attributes_size(), 5);
  }
}

TEST_F(PubSubOutputTest, BatchLimitsFollowPubSubs) {
  StartEmulator();
  std::unique_ptr<Output> many = Make(absl::StrCat("topic: ", kTopic), nullptr,
                                      /*max_items=*/5000);
  ASSERT_NE(many, nullptr);
  EXPECT_EQ(many->MaxBatchItems(), 1000);
  EXPECT_EQ(many->MaxBatchBytes(), 10'000'000u);
  std::unique_ptr<Output> few =
      Make(absl::StrCat("topic: ", kTopic), nullptr, /*max_items=*/20);
  ASSERT_NE(few, nullptr);
  EXPECT_EQ(few->MaxBatchItems(), 20);
}

TEST_F(PubSubOutputTest, BatchesOverPubSubsLimitsAreSplitAndAllPublished) {
  StartEmulator();
  std::unique_ptr<Output> output = MakeStarted(absl::StrCat("topic: ", kTopic));
  ASSERT_NE(output, nullptr);
  // 1500 alerts: more messages than one request takes.
  SendResult many = output->Send(Alerts(1500), In(absl::Seconds(20)));
  ASSERT_TRUE(many.delivered()) << many.reason;
  EXPECT_THAT(pubsub_->PublishSizes(), ElementsAre(1000u, 500u));
  // 14 alerts of 1 MB: more bytes than one request takes (the fake refuses
  // requests over 10 MiB with INVALID_ARGUMENT, as Pub/Sub does).
  SendResult big = output->Send(Alerts(14, 1 << 20), In(absl::Seconds(20)));
  ASSERT_TRUE(big.delivered()) << big.reason;
  EXPECT_THAT(pubsub_->PublishSizes(), ElementsAre(1000u, 500u, 9u, 5u));
  EXPECT_EQ(pubsub_->Published(kTopic).size(), 1514u);
}

TEST_F(PubSubOutputTest, AnAlertTooLargeForPubSubIsPermanent) {
  StartEmulator();
  std::unique_ptr<Output> output = MakeStarted(absl::StrCat("topic: ", kTopic));
  ASSERT_NE(output, nullptr);
  std::vector<core::AlertPtr> batch = {Alert(1, 11 << 20)};
  SendResult r = output->Send(batch, In(absl::Seconds(10)));
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_THAT(r.reason, HasSubstr("alert uuid-1 makes a "));
  EXPECT_THAT(r.reason, HasSubstr("more than Pub/Sub's limit of 10000000"));
  EXPECT_EQ(pubsub_->PublishCalls(), 0);
}

TEST_F(PubSubOutputTest, LongRuleNamesStayWithinTheAttributeLimit) {
  StartEmulator();
  std::unique_ptr<Output> output = MakeStarted(absl::StrCat("topic: ", kTopic));
  ASSERT_NE(output, nullptr);
  auto alert = std::make_shared<core::Alert>(*Alert(1));
  alert->rule = std::string(3000, 'r');
  std::vector<core::AlertPtr> batch = {alert};
  SendResult r = output->Send(batch, In(absl::Seconds(10)));
  ASSERT_TRUE(r.delivered()) << r.reason;
  ASSERT_EQ(pubsub_->Published(kTopic).size(), 1u);
  EXPECT_EQ(pubsub_->Published(kTopic)[0].attributes().at("rule").size(),
            1024u);
}

TEST_F(PubSubOutputTest, StatusesFromThePublisherAreClassified) {
  StartEmulator();
  std::unique_ptr<Output> output = MakeStarted(absl::StrCat("topic: ", kTopic));
  ASSERT_NE(output, nullptr);
  std::vector<core::AlertPtr> batch = Alerts(1);

  pubsub_->FailNextPublishes(1, grpc::StatusCode::UNAVAILABLE);
  SendResult unavailable = output->Send(batch, In(absl::Seconds(10)));
  EXPECT_EQ(unavailable.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(unavailable.reason, HasSubstr("pubsub: UNAVAILABLE: "));

  pubsub_->FailNextPublishes(1, grpc::StatusCode::PERMISSION_DENIED);
  SendResult denied = output->Send(batch, In(absl::Seconds(10)));
  EXPECT_EQ(denied.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(denied.reason,
            "pubsub: PERMISSION_DENIED: User not authorized to perform this "
            "action.");
  EXPECT_EQ(denied.status,
            static_cast<int>(grpc::StatusCode::PERMISSION_DENIED));
  EXPECT_THAT(pubsub_->Published(kTopic), IsEmpty());

  EXPECT_TRUE(output->Send(batch, In(absl::Seconds(10))).delivered());
  EXPECT_EQ(pubsub_->Published(kTopic).size(), 1u);
}

TEST_F(PubSubOutputTest, AMissingTopicIsPermanent) {
  StartEmulator();
  std::unique_ptr<Output> output =
      MakeStarted("topic: projects/test-project/topics/nope");
  ASSERT_NE(output, nullptr);
  SendResult r = output->Send(Alerts(1), In(absl::Seconds(10)));
  EXPECT_EQ(r.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(r.reason, "pubsub: NOT_FOUND: Resource not found (resource=nope).");
}

TEST_F(PubSubOutputTest, TheSendDeadlineBoundsTheCall) {
  StartEmulator();
  std::unique_ptr<Output> output = MakeStarted(absl::StrCat("topic: ", kTopic));
  ASSERT_NE(output, nullptr);
  pubsub_->SetPublishDelay(absl::Seconds(5));
  const absl::Time start = absl::Now();
  SendResult r = output->Send(Alerts(1), start + absl::Milliseconds(300));
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(r.reason, HasSubstr("pubsub: DEADLINE_EXCEEDED"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));

  SendResult late = output->Send(Alerts(1), start - absl::Seconds(1));
  EXPECT_EQ(late.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(late.reason, HasSubstr("deadline passed"));
}

TEST_F(PubSubOutputTest, TheTimeoutKeyBoundsTheCallToo) {
  StartEmulator();
  std::unique_ptr<Output> output =
      MakeStarted(absl::StrCat("topic: ", kTopic, ", timeout: 300ms"));
  ASSERT_NE(output, nullptr);
  pubsub_->SetPublishDelay(absl::Seconds(5));
  const absl::Time start = absl::Now();
  SendResult r = output->Send(Alerts(1), start + absl::Seconds(60));
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(r.reason, HasSubstr("DEADLINE_EXCEEDED"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(PubSubOutputTest, AStoppedEndpointIsRetried) {
  StartEmulator();
  std::unique_ptr<Output> output = MakeStarted(absl::StrCat("topic: ", kTopic));
  ASSERT_NE(output, nullptr);
  pubsub_->Stop();
  SendResult r = output->Send(Alerts(1), In(absl::Seconds(5)));
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(r.reason, HasSubstr("pubsub: UNAVAILABLE"));
}

TEST_F(PubSubOutputTest, TlsWithBearerTokensForThePubSubScope) {
  const std::string keys = StartTls();
  ASSERT_FALSE(keys.empty());
  std::unique_ptr<Output> output =
      MakeStarted(absl::StrCat("topic: ", kTopic, ", ", keys));
  ASSERT_NE(output, nullptr);
  SendResult r = output->Send(Alerts(2), In(absl::Seconds(10)));
  ASSERT_TRUE(r.delivered()) << r.reason;
  EXPECT_EQ(pubsub_->Published(kTopic).size(), 2u);
  ASSERT_EQ(tokens_.ScopeRequests().size(), 1u);
  EXPECT_EQ(tokens_.ScopeRequests()[0],
            std::vector<std::string>{"https://www.googleapis.com/auth/pubsub"});
}

TEST_F(PubSubOutputTest, ARetriedSplitBatchPublishesEachAlertOnce) {
  const std::string keys = StartTls();
  ASSERT_FALSE(keys.empty());
  std::unique_ptr<Output> output =
      MakeStarted(absl::StrCat("topic: ", kTopic, ", ", keys));
  ASSERT_NE(output, nullptr);
  // Three requests (1000 messages each at most); the second is refused
  // (UNAUTHENTICATED, as for a token revoked in between).
  std::atomic<int> checks{0};
  pubsub_->RequireBearer([this, &checks](absl::string_view token) {
    return ++checks != 2 && tokens_.IsValidToken(token);
  });
  std::vector<core::AlertPtr> batch = Alerts(2500);
  SendResult first = output->Send(batch, In(absl::Seconds(20)));
  ASSERT_EQ(first.kind, SendResult::Kind::kRetry) << first.reason;
  EXPECT_THAT(first.reason, HasSubstr("pubsub: UNAUTHENTICATED"));
  EXPECT_EQ(pubsub_->Published(kTopic).size(), 1000u);

  // The queue sends the same batch again.
  SendResult second = output->Send(batch, In(absl::Seconds(20)));
  ASSERT_TRUE(second.delivered()) << second.reason;
  std::multiset<std::string> seen;
  for (const std::string& data : PublishedData()) seen.insert(data);
  EXPECT_EQ(seen.size(), batch.size());
  for (const core::AlertPtr& alert : batch)
    EXPECT_EQ(seen.count(core::EncodeFalcoAlert(*alert)), 1u) << alert->seq;
  // And a later batch with the same alerts is published in full: the first
  // one was forgotten once through.
  SendResult again = output->Send(batch, In(absl::Seconds(20)));
  ASSERT_TRUE(again.delivered()) << again.reason;
  EXPECT_EQ(pubsub_->Published(kTopic).size(), 2 * batch.size());
}

TEST_F(PubSubOutputTest, TokenEndpointFailuresRetry) {
  const std::string keys = StartTls();
  ASSERT_FALSE(keys.empty());
  std::unique_ptr<Output> output =
      MakeStarted(absl::StrCat("topic: ", kTopic, ", ", keys));
  ASSERT_NE(output, nullptr);
  tokens_.FailNext(1, 503);
  SendResult r = output->Send(Alerts(1), In(absl::Seconds(10)));
  EXPECT_EQ(r.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(r.reason, HasSubstr("pubsub: UNAVAILABLE"));
  EXPECT_TRUE(pubsub_->Published(kTopic).empty());
  EXPECT_TRUE(output->Send(Alerts(1), In(absl::Seconds(10))).delivered());
}

TEST_F(PubSubOutputTest, EmulatorNeedsNoCredentialsEvenWhenSomeAreGiven) {
  StartEmulator();
  ASSERT_TRUE(tokens_.Start().ok());
  key_file_ = dir_ + "/sa.json";
  ASSERT_TRUE(tokens_.WriteServiceAccountKey(key_file_).ok());
  std::unique_ptr<Output> output = MakeStarted(
      absl::StrCat("topic: ", kTopic, ", endpoint: 'pubsub.invalid:443', ",
                   "credentials_file: '", key_file_, "'"));
  ASSERT_NE(output, nullptr);
  ASSERT_TRUE(output->Send(Alerts(1), In(absl::Seconds(10))).delivered());
  EXPECT_EQ(pubsub_->Published(kTopic).size(), 1u);
  EXPECT_EQ(tokens_.TokensIssued(), 0u);
}

TEST_F(PubSubOutputTest, StartFailsOnUnreadableCredentials) {
  std::unique_ptr<Output> no_key = Make(absl::StrCat(
      "topic: ", kTopic, ", credentials_file: /nonexistent/key.json"));
  ASSERT_NE(no_key, nullptr);
  absl::Status s = no_key->Start();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("pubsub credentials_file: "));

  std::unique_ptr<Output> no_ca = Make(
      absl::StrCat("topic: ", kTopic, ", tls: {ca_file: /nonexistent/ca.pem}"));
  ASSERT_NE(no_ca, nullptr);
  absl::Status t = no_ca->Start();
  EXPECT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.message()),
              HasSubstr("pubsub tls.ca_file: cannot read /nonexistent/ca.pem"));
}

TEST_F(PubSubOutputTest, SendBeforeStartRetries) {
  std::unique_ptr<Output> output = Make(absl::StrCat("topic: ", kTopic));
  ASSERT_NE(output, nullptr);
  EXPECT_EQ(output->Send(Alerts(1), In(absl::Seconds(1))).kind,
            SendResult::Kind::kRetry);
}

TEST_F(PubSubOutputTest, RegistryRejectsUnknownKeysWithTheirPlace) {
  std::string errors;
  EXPECT_EQ(Make(absl::StrCat("topic: ", kTopic, ", colour: red"), &errors),
            nullptr);
  EXPECT_THAT(errors, HasSubstr("test.yaml:1:46: outputs[0].colour: unknown "
                                "key (known here: attributes, batch"));
}

TEST_F(PubSubOutputTest, FalcosidekickGcpPubsubSectionBuildsThisOutput) {
  absl::StatusOr<core::Config> config = core::LoadConfigTextWithEnv(
      R"(gcp:
  pubsub:
    projectid: test-project
    topic: alerts
    customattributes: {team: secops}
    minimumpriority: warning
)",
      "falcosidekick.yaml", [](const char*) { return nullptr; });
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->outputs.size(), 1u);
  const core::OutputConfig& common = config->outputs[0];
  EXPECT_EQ(common.type, "pubsub");
  StartEmulator();
  Registry registry;
  RegisterBuiltinOutputs(registry);
  OutputContext context;
  context.env = [this](const char* name) -> const char* {
    return std::string(name) == "PUBSUB_EMULATOR_HOST" ? emulator_host_.c_str()
                                                       : nullptr;
  };
  auto output = registry.Create(common, config->source, context);
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_TRUE((*output)->Start().ok());
  ASSERT_TRUE((*output)->Send(Alerts(1), In(absl::Seconds(10))).delivered());
  ASSERT_EQ(pubsub_->Published(kTopic).size(), 1u);
  EXPECT_EQ(pubsub_->Published(kTopic)[0].attributes().at("team"), "secops");
}

}  // namespace
}  // namespace corral::outputs
