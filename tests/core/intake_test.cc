#include "core/intake.h"

#include "gtest/gtest.h"

namespace corral::core {
namespace {

uint64_t Inputs(MetricsRegistry& metrics, absl::string_view source,
                absl::string_view status) {
  return metrics.AddCounter("corral_inputs_total", "", {"source", "status"})
      ->With({std::string(source), std::string(status)})
      ->Value();
}

TEST(InputCountersTest, CountsTheIntakesAnswerPerInput) {
  MetricsRegistry metrics;
  InputCounters http(&metrics, "http");
  InputCounters gcpaudit(&metrics, "gcpaudit");
  http.Count(uint64_t{1});
  http.Count(uint64_t{2});
  http.Count(absl::InvalidArgumentError("no rule"));
  http.CountInvalid();
  http.Count(absl::ResourceExhaustedError("spool full"));
  gcpaudit.Count(absl::UnavailableError("shutting down"));
  EXPECT_EQ(Inputs(metrics, "http", "accepted"), 2u);
  EXPECT_EQ(Inputs(metrics, "http", "invalid"), 2u);
  EXPECT_EQ(Inputs(metrics, "http", "refused"), 1u);
  EXPECT_EQ(Inputs(metrics, "gcpaudit", "accepted"), 0u);
  EXPECT_EQ(Inputs(metrics, "gcpaudit", "refused"), 1u);
  // Both inputs count into the one family.
  const std::string text = metrics.Render();
  EXPECT_NE(
      text.find(
          "corral_inputs_total{source=\"gcpaudit\",status=\"refused\"} 1"),
      std::string::npos);
  EXPECT_NE(
      text.find("corral_inputs_total{source=\"http\",status=\"accepted\"} 2"),
      std::string::npos);
}

}  // namespace
}  // namespace corral::core
