#include "ingest/http/http_alert_ingest.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/recording_intake.h"

namespace corral::ingest {
namespace {

using ::testing::HasSubstr;

struct Reply {
  int status = 0;
  std::string body;
};

class HttpAlertIngestTest : public ::testing::Test {
 protected:
  Reply Post(absl::string_view body) {
    Reply r;
    ingest_.Post(body, [&](int status, std::string text) {
      r = {status, std::move(text)};
    });
    return r;
  }

  fakes::RecordingIntake intake_;
  core::MetricsRegistry metrics_;
  HttpAlertIngest ingest_{&intake_, &metrics_, "test-host"};
};

constexpr char kAlert[] =
    R"({"rule":"R","priority":"Warning","time":"2026-11-02T10:15:31Z","output":"o","output_fields":{"a":1}})";

TEST_F(HttpAlertIngestTest, AcceptsAValidAlert) {
  Reply r = Post(kAlert);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"seq\":41}\n");
  ASSERT_EQ(intake_.submitted.size(), 1u);
  EXPECT_EQ(intake_.submitted[0].rule, "R");
  EXPECT_THAT(
      metrics_.Render(),
      HasSubstr(
          "corral_inputs_total{source=\"http\",status=\"accepted\"} 1\n"));
}

TEST_F(HttpAlertIngestTest, RefusesAnInvalidAlertWith400AndNeverSubmitsIt) {
  Reply r = Post(
      R"({"priority":"Warning","time":"2026-11-02T10:15:31Z","output_fields":{"a":1}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "invalid alert: missing rule\n");
  EXPECT_TRUE(intake_.submitted.empty());
  EXPECT_THAT(
      metrics_.Render(),
      HasSubstr("corral_inputs_total{source=\"http\",status=\"invalid\"} 1\n"));
}

TEST_F(HttpAlertIngestTest, IntakeRefusalsBecome503) {
  intake_.answer =
      absl::ResourceExhaustedError("spool full (max_bytes 1048576)");
  Reply full = Post(kAlert);
  EXPECT_EQ(full.status, 503);
  EXPECT_THAT(full.body, HasSubstr("spool full"));
  intake_.answer = absl::UnavailableError("corral is shutting down");
  EXPECT_EQ(Post(kAlert).status, 503);
  EXPECT_THAT(
      metrics_.Render(),
      HasSubstr("corral_inputs_total{source=\"http\",status=\"refused\"} 2\n"));
}

TEST_F(HttpAlertIngestTest, TestAlertLooksLikeFalcosidekicks) {
  Reply r;
  ingest_.PostTest([&](int status, std::string body) {
    r = {status, std::move(body)};
  });
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(intake_.submitted.size(), 1u);
  const core::Alert& a = intake_.submitted[0];
  EXPECT_EQ(a.rule, "Test rule");
  EXPECT_EQ(a.priority, core::Priority::kDebug);
  EXPECT_EQ(a.source, "internal");
  EXPECT_EQ(a.hostname, "test-host");
  EXPECT_NE(a.output_fields_json, "{}");
}

}  // namespace
}  // namespace corral::ingest
