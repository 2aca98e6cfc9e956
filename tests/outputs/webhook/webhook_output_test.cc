#include "outputs/webhook/webhook_output.h"

#include <stdlib.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/alert_json.h"
#include "core/config.h"
#include "core/config_node.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outputs/webhook/webhook_config.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/fakes/test_certs.h"

namespace corral::outputs {
namespace {

using fakes::FakeHttpServer;
using fakes::RecordedRequest;
using fakes::ScriptedResponse;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

using fakes::FakeClock;

core::AlertPtr MakeAlert(uint64_t seq) {
  auto alert = std::make_shared<core::Alert>();
  alert->uuid = absl::StrCat("00000000-0000-4000-8000-",
                             absl::Dec(seq, absl::kZeroPad12));
  alert->seq = seq;
  alert->time = absl::FromUnixSeconds(1783277459);
  alert->priority = core::Priority::kCritical;
  alert->rule = "Terminal shell in container";
  alert->output = "A shell was spawned";
  alert->source = "syscall";
  alert->hostname = "node-1";
  alert->tags = {"shell"};
  alert->output_fields_json = R"({"proc.name":"bash","proc.pid":4242})";
  return alert;
}

struct Built {
  std::unique_ptr<Output> output;
  std::vector<std::string> errors;
};

// Runs the factory the way the registry does, for the output mapping in `yaml`.
Built Build(const std::string& yaml, const OutputContext& context = {},
            int64_t max_items = 100) {
  core::ConfigErrors errors("test.yaml");
  core::OutputConfig common;
  common.name = "hook";
  common.type = "webhook";
  common.batch.max_items = max_items;
  common.node = YAML::Load(yaml);
  common.path = "outputs[0]";
  core::ConfigMap map(common.node, common.path, &errors, {"name", "type"});
  Built built;
  built.output = CreateWebhookOutput(common, map, context);
  built.errors = errors.messages();
  return built;
}

std::string Errors(const Built& b) { return absl::StrJoin(b.errors, "\n"); }

TEST(WebhookConfigTest, Defaults) {
  core::ConfigErrors errors("test.yaml");
  core::ConfigMap map(YAML::Load("{url: 'https://example.com/hook'}"),
                      "outputs[0]", &errors);
  std::optional<WebhookConfig> config = ParseWebhookConfig(map);
  ASSERT_TRUE(config.has_value()) << errors.ToStatus();
  EXPECT_EQ(config->url, "https://example.com/hook");
  EXPECT_EQ(config->method, "POST");
  EXPECT_EQ(config->format, WebhookFormat::kJson);
  EXPECT_EQ(config->timeout, absl::Seconds(10));
  EXPECT_EQ(config->connect_timeout, absl::Seconds(5));
  EXPECT_TRUE(config->headers.empty());
  EXPECT_FALSE(config->tls.insecure_skip_verify);
}

TEST(WebhookConfigTest, AllKeys) {
  core::ConfigErrors errors("test.yaml");
  core::ConfigMap map(YAML::Load(R"(
url: http://127.0.0.1:9000/alerts
method: put
headers: {X-Team: secops, Authorization: Bearer t}
tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem, insecure_skip_verify: true}
format: ndjson_batch
timeout: 3s
connect_timeout: 500ms
)"),
                      "outputs[0]", &errors);
  std::optional<WebhookConfig> config = ParseWebhookConfig(map);
  ASSERT_TRUE(config.has_value()) << errors.ToStatus();
  EXPECT_EQ(config->method, "PUT");
  EXPECT_EQ(config->format, WebhookFormat::kNdjsonBatch);
  EXPECT_EQ(config->timeout, absl::Seconds(3));
  EXPECT_EQ(config->connect_timeout, absl::Milliseconds(500));
  EXPECT_THAT(
      config->headers,
      ::testing::UnorderedElementsAre(
          std::pair<std::string, std::string>{"X-Team", "secops"},
          std::pair<std::string, std::string>{"Authorization", "Bearer t"}));
  EXPECT_EQ(config->tls.ca_file, "/ca.pem");
  EXPECT_EQ(config->tls.cert_file, "/c.pem");
  EXPECT_EQ(config->tls.key_file, "/k.pem");
  EXPECT_TRUE(config->tls.insecure_skip_verify);
}

TEST(WebhookConfigTest, Errors) {
  struct Case {
    const char* yaml;
    const char* expected;
  };
  for (const Case& c : std::vector<Case>{
           {"{method: POST}", "outputs[0].url: is required"},
           {"{url: ''}", "outputs[0].url: is required"},
           {"{url: 'ftp://example.com/x'}",
            "outputs[0].url: must start with http:// or https://"},
           {"{url: 'http:///x'}", "outputs[0].url: has no host"},
           {"{url: 'http://h/', method: GET}",
            "outputs[0].method: \"GET\" is not one of: POST, PUT"},
           {"{url: 'http://h/', format: xml}",
            "outputs[0].format: \"xml\" is not one of"},
           {"{url: 'http://h/', tls: {cert_file: /c.pem}}",
            "outputs[0].tls.key_file: is required with cert_file"},
           {"{url: 'http://h/', tls: {key_file: /k.pem}}",
            "outputs[0].tls.cert_file: is required with key_file"},
           {"{url: 'http://h/', tls: {ca: /x}}",
            "outputs[0].tls.ca: unknown key"},
           {"{url: 'http://h/', headers: {'Bad Name': x}}",
            "is not a valid header name"},
           {"{url: 'http://h/', headers: {Content-Length: '3'}}",
            "is set by corral"},
           {"{url: 'http://h/', timeout: 0s}",
            "outputs[0].timeout: must be more than 0"},
           {"{url: 'http://h/', connect_timeout: 5}",
            "outputs[0].connect_timeout: expected a duration"},
       }) {
    Built built = Build(c.yaml);
    EXPECT_EQ(built.output, nullptr) << c.yaml;
    EXPECT_THAT(Errors(built), HasSubstr(c.expected)) << c.yaml;
    EXPECT_THAT(Errors(built), HasSubstr("test.yaml:")) << c.yaml;
  }
  // Several mistakes are all reported at once; a URL's secret path is never
  // echoed.
  Built built = Build("{url: 'ftp://h/SECRET', method: GET, format: xml}");
  EXPECT_EQ(built.errors.size(), 3u) << Errors(built);
  EXPECT_THAT(Errors(built), Not(HasSubstr("SECRET")));
}

TEST(WebhookConfigTest, MaxBatchItemsFollowsTheFormat) {
  Built json = Build("{url: 'http://h/'}", {}, 250);
  ASSERT_NE(json.output, nullptr) << Errors(json);
  EXPECT_EQ(json.output->MaxBatchItems(), 1);
  Built ndjson = Build("{url: 'http://h/', format: ndjson_batch}", {}, 250);
  ASSERT_NE(ndjson.output, nullptr) << Errors(ndjson);
  EXPECT_EQ(ndjson.output->MaxBatchItems(), 250);
}

class WebhookOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    context_.clock = &clock_;
    context_.user_agent = "corral/test";
  }

  std::unique_ptr<Output> Make(const std::string& extra_yaml = "",
                               absl::string_view path = "/hooks/abc") {
    Built built =
        Build(absl::StrCat("{url: '", server_.Url(path), "'",
                           extra_yaml.empty() ? "" : ", ", extra_yaml, "}"),
              context_);
    EXPECT_NE(built.output, nullptr) << Errors(built);
    if (built.output != nullptr) {
      EXPECT_TRUE(built.output->Start().ok());
    }
    return std::move(built.output);
  }

  SendResult SendOne(Output& output, uint64_t seq = 1) {
    std::vector<core::AlertPtr> batch = {MakeAlert(seq)};
    return output.Send(batch, clock_.Now() + absl::Seconds(10));
  }

  FakeClock clock_{
      absl::FromUnixSeconds(1783277400)};  // Sun, 05 Jul 2026 18:50:00 GMT
  OutputContext context_;
  FakeHttpServer server_;
};

TEST_F(WebhookOutputTest, DeliversOneAlertAsJsonWithHeaders) {
  std::unique_ptr<Output> output =
      Make("headers: {X-Team: secops, Authorization: Bearer t0k}");
  SendResult result = SendOne(*output, 7);
  EXPECT_EQ(result.kind, SendResult::Kind::kDelivered) << result.reason;
  EXPECT_EQ(result.status, 200);

  ASSERT_EQ(server_.RequestCount(), 1u);
  RecordedRequest got = server_.Requests()[0];
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.target, "/hooks/abc");
  EXPECT_EQ(got.body, core::EncodeFalcoAlert(*MakeAlert(7)));
  EXPECT_EQ(got.Header("content-type"), "application/json");
  EXPECT_EQ(got.Header("x-team"), "secops");
  EXPECT_EQ(got.Header("authorization"), "Bearer t0k");
  EXPECT_EQ(got.Header("user-agent"), "corral/test");
}

TEST_F(WebhookOutputTest, PutMethod) {
  std::unique_ptr<Output> output = Make("method: PUT");
  EXPECT_TRUE(SendOne(*output).delivered());
  ASSERT_EQ(server_.RequestCount(), 1u);
  EXPECT_EQ(server_.Requests()[0].method, "PUT");
  EXPECT_EQ(server_.Requests()[0].body, core::EncodeFalcoAlert(*MakeAlert(1)));
}

TEST_F(WebhookOutputTest, NdjsonBatchIsOneRequest) {
  std::unique_ptr<Output> output = Make("format: ndjson_batch");
  std::vector<core::AlertPtr> batch = {MakeAlert(1), MakeAlert(2),
                                       MakeAlert(3)};
  SendResult result = output->Send(batch, clock_.Now() + absl::Seconds(10));
  EXPECT_TRUE(result.delivered()) << result.reason;
  ASSERT_EQ(server_.RequestCount(), 1u);
  RecordedRequest got = server_.Requests()[0];
  EXPECT_EQ(got.Header("content-type"), "application/x-ndjson");
  EXPECT_EQ(got.body, absl::StrCat(core::EncodeFalcoAlert(*batch[0]), "\n",
                                   core::EncodeFalcoAlert(*batch[1]), "\n",
                                   core::EncodeFalcoAlert(*batch[2]), "\n"));
}

TEST_F(WebhookOutputTest, CustomContentTypeWins) {
  std::unique_ptr<Output> output = Make("headers: {Content-Type: text/plain}");
  EXPECT_TRUE(SendOne(*output).delivered());
  RecordedRequest got = server_.Requests().at(0);
  EXPECT_EQ(got.Header("content-type"), "text/plain");
  int content_types = 0;
  for (const auto& [name, value] : got.headers)
    content_types += name == "content-type";
  EXPECT_EQ(content_types, 1);
}

TEST_F(WebhookOutputTest, ServerErrorRetriesWithReason) {
  server_.Script({{.status = 503, .body = "upstream down\nplease retry"}});
  std::unique_ptr<Output> output = Make();
  SendResult result = SendOne(*output);
  EXPECT_EQ(result.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(result.status, 503);
  EXPECT_EQ(result.reason, "HTTP 503: upstream down please retry");
  EXPECT_EQ(result.retry_after, absl::ZeroDuration());
}

TEST_F(WebhookOutputTest, TooManyRequestsHonoursRetryAfter) {
  server_.Script(
      {{.status = 429, .headers = {{"Retry-After", "7"}}, .body = "slow down"},
       {.status = 429,
        .headers = {{"Retry-After", "Sun, 05 Jul 2026 18:50:30 GMT"}},
        .body = ""}});
  std::unique_ptr<Output> output = Make();
  SendResult seconds = SendOne(*output);
  EXPECT_EQ(seconds.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(seconds.status, 429);
  EXPECT_EQ(seconds.retry_after, absl::Seconds(7));
  SendResult date = SendOne(*output);
  EXPECT_EQ(date.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(date.retry_after,
            absl::Seconds(30));  // relative to the injected clock
}

TEST_F(WebhookOutputTest, BadRequestIsPermanent) {
  server_.Script({{.status = 400, .body = "invalid_payload"}});
  std::unique_ptr<Output> output = Make();
  SendResult result = SendOne(*output);
  EXPECT_EQ(result.kind, SendResult::Kind::kPermanent);
  EXPECT_EQ(result.status, 400);
  EXPECT_EQ(result.reason, "HTTP 400: invalid_payload");
}

TEST_F(WebhookOutputTest, ConnectionRefusedRetriesWithoutLeakingThePath) {
  std::unique_ptr<Output> output = Make("", "/services/T000/SECRET");
  server_.Stop();
  SendResult result = SendOne(*output);
  EXPECT_EQ(result.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(result.status, 0);
  EXPECT_THAT(result.reason,
              AllOf(HasSubstr("127.0.0.1"), Not(HasSubstr("SECRET"))));
}

TEST_F(WebhookOutputTest, TimeoutIsBoundedByTheDeadline) {
  server_.SetDefault({.delay = absl::Seconds(5)});
  std::unique_ptr<Output> output = Make("timeout: 30s");
  std::vector<core::AlertPtr> batch = {MakeAlert(1)};
  absl::Time start = absl::Now();
  SendResult result =
      output->Send(batch, clock_.Now() + absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(result.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(result.reason, HasSubstr("timed out"));
}

TEST_F(WebhookOutputTest, ConfiguredTimeout) {
  server_.SetDefault({.delay = absl::Seconds(5)});
  std::unique_ptr<Output> output = Make("timeout: 200ms");
  absl::Time start = absl::Now();
  SendResult result = SendOne(*output);  // deadline 10 s away
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(result.kind, SendResult::Kind::kRetry);
}

TEST_F(WebhookOutputTest, DeadlineAlreadyPassedSendsNothing) {
  std::unique_ptr<Output> output = Make();
  std::vector<core::AlertPtr> batch = {MakeAlert(1)};
  SendResult result = output->Send(batch, clock_.Now() - absl::Seconds(1));
  EXPECT_EQ(result.kind, SendResult::Kind::kRetry);
  EXPECT_EQ(server_.RequestCount(), 0u);
}

TEST_F(WebhookOutputTest, ConcurrentSendersReuseTheirConnections) {
  std::unique_ptr<Output> output = Make();
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::atomic<int> delivered{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (SendOne(*output, t * 1000 + i).delivered()) delivered.fetch_add(1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(delivered.load(), kThreads * kEach);
  EXPECT_EQ(server_.RequestCount(), size_t{kThreads * kEach});
  EXPECT_LE(server_.ConnectionCount(), size_t{kThreads});
}

TEST(WebhookOutputTlsTest, DeliversOverMutualTls) {
  std::string dir = ::testing::TempDir() + "/corral_webhook_XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  absl::StatusOr<fakes::TestCerts> certs = fakes::GenerateTestCerts(dir);
  ASSERT_TRUE(certs.ok()) << certs.status();
  FakeHttpServer server({.cert_file = certs->server_cert,
                         .key_file = certs->server_key,
                         .client_ca_file = certs->ca_cert});
  ASSERT_TRUE(server.Start().ok());
  Built built = Build(absl::StrCat("{url: '", server.Url("/secure"),
                                   "', tls: {ca_file: '", certs->ca_cert,
                                   "', cert_file: '", certs->client_cert,
                                   "', key_file: '", certs->client_key, "'}}"));
  ASSERT_NE(built.output, nullptr) << Errors(built);
  ASSERT_TRUE(built.output->Start().ok());
  std::vector<core::AlertPtr> batch = {MakeAlert(1)};
  SendResult result =
      built.output->Send(batch, absl::Now() + absl::Seconds(10));
  EXPECT_TRUE(result.delivered()) << result.reason;
  EXPECT_EQ(server.RequestCount(), 1u);
}

TEST(WebhookOutputTlsTest, StartFailsWhenATlsFileIsMissing) {
  Built built = Build(
      "{url: 'https://127.0.0.1:1/', tls: {ca_file: /nonexistent/ca.pem}}");
  ASSERT_NE(built.output, nullptr) << Errors(built);
  absl::Status status = built.output->Start();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("tls.ca_file"));
}

}  // namespace
}  // namespace corral::outputs
