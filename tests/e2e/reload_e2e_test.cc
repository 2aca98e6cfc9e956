// End to end: SIGHUP makes the running binary re-read its config file.
#include <signal.h>

#include <boost/json.hpp>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/http_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/e2e/e2e_alerts.h"
#include "tests/fakes/fake_http_server.h"

namespace corral::e2e {
namespace {

using fakes::FakeHttpServer;
using fakes::ScriptedResponse;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(15);

// A webhook output named `name` to `url`, with fast retries; `extra` is more
// YAML lines for it.
std::string Output(absl::string_view name, const std::string& url,
                   absl::string_view extra = "") {
  return absl::StrCat("  - name: ", name, "\n    type: webhook\n    url: ", url,
                      "\n    retry: {initial_backoff: 50ms, max_backoff: "
                      "200ms}\n",
                      extra);
}

// A whole config: `top` goes before the outputs (after listen and spool).
std::string Config(const std::string& outputs, absl::string_view top = "",
                   absl::string_view listen_extra = "") {
  return absl::StrCat("listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n",
                      listen_extra, "spool:\n  dir: ./data\n", top,
                      "outputs:\n", outputs);
}

class ReloadE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/reload_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "corral stderr:\n" << corral_->Stderr();
  }

  void PostMarkers(absl::string_view prefix, int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(PostAlert(client_, *corral_,
                          MarkerAlertJson(absl::StrCat(prefix, i))),
                200);
    }
  }

  static std::set<std::string> MarkerSet(absl::string_view prefix, int n) {
    std::set<std::string> markers;
    for (int i = 0; i < n; ++i) markers.insert(absl::StrCat(prefix, i));
    return markers;
  }

  std::string dir_;
  std::unique_ptr<CorralProcess> corral_;
  core::HttpClient client_{core::HttpClientTls{}, "corral-e2e"};
};

TEST_F(ReloadE2eTest, OutputsChangeWhileRunningAndNoQueuedAlertIsLost) {
  FakeHttpServer down, gone, fixed, added;
  for (FakeHttpServer* server : {&down, &gone, &fixed, &added}) {
    ASSERT_TRUE(server->Start().ok());
  }
  down.SetDefault({.status = 503, .body = "maintenance"});
  ASSERT_TRUE(corral_
                  ->StartWithConfig(Config(Output("hook", down.Url("/h")) +
                                           Output("gone", gone.Url("/g"))))
                  .ok())
      << corral_->Stderr();
  PostMarkers("before", 5);
  ASSERT_TRUE(gone.WaitForRequests(5, kWait));
  ASSERT_TRUE(down.WaitForRequests(1, kWait));  // failing, queued

  // "hook" now points at a working receiver, "gone" is removed, "added" is
  // new, and alerts get a tag; the listen change waits for a restart.
  absl::StatusOr<bool> applied = corral_->ReloadWithConfig(
      Config(Output("hook", fixed.Url("/h")) + Output("added", added.Url("/a")),
             "customtags: [reloaded]\n", "  max_body_bytes: 65536\n"),
      kWait);
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_TRUE(*applied);
  PostMarkers("after", 3);

  // "hook"'s backlog reached its new destination, then the new alerts.
  ASSERT_TRUE(fixed.WaitForRequests(8, kWait));
  std::set<std::string> want = MarkerSet("before", 5);
  want.merge(MarkerSet("after", 3));
  EXPECT_EQ(Markers(fixed.Requests()), want);
  ASSERT_TRUE(added.WaitForRequests(3, kWait));
  EXPECT_EQ(Markers(added.Requests()), MarkerSet("after", 3));
  for (const fakes::RecordedRequest& request : added.Requests()) {
    EXPECT_THAT(request.body, HasSubstr(R"("tags":["reloaded"])"));
  }
  EXPECT_EQ(gone.RequestCount(), 5u);

  const std::string log = corral_->Stderr();
  EXPECT_THAT(log, HasSubstr("outputs_added=added outputs_changed=hook "
                             "outputs_removed=gone"));
  EXPECT_THAT(log, HasSubstr(R"(msg="changed settings apply at the next )"
                             R"(restart" sections=listen)"));
  EXPECT_TRUE(
      corral_->WaitForMetric("corral_config_last_reload_successful 1", kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_THAT(corral_->Stderr(), HasSubstr("msg=stopped undelivered=0"));

  // The next start goes on from there: nothing is replayed, "gone" is gone.
  corral_ = std::make_unique<CorralProcess>(dir_, /*keep=*/true);
  ASSERT_TRUE(corral_
                  ->StartWithConfig(Config(Output("hook", fixed.Url("/h")) +
                                           Output("added", added.Url("/a"))))
                  .ok())
      << corral_->Stderr();
  EXPECT_THAT(corral_->Stderr(), HasSubstr("replayed=0"));
}

TEST_F(ReloadE2eTest, ABadConfigIsRefusedAndTheRunningOneGoesOn) {
  FakeHttpServer receiver;
  ASSERT_TRUE(receiver.Start().ok());
  const std::string good = Config(Output("hook", receiver.Url("/h")));
  ASSERT_TRUE(corral_->StartWithConfig(good).ok()) << corral_->Stderr();

  // Not YAML at all; then YAML with an output that cannot be built.
  absl::StatusOr<bool> applied =
      corral_->ReloadWithConfig("outputs: [unclosed\n", kWait);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_FALSE(*applied);
  applied = corral_->ReloadWithConfig(
      Config(Output("hook", receiver.Url("/h")) +
             "  - name: broken\n    type: webhook\n    method: PATCH\n"),
      kWait);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_FALSE(*applied);
  const std::string log = corral_->Stderr();
  EXPECT_THAT(log, HasSubstr("configuration not reloaded"));
  EXPECT_THAT(log, HasSubstr("outputs[1]"));  // where the error is
  EXPECT_TRUE(
      corral_->WaitForMetric("corral_config_last_reload_successful 0", kWait));

  // The running config still delivers; a good file is then taken.
  PostMarkers("still", 2);
  ASSERT_TRUE(receiver.WaitForRequests(2, kWait));
  applied = corral_->ReloadWithConfig(Config(Output("hook", receiver.Url("/h")),
                                             "customfields: {env: staging}\n"),
                                      kWait);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_TRUE(*applied);
  PostMarkers("enriched", 1);
  ASSERT_TRUE(receiver.WaitForRequests(3, kWait));
  EXPECT_THAT(receiver.Requests().back().body, HasSubstr(R"("env":"staging")"));
  EXPECT_TRUE(
      corral_->WaitForMetric("corral_config_last_reload_successful 1", kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
}

}  // namespace
}  // namespace corral::e2e
