#include "core/pubsub_connection.h"

#include <grpcpp/grpcpp.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "google/pubsub/v1/pubsub.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/fakes/fake_google_token.h"
#include "tests/fakes/fake_pubsub.h"
#include "tests/fakes/test_certs.h"

namespace corral::core {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kTopic[] = "projects/test-project/topics/t";

const char* NoEnv(const char*) { return nullptr; }
const char* EmulatorEnv(const char* name) {
  return std::string(name) == "PUBSUB_EMULATOR_HOST" ? "127.0.0.1:8085"
                                                     : nullptr;
}

struct Parsed {
  PubSubConnection connection;
  std::string errors;
};

Parsed Parse(const std::string& yaml, const EnvLookup& env = NoEnv) {
  ConfigErrors errors("test.yaml");
  ConfigMap map(YAML::Load(yaml), "outputs[0]", &errors);
  Parsed p;
  p.connection = ParsePubSubConnection(map, env);
  map.RejectUnknownKeys();
  p.errors = absl::StrJoin(errors.messages(), "\n");
  return p;
}

TEST(PubSubConnectionTest, DefaultsAreGooglesEndpointOverTls) {
  Parsed p = Parse("{}");
  EXPECT_EQ(p.errors, "");
  EXPECT_EQ(p.connection.endpoint, "pubsub.googleapis.com:443");
  EXPECT_FALSE(p.connection.plaintext);
  EXPECT_EQ(p.connection.ca_file, "");
  EXPECT_EQ(p.connection.credentials_file, "");
}

TEST(PubSubConnectionTest, EveryKey) {
  Parsed p = Parse(
      "{endpoint: 'pubsub.example.test:8443', credentials_file: /sa.json, "
      "tls: {ca_file: /ca.pem}}");
  EXPECT_EQ(p.errors, "");
  EXPECT_EQ(p.connection.endpoint, "pubsub.example.test:8443");
  EXPECT_EQ(p.connection.credentials_file, "/sa.json");
  EXPECT_EQ(p.connection.ca_file, "/ca.pem");
}

TEST(PubSubConnectionTest, EmulatorHostMeansPlaintextWithoutCredentials) {
  Parsed p =
      Parse("{endpoint: 'x:1', credentials_file: /sa.json}", &EmulatorEnv);
  EXPECT_EQ(p.errors, "");
  EXPECT_EQ(p.connection.endpoint, "127.0.0.1:8085");
  EXPECT_TRUE(p.connection.plaintext);
  EXPECT_EQ(p.connection.credentials_file, "");
  // An empty variable is no emulator.
  Parsed empty = Parse("{}", [](const char*) { return ""; });
  EXPECT_FALSE(empty.connection.plaintext);
}

TEST(PubSubConnectionTest, MistakesHaveTheirPlace) {
  Parsed p =
      Parse("endpoint: ''\ntls: {ca_file: /ca.pem, cert_file: /c.pem}\n");
  EXPECT_THAT(p.errors, HasSubstr("test.yaml:1:11: outputs[0].endpoint: must "
                                  "not be empty"));
  EXPECT_THAT(
      p.errors,
      HasSubstr("test.yaml:2:25: outputs[0].tls.cert_file: unknown key"));
}

TEST(PubSubConnectionTest, ResourceNames) {
  EXPECT_TRUE(IsPubSubResourceName("projects/p/topics/t", "topics"));
  EXPECT_TRUE(
      IsPubSubResourceName("projects/p/subscriptions/s", "subscriptions"));
  EXPECT_FALSE(IsPubSubResourceName("projects/p/subscriptions/s", "topics"));
  EXPECT_FALSE(IsPubSubResourceName("projects//topics/t", "topics"));
  EXPECT_FALSE(IsPubSubResourceName("projects/p/topics/", "topics"));
  EXPECT_FALSE(IsPubSubResourceName("projects/p/topics/t/x", "topics"));
  EXPECT_FALSE(IsPubSubResourceName("t", "topics"));
}

// Publishes one message over `channel`; the call's status.
grpc::Status PublishOne(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = google::pubsub::v1::Publisher::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  google::pubsub::v1::PublishRequest request;
  request.set_topic(kTopic);
  request.add_messages()->set_data("hello");
  google::pubsub::v1::PublishResponse response;
  return stub->Publish(&context, request, &response);
}

class PubSubChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/pubsub_channel_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  std::string dir_;
};

TEST_F(PubSubChannelTest, EmulatorChannelIsPlaintextWithoutCredentials) {
  fakes::FakePubSub pubsub;
  ASSERT_TRUE(pubsub.Start().ok());
  ASSERT_TRUE(pubsub.CreateTopic(kTopic).ok());
  PubSubConnection connection;
  connection.endpoint = pubsub.address();
  connection.plaintext = true;
  absl::StatusOr<PubSubChannel> channel =
      MakePubSubChannel(connection, PubSubChannelOptions{});
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_EQ(channel->credentials, "none (emulator)");
  grpc::Status status = PublishOne(channel->channel);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(pubsub.Published(kTopic).size(), 1u);
}

TEST_F(PubSubChannelTest, TlsChannelSendsTokensForThePubSubScope) {
  absl::StatusOr<fakes::TestCerts> certs = fakes::GenerateTestCerts(dir_);
  ASSERT_TRUE(certs.ok()) << certs.status();
  fakes::FakeGoogleTokenServer tokens;
  ASSERT_TRUE(tokens.Start().ok());
  const std::string key = dir_ + "/sa.json";
  ASSERT_TRUE(tokens.WriteServiceAccountKey(key).ok());
  fakes::FakePubSub pubsub(fakes::FakeTlsOptions{
      .cert_file = certs->server_cert, .key_file = certs->server_key});
  pubsub.RequireBearer([&tokens](absl::string_view token) {
    return tokens.IsValidToken(token);
  });
  ASSERT_TRUE(pubsub.Start().ok());
  ASSERT_TRUE(pubsub.CreateTopic(kTopic).ok());

  PubSubConnection connection;
  connection.endpoint = pubsub.address();
  connection.ca_file = certs->ca_cert;
  connection.credentials_file = key;
  absl::StatusOr<PubSubChannel> channel =
      MakePubSubChannel(connection, PubSubChannelOptions{});
  ASSERT_TRUE(channel.ok()) << channel.status();
  EXPECT_THAT(channel->credentials,
              HasSubstr(fakes::FakeGoogleTokenServer::kClientEmail));
  grpc::Status status = PublishOne(channel->channel);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(pubsub.Published(kTopic).size(), 1u);
  ASSERT_EQ(tokens.ScopeRequests().size(), 1u);
  EXPECT_EQ(tokens.ScopeRequests()[0],
            std::vector<std::string>{std::string(kPubSubScope)});
}

TEST_F(PubSubChannelTest, UnreadableFilesNameTheirKey) {
  PubSubConnection bad_ca;
  bad_ca.ca_file = dir_ + "/missing-ca.pem";
  absl::StatusOr<PubSubChannel> a =
      MakePubSubChannel(bad_ca, PubSubChannelOptions{});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(a.status().message()),
              StartsWith("tls.ca_file: cannot read " + bad_ca.ca_file));

  PubSubConnection bad_key;
  bad_key.credentials_file = dir_ + "/missing-key.json";
  absl::StatusOr<PubSubChannel> b =
      MakePubSubChannel(bad_key, PubSubChannelOptions{});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(b.status().message()),
              StartsWith("credentials_file: "));
}

}  // namespace
}  // namespace corral::core
