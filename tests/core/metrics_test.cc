#include "core/metrics.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::core {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersPrometheusTextFormat) {
  MetricsRegistry registry;
  auto* inputs = registry.AddCounter("corral_inputs_total", "Alerts received.",
                                     {"source", "status"});
  inputs->With({"http", "accepted"})->Inc(3);
  inputs->With({"http", "invalid"})->Inc();
  registry.AddGauge("corral_queue_depth", "Depth.", {"output"})
      ->With({"a\"b\\c\nd"})
      ->Set(5);
  auto* latency = registry.AddHistogram("corral_delivery_latency_seconds",
                                        "Latency.", {"output"}, {0.1, 1});
  latency->With({"hook"})->Observe(0.05);
  latency->With({"hook"})->Observe(0.5);
  latency->With({"hook"})->Observe(5);

  EXPECT_EQ(
      registry.Render(),
      "# HELP corral_inputs_total Alerts received.\n"
      "# TYPE corral_inputs_total counter\n"
      "corral_inputs_total{source=\"http\",status=\"accepted\"} 3\n"
      "corral_inputs_total{source=\"http\",status=\"invalid\"} 1\n"
      "# HELP corral_queue_depth Depth.\n"
      "# TYPE corral_queue_depth gauge\n"
      "corral_queue_depth{output=\"a\\\"b\\\\c\\nd\"} 5\n"
      "# HELP corral_delivery_latency_seconds Latency.\n"
      "# TYPE corral_delivery_latency_seconds histogram\n"
      "corral_delivery_latency_seconds_bucket{output=\"hook\",le=\"0.1\"} 1\n"
      "corral_delivery_latency_seconds_bucket{output=\"hook\",le=\"1\"} 2\n"
      "corral_delivery_latency_seconds_bucket{output=\"hook\",le=\"+Inf\"} 3\n"
      "corral_delivery_latency_seconds_sum{output=\"hook\"} 5.55\n"
      "corral_delivery_latency_seconds_count{output=\"hook\"} 3\n");
}

TEST(MetricsTest, RegisteringTwiceReturnsTheSameFamily) {
  MetricsRegistry registry;
  auto* a = registry.AddCounter("x_total", "X.", {"l"});
  auto* b = registry.AddCounter("x_total", "X.", {"l"});
  EXPECT_EQ(a, b);
  a->With({"v"})->Inc();
  EXPECT_EQ(b->With({"v"})->Value(), 1u);
  EXPECT_EQ(registry.Render().find("# HELP x_total"),
            registry.Render().rfind("# HELP x_total"));
}

TEST(MetricsTest, CountsExactlyUnderConcurrency) {
  MetricsRegistry registry;
  Counter* c = registry.AddCounter("c_total", "C.", {})->With({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([c] {
      for (int i = 0; i < 10000; ++i) c->Inc();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c->Value(), 40000u);
  EXPECT_THAT(registry.Render(), HasSubstr("c_total 40000\n"));
}

}  // namespace
}  // namespace corral::core
