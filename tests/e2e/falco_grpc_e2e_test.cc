// End to end: the real corral binary reading a fake Falco's gRPC output (TCP
// on loopback, and a unix socket), alerts arriving at a fake webhook receiver.
#include <signal.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/corral_process.h"
#include "tests/fakes/fake_falco_grpc.h"
#include "tests/fakes/fake_http_server.h"

namespace corral::e2e {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(20);
const absl::Time kAlertTime =
    absl::FromUnixSeconds(1783277459) + absl::Nanoseconds(430325374);

class FalcoGrpcE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/e2e_falco_grpc_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    corral_ = std::make_unique<CorralProcess>(dir_);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "corral stderr:\n" << corral_->Stderr();
    corral_.reset();  // stops corral before the fake Falco goes
  }

  // One falco_grpc entry reading `address`, one webhook output.
  std::string Config(const std::string& address,
                     absl::string_view entry_extra = "") const {
    return absl::StrCat(
        "listen:\n  http: 127.0.0.1:0\n  grpc: 127.0.0.1:0\n"
        "spool:\n  dir: ./data\n"
        "ingest:\n"
        "  falco_grpc:\n"
        "    - name: node-a\n"
        "      address: \"",
        address,
        "\"\n"
        "      poll_interval: 20ms\n",
        entry_extra,
        "outputs:\n"
        "  - name: hook\n"
        "    type: webhook\n"
        "    url: ",
        receiver_.Url("/alerts"),
        "\n"
        "    retry: {initial_backoff: 50ms, max_backoff: 200ms}\n");
  }

  void Push(const std::string& rule, falco::schema::priority priority) {
    falco_.Push(fakes::MakeFalcoResponse(
        rule, priority, kAlertTime,
        {{"proc.name", "bash"}, {"proc.pid", "4242"}}));
  }

  // rule → priority of every alert the receiver got; `count` how often each
  // rule came.
  std::map<std::string, std::string> Received(
      std::map<std::string, int>* count = nullptr) const {
    std::map<std::string, std::string> out;
    for (const fakes::RecordedRequest& r : receiver_.Requests()) {
      boost::json::object a = boost::json::parse(r.body).as_object();
      const std::string rule(a.at("rule").as_string());
      out[rule] = std::string(a.at("priority").as_string());
      if (count != nullptr) ++(*count)[rule];
    }
    return out;
  }

  fakes::FakeHttpServer receiver_;
  fakes::FakeFalcoGrpc falco_;
  std::string dir_;
  std::unique_ptr<CorralProcess> corral_;
};

TEST_F(FalcoGrpcE2eTest, AlertsReachTheWebhookAndSurviveFalcoRestarting) {
  ASSERT_TRUE(falco_.Start().ok());
  const std::map<falco::schema::priority, std::string> names = {
      {falco::schema::EMERGENCY, "Emergency"},
      {falco::schema::ALERT, "Alert"},
      {falco::schema::CRITICAL, "Critical"},
      {falco::schema::ERROR, "Error"},
      {falco::schema::WARNING, "Warning"},
      {falco::schema::NOTICE, "Notice"},
      {falco::schema::INFORMATIONAL, "Informational"},
      {falco::schema::DEBUG, "Debug"}};
  std::map<std::string, std::string> want;
  for (const auto& [priority, name] : names) {
    const std::string rule = absl::StrCat("rule at ", name);
    Push(rule, priority);
    want[rule] = name;
  }
  ASSERT_TRUE(
      corral_
          ->StartWithConfig(Config(falco_.address(), "      plaintext: true\n"))
          .ok())
      << corral_->Stderr();
  EXPECT_THAT(corral_->Stderr(),
              HasSubstr("msg=\"reading Falco's gRPC output\" "
                        "connection=node-a address=" +
                        falco_.address() + " security=plaintext"));
  ASSERT_TRUE(receiver_.WaitForRequests(names.size(), kWait));
  EXPECT_EQ(Received(), want);
  // The alert as Falco sent it.
  boost::json::object first =
      boost::json::parse(receiver_.Requests()[0].body).as_object();
  EXPECT_EQ(first.at("time").as_string(), "2026-07-05T18:50:59.430325374Z");
  EXPECT_EQ(first.at("hostname").as_string(), "falco-node");
  EXPECT_EQ(first.at("source").as_string(), "syscall");
  EXPECT_EQ(boost::json::serialize(first.at("output_fields")),
            R"({"proc.name":"bash","proc.pid":"4242"})");
  EXPECT_TRUE(corral_->WaitForMetric(
      "corral_falco_grpc_connected{connection=\"node-a\"} 1", kWait));

  // Falco restarts: corral reconnects; what is queued meanwhile and later
  // arrives once.
  const int port = falco_.port();
  falco_.Stop();
  ASSERT_TRUE(corral_->WaitForMetric(
      "corral_falco_grpc_connected{connection=\"node-a\"} 0", kWait));
  Push("while down", falco::schema::CRITICAL);
  ASSERT_TRUE(falco_.Start(port).ok());
  Push("after restart", falco::schema::NOTICE);
  want["while down"] = "Critical";
  want["after restart"] = "Notice";
  ASSERT_TRUE(receiver_.WaitForRequests(want.size(), kWait));
  EXPECT_TRUE(corral_->WaitForMetric(
      "corral_falco_grpc_accepted_total{connection=\"node-a\"} 10", kWait));
  std::map<std::string, int> count;
  EXPECT_EQ(Received(&count), want);
  for (const auto& [rule, n] : count) EXPECT_EQ(n, 1) << rule;
  EXPECT_EQ(receiver_.RequestCount(), want.size());
  const std::string metrics = corral_->Metrics();
  EXPECT_THAT(metrics, HasSubstr("corral_falco_grpc_received_total{"
                                 "connection=\"node-a\"} 10"));
  EXPECT_THAT(metrics,
              ::testing::ContainsRegex(
                  "corral_falco_grpc_reconnects_total\\{connection=\"node-a\""
                  "\\} [1-9]"));
  EXPECT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
  // Stopping half-closed the stream: Falco saw it end.
  EXPECT_TRUE(
      falco_.WaitFor([&] { return falco_.OpenSubStreams() == 0; }, kWait));
  EXPECT_TRUE(corral_->DeadLetters().empty());
}

TEST_F(FalcoGrpcE2eTest, ReadsFalcosUnixSocket) {
  const std::string socket = dir_ + "/falco.sock";
  ASSERT_TRUE(falco_.StartUnix(socket).ok());
  Push("Terminal shell in container", falco::schema::NOTICE);
  ASSERT_TRUE(corral_->StartWithConfig(Config("unix://" + socket)).ok())
      << corral_->Stderr();
  EXPECT_THAT(corral_->Stderr(), HasSubstr("security=\"unix socket\""));
  ASSERT_TRUE(receiver_.WaitForRequests(1, kWait));
  Push("Write below etc", falco::schema::ERROR);
  ASSERT_TRUE(receiver_.WaitForRequests(2, kWait));
  EXPECT_EQ(Received(), (std::map<std::string, std::string>{
                            {"Terminal shell in container", "Notice"},
                            {"Write below etc", "Error"}}));

  falco_.Stop();
  ASSERT_TRUE(corral_->WaitForMetric(
      "corral_falco_grpc_connected{connection=\"node-a\"} 0", kWait));
  ASSERT_TRUE(falco_.StartUnix(socket).ok());
  Push("Read sensitive file", falco::schema::WARNING);
  ASSERT_TRUE(receiver_.WaitForRequests(3, kWait));
  std::map<std::string, int> count;
  EXPECT_EQ(Received(&count)["Read sensitive file"], "Warning");
  for (const auto& [rule, n] : count) EXPECT_EQ(n, 1) << rule;
  EXPECT_EQ(corral_->Stop(SIGTERM, kWait).value_or(-1), 0);
}

TEST_F(FalcoGrpcE2eTest, CheckConfigRefusesTcpWithoutTlsAndUnreadableCerts) {
  std::ofstream(dir_ + "/corral.yaml") << Config("127.0.0.1:5060");
  ASSERT_TRUE(
      corral_->Start({"check-config", "-c", dir_ + "/corral.yaml"}).ok());
  EXPECT_EQ(corral_->Wait(kWait).value_or(-1), 1);
  EXPECT_THAT(corral_->Stdout(),
              HasSubstr("ingest.falco_grpc[0].address: a TCP address needs "
                        "tls"));

  std::ofstream(dir_ + "/corral.yaml")
      << Config("127.0.0.1:5060", absl::StrCat("      tls: {ca_file: ", dir_,
                                               "/missing-ca.pem}\n"));
  CorralProcess check(dir_ + "-check");
  ASSERT_TRUE(check.Start({"check-config", "-c", dir_ + "/corral.yaml"}).ok());
  EXPECT_EQ(check.Wait(kWait).value_or(-1), 1);
  EXPECT_THAT(check.Stdout(),
              HasSubstr("ingest.falco_grpc[0].tls.ca_file: cannot read " +
                        dir_ + "/missing-ca.pem"));
}

}  // namespace
}  // namespace corral::e2e
