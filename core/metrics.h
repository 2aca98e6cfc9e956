#ifndef CORRAL_CORE_METRICS_H_
#define CORRAL_CORE_METRICS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace corral::core {

// Lock-free metric cells. Look a cell up once (Family::With) and keep the
// pointer: cells live as long as the registry, and updating one is a single
// atomic operation.
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double d);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(double v);
  // Cumulative counts per upper bound, then +Inf (== count).
  std::vector<uint64_t> CumulativeCounts() const;
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]>
      buckets_;  // one per bound, plus +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// A metric family: one name, one help text, a fixed list of label names, and
// one cell per distinct list of label values. Thread-safe.
template <typename Cell>
class Family {
 public:
  Family(std::string name, std::string help, std::string type,
         std::vector<std::string> label_names, std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(std::move(type)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  // The cell for these label values (as many as label names), created on first
  // use.
  Cell* With(const std::vector<std::string>& label_values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::string& type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& bounds() const { return bounds_; }

  template <typename Fn>
  void ForEach(Fn fn) const {
    absl::MutexLock lock(&mu_);
    for (const auto& [labels, cell] : cells_) fn(labels, *cell);
  }

 private:
  const std::string name_, help_, type_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Cell>> cells_
      ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Every metric corral exports, rendered in the Prometheus text format (version
// 0.0.4). Families are registered once at start-up; registering a name twice
// returns the first family when the shape matches. Thread-safe.
class MetricsRegistry {
 public:
  CounterFamily* AddCounter(absl::string_view name, absl::string_view help,
                            std::vector<std::string> label_names);
  GaugeFamily* AddGauge(absl::string_view name, absl::string_view help,
                        std::vector<std::string> label_names);
  HistogramFamily* AddHistogram(absl::string_view name, absl::string_view help,
                                std::vector<std::string> label_names,
                                std::vector<double> bounds);

  // The text exposition: HELP and TYPE once per family, the family's samples
  // together, label values escaped, ending with a newline.
  std::string Render() const;

  static constexpr absl::string_view kContentType =
      "text/plain; version=0.0.4; charset=utf-8";

 private:
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<CounterFamily>> counters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<GaugeFamily>> gauges_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<HistogramFamily>> histograms_
      ABSL_GUARDED_BY(mu_);
  // Registration order, for a stable exposition: (kind, index).
  std::vector<std::pair<int, size_t>> order_ ABSL_GUARDED_BY(mu_);
};

// Latency buckets in seconds, from 1 ms to 60 s.
const std::vector<double>& LatencyBuckets();

template <typename Cell>
Cell* Family<Cell>::With(const std::vector<std::string>& label_values) {
  absl::MutexLock lock(&mu_);
  auto& slot = cells_[label_values];
  if (!slot) {
    if constexpr (std::is_same_v<Cell, Histogram>) {
      slot = std::make_unique<Cell>(&bounds_);
    } else {
      slot = std::make_unique<Cell>();
    }
  }
  return slot.get();
}

}  // namespace corral::core

#endif  // CORRAL_CORE_METRICS_H_
