// End to end: the real corral binary on loopback with a Slack output, a fake
// Slack (rate limit, errors) behind it.
#include <signal.h>

#include <boost/json.hpp>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/file_util.h"
#include "core/http_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/e2e/e2e_alerts.h"
#include "tests/fakes/fake_slack.h"

namespace corral::e2e {
namespace {

using fakes::FakeSlack;
using fakes::ScriptedResponse;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kWait = absl::Seconds(15);
constexpr char kHook[] = "/services/T0E2E/B0E2E/e2eS3cr3tT0k3n";

std::string ReadFile(const std::string& path) {
  return core::ReadFileToString(path).value_or("");
}

std::string AlertJson(absl::string_view rule, absl::string_view priority,
                      absl::string_view marker) {
  return absl::StrCat(R"({"rule":")", rule, R"(","priority":")", priority,
                      R"(","time":"2026-11-02T10:15:31.5Z","output":"e2e )",
                      marker, R"(","output_fields":{"marker":")", marker,
                      R"("}})");
}

// How many alerts one Slack message stands for: a digest says "N alerts:
// RULE × c, ..." (and its counts must add up to N); any other message is one
// alert.
size_t AlertsIn(const boost::json::object& payload) {
  const boost::json::value* text = payload.if_contains("text");
  if (text == nullptr || !text->is_string()) return 1;
  const std::string t(text->get_string());
  static const std::regex kHead(R"(^(\d+) alerts: )");
  std::smatch head;
  if (!std::regex_search(t, head, kHead)) return 1;
  const size_t n = std::stoul(head[1]);
  static const std::regex kCount(" × (\\d+)");
  size_t sum = 0;
  for (auto it = std::sregex_iterator(t.begin(), t.end(), kCount);
       it != std::sregex_iterator(); ++it) {
    sum += std::stoul((*it)[1]);
  }
  EXPECT_EQ(sum, n) << t;
  return n;
}

class SlackE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(slack_.Start().ok());
    url_ = slack_.AddWebhook(kHook);
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/e2e_slack_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "corral stderr:\n" << corral_->Stderr();
  }

  std::string Config(const std::string& url,
                     absl::string_view extra = "") const {
    return absl::StrCat(
        "listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n"
        "spool:\n  dir: ./data\n"
        "outputs:\n"
        "  - name: slack\n"
        "    type: slack\n"
        "    webhook_url: ",
        url,
        "\n"
        "    retry: {initial_backoff: 50ms, max_backoff: 200ms}\n"
        "    batch: {max_wait: 200ms}\n",
        extra);
  }

  core::HttpResponse Post(core::HttpClient& client, std::string body) {
    absl::StatusOr<core::HttpResponse> response =
        PostJson(client, *corral_, std::move(body));
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : core::HttpResponse{};
  }
  core::HttpResponse Post(std::string body) {
    return Post(client_, std::move(body));
  }

  FakeSlack slack_;
  std::string url_;
  std::string dir_;
  std::unique_ptr<CorralProcess> corral_;
  core::HttpClient client_{core::HttpClientTls{}, "corral-e2e"};
};

TEST_F(SlackE2eTest, TooManyRequestsDelaysTheNextSendAndDeliversOnce) {
  ScriptedResponse limited;
  limited.status = 429;
  limited.body = "rate_limited";
  limited.headers.emplace_back("Retry-After", "1");
  slack_.FailNext(kHook, limited);
  ASSERT_TRUE(corral_->StartWithConfig(Config(url_)).ok()) << corral_->Stderr();
  ASSERT_EQ(Post(AlertJson("Shell", "Critical", "once")).status, 200);
  ASSERT_TRUE(slack_.WaitForMessages(1, kWait));
  // Anything sent twice would arrive within this.
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);

  std::vector<fakes::RecordedRequest> requests = slack_.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_GE(requests[1].received - requests[0].received, absl::Seconds(1));
  std::vector<FakeSlack::Message> got = slack_.Messages();
  ASSERT_EQ(got.size(), 1u);
  const std::string body = boost::json::serialize(got[0].payload);
  EXPECT_THAT(body, HasSubstr("e2e once"));
  EXPECT_THAT(body, HasSubstr("#ff5400"));
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(SlackE2eTest, StormOf300AlertsArrivesAsDigestsWithinTheRateLimit) {
  ASSERT_TRUE(corral_->StartWithConfig(Config(url_)).ok()) << corral_->Stderr();
  const absl::Time start = absl::Now();
  constexpr int kThreads = 4;
  constexpr int kAlerts = 300;
  std::vector<std::thread> posters;
  std::atomic<int> accepted{0};
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      core::HttpClient client(core::HttpClientTls{}, "corral-e2e");
      for (int i = t; i < kAlerts; i += kThreads) {
        const char* priority = i % 10 == 0 ? "Critical" : "Warning";
        const std::string rule = absl::StrCat("Rule ", i % 7);
        if (Post(client, AlertJson(rule, priority, absl::StrCat("m", i)))
                .status == 200) {
          ++accepted;
        }
        // Spread over about a second, so that several batches form and the
        // later ones wait for the bucket.
        absl::SleepFor(start + absl::Milliseconds(3 * i) - absl::Now());
      }
    });
  }
  for (std::thread& t : posters) t.join();
  const absl::Duration posting = absl::Now() - start;
  ASSERT_EQ(accepted.load(), kAlerts);

  size_t counted = 0;
  std::vector<FakeSlack::Message> got;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    got = slack_.Messages();
    counted = 0;
    for (const FakeSlack::Message& m : got) counted += AlertsIn(m.payload);
    if (counted >= kAlerts) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(counted, static_cast<size_t>(kAlerts))
      << "posting took " << posting;
  EXPECT_EQ(slack_.RateLimited(), 0u);
  for (const fakes::RecordedRequest& r : slack_.Requests()) {
    EXPECT_EQ(r.target, kHook);
  }
  // Digests, not 300 messages: what 1/s with a burst of 3 allows.
  EXPECT_LE(got.size(),
            3 + static_cast<size_t>(absl::ToDoubleSeconds(elapsed) + 1));
  EXPECT_LT(elapsed, absl::Seconds(10));
  std::cerr << got.size() << " messages for " << kAlerts << " alerts in "
            << elapsed << " (posting took " << posting << ")\n";
  bool any_digest = false;
  bool any_critical_digest = false;
  for (const FakeSlack::Message& m : got) {
    if (AlertsIn(m.payload) > 1) {
      any_digest = true;
      // Highest priority first, in its colour. Which alerts share a digest
      // depends on timing: one may hold only Warnings.
      const boost::json::object& attachment =
          m.payload.at("attachments").as_array()[0].as_object();
      std::string priorities;
      for (const boost::json::value& f : attachment.at("fields").as_array()) {
        if (f.at("title") == "priorities") {
          priorities = std::string(f.at("value").as_string());
        }
      }
      const bool critical = absl::StartsWith(priorities, "Critical × ");
      EXPECT_TRUE(critical || absl::StartsWith(priorities, "Warning × "))
          << priorities;
      EXPECT_EQ(critical, absl::StrContains(priorities, "Critical"))
          << priorities;
      EXPECT_EQ(attachment.at("color"), critical ? "#ff5400" : "#ffc700")
          << priorities;
      any_critical_digest = any_critical_digest || critical;
    }
  }
  EXPECT_TRUE(any_digest);
  // 30 of the alerts are Critical, in far fewer messages than that.
  EXPECT_TRUE(any_critical_digest);
  EXPECT_GE(got.size(), 2u);  // several batches, paced by the bucket
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(SlackE2eTest, NoServiceIsADeadLetterWithoutTheWebhookPath) {
  const std::string wrong = slack_.UrlFor("/services/T0E2E/B0E2E/wrongS3cr3t");
  ASSERT_TRUE(corral_->StartWithConfig(Config(wrong)).ok())
      << corral_->Stderr();
  ASSERT_EQ(Post(AlertJson("Shell", "Error", "lost")).status, 200);
  std::vector<boost::json::object> dead = corral_->WaitForDeadLetters(kWait);
  ASSERT_EQ(dead.size(), 1u);
  const std::string reason(dead[0].at("reason").as_string());
  EXPECT_THAT(reason, HasSubstr("no_service"));
  EXPECT_THAT(reason, Not(HasSubstr("wrongS3cr3t")));
  EXPECT_THAT(ReadFile(dir_ + "/data/dead-letter.jsonl"),
              Not(HasSubstr("wrongS3cr3t")));
  EXPECT_THAT(corral_->Metrics(), Not(HasSubstr("wrongS3cr3t")));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_THAT(corral_->Stderr(), HasSubstr("no_service"));
  EXPECT_THAT(corral_->Stderr(), Not(HasSubstr("wrongS3cr3t")));
  EXPECT_THAT(corral_->Stdout(), Not(HasSubstr("wrongS3cr3t")));
}

TEST_F(SlackE2eTest, FalcosidekickSlackSectionStartsAndDelivers) {
  ASSERT_TRUE(corral_
                  ->StartWithConfig(absl::StrCat(R"(listenaddress: 127.0.0.1
listenport: 0
slack:
  webhookurl: )",
                                                 url_, R"(
  minimumpriority: warning
  outputformat: text
  username: Falco
  messageformat: 'Alert {{ .Rule }} ({{ .Priority }}) marker={{ index .OutputFields "marker" }}'
)"))
                  .ok())
      << corral_->Stderr();
  ASSERT_EQ(Post(AlertJson("Below", "Notice", "below")).status, 200);
  ASSERT_EQ(Post(AlertJson("Shell", "Error", "above")).status, 200);
  ASSERT_TRUE(slack_.WaitForMessages(1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  std::vector<FakeSlack::Message> got = slack_.Messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload.at("text"), "Alert Shell (Error) marker=above");
  EXPECT_EQ(got[0].payload.at("username"), "Falco");
  const boost::json::object& attachment =
      got[0].payload.at("attachments").as_array()[0].as_object();
  EXPECT_EQ(attachment.at("text"), "e2e above");
  EXPECT_EQ(attachment.at("color"), "#e20b0b");
  EXPECT_FALSE(attachment.contains("fields"));
}

}  // namespace
}  // namespace corral::e2e
