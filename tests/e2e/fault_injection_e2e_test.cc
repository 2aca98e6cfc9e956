// End to end: the real corral binary on loopback while its destinations,
// their certificates, name resolution, its disk and its own process fail.
// Every test ends with the same account: each alert that got a 200 reached
// the destination at least once or is in the dead-letter file with a reason.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/e2e/e2e_alerts.h"
#include "tests/fakes/fake_http_server.h"
#include "tests/fakes/test_certs.h"

namespace corral::e2e {
namespace {

using fakes::FakeHttpServer;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr absl::Duration kWait = absl::Seconds(15);
constexpr char kFastRetry[] = "{initial_backoff: 50ms, max_backoff: 200ms}";
// A name that never resolves (RFC 6761), with the resolver told to give up
// after one try of one second, so that no test waits on DNS.
constexpr char kUnresolvable[] = "corral-e2e-no-such-host.invalid";
const std::map<std::string, std::string> kQuickResolver = {
    {"RES_OPTIONS", "timeout:1 attempts:1"}};

// One webhook output; `extra` is more YAML lines for it.
std::string Webhook(absl::string_view name, absl::string_view url,
                    absl::string_view retry = kFastRetry,
                    absl::string_view extra = "") {
  return absl::StrCat("  - name: ", name, "\n    type: webhook\n    url: ", url,
                      "\n    retry: ", retry, "\n", extra);
}

// Ephemeral ports, the spool in ./data, and `outputs`; `listen_extra` is more
// YAML lines for the listen block.
std::string Config(absl::string_view outputs,
                   absl::string_view listen_extra = "") {
  return absl::StrCat("listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n",
                      listen_extra, "spool:\n  dir: ./data\noutputs:\n",
                      outputs);
}

// The first few of a set, for failure messages.
std::string Some(const std::set<std::string>& markers) {
  std::vector<std::string> some(
      markers.begin(),
      std::next(markers.begin(), std::min<size_t>(markers.size(), 5)));
  return absl::StrCat(markers.size(), " e.g. ", absl::StrJoin(some, ","));
}

class FaultInjectionE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/faults_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure() && corral_) {
      std::cerr << "corral stderr:\n" << corral_->Stderr();
    }
  }

  // Waits (bounded) until every accepted alert has reached `receiver` or the
  // dead-letter file; returns those that did neither.
  std::set<std::string> WaitUntilNoneLost(const std::set<std::string>& accepted,
                                          const FakeHttpServer& receiver) {
    const absl::Time deadline = absl::Now() + kWait;
    std::set<std::string> lost = accepted;
    while (true) {
      lost = Lost(accepted, Markers(receiver.Requests()),
                  Markers(corral_->DeadLetters()));
      if (lost.empty() || absl::Now() >= deadline) return lost;
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // Alerts lost = 0: every accepted alert reached `receiver` or the
  // dead-letter file, and `output` has nothing left to do (the receiver
  // records a request whose answer may never reach corral; such an alert is
  // sent again, so only an empty queue means corral is done with it).
  void ExpectNoneLost(const std::set<std::string>& accepted,
                      const FakeHttpServer& receiver,
                      absl::string_view output = "hook") {
    const std::set<std::string> lost = WaitUntilNoneLost(accepted, receiver);
    EXPECT_THAT(lost, IsEmpty()) << "lost " << Some(lost);
    EXPECT_TRUE(corral_->WaitForMetric(
        absl::StrCat("corral_queue_depth{output=\"", output, "\"} 0\n"),
        kWait));
  }

  // Replaces corral with a new process on the same directory (spool kept).
  void Restart(const std::string& config,
               const std::map<std::string, std::string>& env = {}) {
    corral_ = std::make_unique<CorralProcess>(dir_, /*keep=*/true);
    ASSERT_TRUE(corral_->StartWithConfig(config, env).ok())
        << corral_->Stderr();
  }

  int Retries(absl::string_view output) const {
    return static_cast<int>(
        corral_
            ->MetricValue(
                absl::StrCat("corral_retries_total{output=\"", output, "\"}"))
            .value_or(0));
  }

  FakeHttpServer receiver_;
  std::string dir_;
  std::unique_ptr<CorralProcess> corral_;
};

TEST_F(FaultInjectionE2eTest, AFlappingDestinationUnderLoadLosesNothing) {
  const int port = receiver_.port();
  ASSERT_TRUE(
      corral_->StartWithConfig(Config(Webhook("hook", receiver_.Url("/a"))))
          .ok())
      << corral_->Stderr();
  LoadSenders load(*corral_, "flap");
  for (int flap = 1; flap <= 4; ++flap) {
    SCOPED_TRACE(absl::StrCat("flap ", flap));
    // Up: alerts arrive. Down: deliveries fail and are retried; intake goes
    // on.
    ASSERT_TRUE(load.WaitForCount(200, 25 * flap, kWait));
    const int retries = Retries("hook");
    const int accepted = load.Count(200);
    receiver_.Stop();
    ASSERT_TRUE(corral_->WaitForMetricAtLeast(
        "corral_retries_total{output=\"hook\"}", retries + 1, kWait));
    ASSERT_TRUE(load.WaitForCount(200, accepted + 10, kWait));
    ASSERT_TRUE(receiver_.Start(port).ok());
  }
  load.Stop();
  const std::set<std::string> accepted = load.Accepted();
  RecordProperty("accepted", static_cast<int>(accepted.size()));
  ExpectNoneLost(accepted, receiver_);
  EXPECT_EQ(load.Count(0), 0);  // corral answered every request
  EXPECT_EQ(load.Count(503), 0);
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_THAT(corral_->DeadLetters(), IsEmpty());
}

TEST_F(FaultInjectionE2eTest,
       ASlowDestinationTimesOutIsRetriedAndDoesNotHoldBackAHealthyOne) {
  FakeHttpServer healthy;
  ASSERT_TRUE(healthy.Start().ok());
  // Answers after 2s; the output gives up on a request after 300ms.
  receiver_.SetDefault({.delay = absl::Seconds(2)});
  ASSERT_TRUE(
      corral_
          ->StartWithConfig(Config(Webhook("slow", receiver_.Url("/slow"),
                                           kFastRetry, "    timeout: 300ms\n") +
                                   Webhook("healthy", healthy.Url("/ok"))))
          .ok())
      << corral_->Stderr();
  core::HttpClient client(core::HttpClientTls{}, "corral-e2e");
  std::set<std::string> accepted;
  for (int i = 0; i < 10; ++i) {
    const std::string marker = absl::StrCat("s", i);
    ASSERT_EQ(PostAlert(client, *corral_, MarkerAlertJson(marker)), 200);
    accepted.insert(marker);
  }
  // The healthy output delivers everything while the slow one is stuck on
  // its first alert.
  ASSERT_TRUE(healthy.WaitForRequests(accepted.size(), kWait));
  EXPECT_EQ(Markers(healthy.Requests()), accepted);
  ASSERT_TRUE(corral_->WaitForMetricAtLeast(
      "corral_retries_total{output=\"slow\"}", 2, kWait));
  EXPECT_EQ(corral_->MetricValue(
                "corral_outputs_total{output=\"slow\",status=\"delivered\"}"),
            0);
  EXPECT_THAT(corral_->Stderr(), HasSubstr("timed out"));

  // The destination speeds up: every alert arrives, none is given up.
  receiver_.SetDefault({});
  ExpectNoneLost(accepted, receiver_, "slow");
  EXPECT_EQ(corral_->MetricValue(
                "corral_outputs_total{output=\"slow\",status=\"delivered\"}"),
            accepted.size());
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_THAT(corral_->DeadLetters(), IsEmpty());
}

TEST_F(FaultInjectionE2eTest,
       AnUntrustedCertificateIsRetriedThenDeadLetteredNamingTheProblem) {
  // The destination's certificate comes from one CA; "untrusting" trusts
  // another, "trusting" the right one (so the destination itself works).
  const std::string certs_dir = dir_ + "-certs";
  std::filesystem::create_directories(certs_dir + "/a");
  std::filesystem::create_directories(certs_dir + "/b");
  absl::StatusOr<fakes::TestCerts> real =
      fakes::GenerateTestCerts(certs_dir + "/a");
  absl::StatusOr<fakes::TestCerts> other =
      fakes::GenerateTestCerts(certs_dir + "/b");
  ASSERT_TRUE(real.ok()) << real.status();
  ASSERT_TRUE(other.ok()) << other.status();
  FakeHttpServer tls_receiver(
      {.cert_file = real->server_cert, .key_file = real->server_key});
  ASSERT_TRUE(tls_receiver.Start().ok());
  const std::string url = tls_receiver.Url("/alerts");
  ASSERT_TRUE(absl::StartsWith(url, "https://"));
  ASSERT_TRUE(
      corral_
          ->StartWithConfig(Config(
              Webhook(
                  "untrusting", url,
                  "{initial_backoff: 50ms, max_backoff: 200ms, "
                  "max_attempts: 3}",
                  absl::StrCat("    tls: {ca_file: ", other->ca_cert, "}\n")) +
              Webhook(
                  "trusting", url, kFastRetry,
                  absl::StrCat("    tls: {ca_file: ", real->ca_cert, "}\n"))))
          .ok())
      << corral_->Stderr();
  core::HttpClient client(core::HttpClientTls{}, "corral-e2e");
  ASSERT_EQ(PostAlert(client, *corral_, MarkerAlertJson("untrusted")), 200);

  std::vector<boost::json::object> dead = corral_->WaitForDeadLetters(kWait);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].at("output").as_string(), "untrusting");
  EXPECT_EQ(dead[0].at("attempts").as_int64(), 3);
  EXPECT_THAT(std::string(dead[0].at("reason").as_string()),
              HasSubstr("certificate"));
  EXPECT_EQ(Markers(dead), std::set<std::string>{"untrusted"});
  // Nothing went over the unverified connection; the trusting output got it.
  ASSERT_TRUE(tls_receiver.WaitForRequests(1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(tls_receiver.RequestCount(), 1u);
  EXPECT_EQ(Markers(tls_receiver.Requests()),
            std::set<std::string>{"untrusted"});
  EXPECT_THAT(corral_->Stderr(), HasSubstr("delivery failed, will retry"));
}

TEST_F(FaultInjectionE2eTest,
       AnUnresolvableHostIsRetriedUntilFixedOrDeadLetteredNamingIt) {
  const std::string unresolvable =
      absl::StrCat("http://", kUnresolvable, ":", receiver_.port(), "/alerts");
  // "hook" retries without limit; "bounded" gives up after two attempts.
  const std::string bounded =
      Webhook("bounded", unresolvable,
              "{initial_backoff: 50ms, max_backoff: 200ms, max_attempts: 2}");
  const std::string listen = "  drain_timeout: 300ms\n";
  ASSERT_TRUE(corral_
                  ->StartWithConfig(
                      Config(Webhook("hook", unresolvable) + bounded, listen),
                      kQuickResolver)
                  .ok())
      << corral_->Stderr();
  core::HttpClient client(core::HttpClientTls{}, "corral-e2e");
  ASSERT_EQ(PostAlert(client, *corral_, MarkerAlertJson("unresolved")), 200);

  std::vector<boost::json::object> dead = corral_->WaitForDeadLetters(kWait);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].at("output").as_string(), "bounded");
  EXPECT_EQ(dead[0].at("attempts").as_int64(), 2);
  EXPECT_THAT(std::string(dead[0].at("reason").as_string()),
              HasSubstr(absl::StrCat("resolve host: ", kUnresolvable)));
  ASSERT_TRUE(corral_->WaitForMetricAtLeast(
      "corral_retries_total{output=\"hook\"}", 2, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_THAT(corral_->Stderr(),
              HasSubstr("stopped before every alert was delivered"));

  // The name is fixed in the config: the alert kept in the spool arrives.
  ASSERT_NO_FATAL_FAILURE(Restart(
      Config(Webhook("hook", receiver_.Url("/alerts")) + bounded, listen),
      kQuickResolver));
  EXPECT_THAT(corral_->Stderr(), HasSubstr("replayed=1"));
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  EXPECT_EQ(Markers(receiver_.Requests()), std::set<std::string>{"unresolved"});
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_EQ(corral_->DeadLetters().size(), 1u);
}

TEST_F(FaultInjectionE2eTest,
       AFullDiskRefusesWith503AndIntakeResumesByItselfOnceItFrees) {
  // The spool's directory sits on a "disk" that fills while `full` exists.
  const std::string data = std::filesystem::weakly_canonical(dir_ + "/data");
  std::filesystem::create_directories(data);
  const std::string full = dir_ + "-disk-full";
  std::filesystem::remove(full);
  ASSERT_TRUE(
      corral_
          ->StartWithConfig(Config(Webhook("hook", receiver_.Url("/a"))),
                            {{"LD_PRELOAD", CORRAL_ENOSPC_PRELOAD},
                             {"CORRAL_FAULT_DIR", data + "/"},
                             {"CORRAL_FAULT_SWITCH", full}})
          .ok())
      << corral_->Stderr();
  LoadSenders load(*corral_, "disk");
  ASSERT_TRUE(load.WaitForCount(200, 20, kWait));

  std::ofstream(full).put('x');
  ASSERT_TRUE(load.WaitForCount(503, 1, kWait));
  EXPECT_THAT(load.LastBody(503), HasSubstr("disk refused"));
  // Still full a second later: the spool tried the disk again and was
  // refused again.
  const absl::Time deadline = absl::Now() + kWait;
  auto write_failures = [&] {
    const std::string err = corral_->Stderr();
    int n = 0;
    for (size_t at = err.find("spool: write failed"); at != std::string::npos;
         at = err.find("spool: write failed", at + 1)) {
      ++n;
    }
    return n;
  };
  while (write_failures() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_GE(write_failures(), 2);
  EXPECT_THAT(corral_->Stderr(), HasSubstr("No space left on device"));

  std::filesystem::remove(full);
  const int accepted_before = load.Count(200);
  ASSERT_TRUE(load.WaitForCount(200, accepted_before + 20, kWait))
      << "intake did not resume once the disk freed";
  load.Stop();
  EXPECT_GT(load.Count(503), 0);
  EXPECT_EQ(load.Count(0), 0);
  const std::set<std::string> accepted = load.Accepted();
  RecordProperty("accepted", static_cast<int>(accepted.size()));
  RecordProperty("refused", load.Count(503));
  ExpectNoneLost(accepted, receiver_);
  EXPECT_TRUE(corral_->WaitForMetricAtLeast(
      "corral_spool_refused_total{reason=\"disk\"}", 1, kWait));
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_THAT(corral_->DeadLetters(), IsEmpty());
}

TEST_F(FaultInjectionE2eTest, SigtermUnderLoadDeliversEverythingAccepted) {
  // Deliveries trail intake a little, so that a backlog is there to drain.
  receiver_.SetDefault({.delay = absl::Milliseconds(10)});
  ASSERT_TRUE(corral_
                  ->StartWithConfig(Config(Webhook("hook", receiver_.Url("/a")),
                                           "  drain_timeout: 10s\n"))
                  .ok())
      << corral_->Stderr();
  LoadSenders load(*corral_, "term");
  ASSERT_TRUE(load.WaitForCount(200, 150, kWait));
  RecordProperty("backlog_at_sigterm",
                 load.Count(200) - static_cast<int>(receiver_.RequestCount()));
  corral_->Signal(SIGTERM);
  absl::StatusOr<int> code = corral_->Wait(kWait);
  load.Stop();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_THAT(corral_->Stderr(), HasSubstr("msg=stopped undelivered=0"));
  // Senders were refused (503, then no listener), never accepted and dropped:
  // everything that got a 200 arrived before corral exited.
  EXPECT_GT(load.Count(503) + load.Count(0), 0);
  const std::set<std::string> accepted = load.Accepted();
  RecordProperty("accepted", static_cast<int>(accepted.size()));
  const std::set<std::string> lost =
      Lost(accepted, Markers(receiver_.Requests()));
  EXPECT_THAT(lost, IsEmpty()) << "lost " << Some(lost);
  EXPECT_THAT(corral_->DeadLetters(), IsEmpty());
}

TEST_F(FaultInjectionE2eTest,
       SigtermUnderLoadWithAShortDrainDeliversTheRestAfterARestart) {
  // Deliveries are slower than intake, and the drain is too short for the
  // backlog.
  receiver_.SetDefault({.delay = absl::Milliseconds(50)});
  const std::string config =
      Config(Webhook("hook", receiver_.Url("/a")), "  drain_timeout: 200ms\n");
  ASSERT_TRUE(corral_->StartWithConfig(config).ok()) << corral_->Stderr();
  LoadSenders load(*corral_, "short");
  ASSERT_TRUE(load.WaitForCount(200, 100, kWait));
  corral_->Signal(SIGTERM);
  absl::StatusOr<int> code = corral_->Wait(kWait);
  load.Stop();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_THAT(corral_->Stderr(),
              HasSubstr("stopped before every alert was delivered"));
  const std::set<std::string> accepted = load.Accepted();
  RecordProperty("accepted", static_cast<int>(accepted.size()));
  EXPECT_FALSE(Lost(accepted, Markers(receiver_.Requests())).empty());

  receiver_.SetDefault({});
  ASSERT_NO_FATAL_FAILURE(Restart(config));
  ExpectNoneLost(accepted, receiver_);
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_THAT(corral_->DeadLetters(), IsEmpty());
}

TEST_F(FaultInjectionE2eTest, SigkillWhileDeliveringUnderLoadLosesNothing) {
  // Unlike a kill while the destination is down, deliveries and progress
  // records are in flight at the kill.
  receiver_.SetDefault({.delay = absl::Milliseconds(5)});
  const std::string config = Config(Webhook("hook", receiver_.Url("/a")));
  std::set<std::string> accepted;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    if (round > 0) {
      ASSERT_NO_FATAL_FAILURE(Restart(config));
    } else {
      ASSERT_TRUE(corral_->StartWithConfig(config).ok()) << corral_->Stderr();
    }
    LoadSenders load(*corral_, absl::StrCat("kill", round, "-"));
    ASSERT_TRUE(load.WaitForCount(200, 60, kWait));
    // Some delivered, some not yet: progress was being recorded.
    ASSERT_TRUE(
        receiver_.WaitForRequests(receiver_.RequestCount() + 10, kWait));
    EXPECT_EQ(corral_->Stop(SIGKILL, kWait).value_or(0), -SIGKILL);
    load.Stop();
    const std::set<std::string> now = load.Accepted();
    accepted.insert(now.begin(), now.end());
  }
  RecordProperty("accepted", static_cast<int>(accepted.size()));
  ASSERT_NO_FATAL_FAILURE(Restart(config));
  receiver_.SetDefault({});
  ExpectNoneLost(accepted, receiver_);
  ASSERT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  EXPECT_THAT(corral_->DeadLetters(), IsEmpty());
}

}  // namespace
}  // namespace corral::e2e
