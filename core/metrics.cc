#include "core/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace corral::core {
namespace {

void AtomicAdd(std::atomic<double>& a, double d) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  // The shortest form that reads back as the same double ("0.1", not
  // "0.10000000000000001").
  for (int precision : {15, 16, 17}) {
    std::string text = absl::StrFormat("%.*g", precision, v);
    if (std::strtod(text.c_str(), nullptr) == v) return text;
  }
  return absl::StrFormat("%.17g", v);
}

void AppendEscapedLabel(std::string* out, absl::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

// {a="x",b="y"} plus an optional extra label (histogram "le"); empty when there
// are none.
std::string Labels(const std::vector<std::string>& names,
                   const std::vector<std::string>& values,
                   absl::string_view extra_name = {},
                   absl::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, names[i], "=\"");
    AppendEscapedLabel(&out, values[i]);
    out.push_back('"');
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out.push_back(',');
    absl::StrAppend(&out, extra_name, "=\"", extra_value, "\"");
  }
  out.push_back('}');
  return out;
}

template <typename F>
void AppendHeader(std::string* out, const F& family) {
  absl::StrAppend(out, "# HELP ", family.name(), " ", family.help(), "\n",
                  "# TYPE ", family.name(), " ", family.type(), "\n");
}

template <typename F>
F* FindOrAdd(std::vector<std::unique_ptr<F>>& list,
             std::vector<std::pair<int, size_t>>& order, int kind,
             std::unique_ptr<F> family) {
  for (auto& f : list) {
    if (f->name() == family->name()) return f.get();
  }
  list.push_back(std::move(family));
  order.emplace_back(kind, list.size() - 1);
  return list.back().get();
}

}  // namespace

void Gauge::Add(double d) { AtomicAdd(value_, d); }

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) buckets_[i] = 0;
}

void Histogram::Observe(double v) {
  size_t i =
      std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

std::vector<uint64_t> Histogram::CumulativeCounts() const {
  std::vector<uint64_t> out(bounds_->size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

CounterFamily* MetricsRegistry::AddCounter(absl::string_view name,
                                           absl::string_view help,
                                           std::vector<std::string> labels) {
  absl::MutexLock lock(&mu_);
  return FindOrAdd(
      counters_, order_, 0,
      std::make_unique<CounterFamily>(std::string(name), std::string(help),
                                      "counter", std::move(labels)));
}

GaugeFamily* MetricsRegistry::AddGauge(absl::string_view name,
                                       absl::string_view help,
                                       std::vector<std::string> labels) {
  absl::MutexLock lock(&mu_);
  return FindOrAdd(
      gauges_, order_, 1,
      std::make_unique<GaugeFamily>(std::string(name), std::string(help),
                                    "gauge", std::move(labels)));
}

HistogramFamily* MetricsRegistry::AddHistogram(absl::string_view name,
                                               absl::string_view help,
                                               std::vector<std::string> labels,
                                               std::vector<double> bounds) {
  std::sort(bounds.begin(), bounds.end());
  absl::MutexLock lock(&mu_);
  return FindOrAdd(histograms_, order_, 2,
                   std::make_unique<HistogramFamily>(
                       std::string(name), std::string(help), "histogram",
                       std::move(labels), std::move(bounds)));
}

std::string MetricsRegistry::Render() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& [kind, index] : order_) {
    if (kind == 0) {
      const CounterFamily& f = *counters_[index];
      AppendHeader(&out, f);
      f.ForEach([&](const std::vector<std::string>& labels, const Counter& c) {
        absl::StrAppend(&out, f.name(), Labels(f.label_names(), labels), " ",
                        c.Value(), "\n");
      });
    } else if (kind == 1) {
      const GaugeFamily& f = *gauges_[index];
      AppendHeader(&out, f);
      f.ForEach([&](const std::vector<std::string>& labels, const Gauge& g) {
        absl::StrAppend(&out, f.name(), Labels(f.label_names(), labels), " ",
                        FormatValue(g.Value()), "\n");
      });
    } else {
      const HistogramFamily& f = *histograms_[index];
      AppendHeader(&out, f);
      f.ForEach([&](const std::vector<std::string>& labels,
                    const Histogram& h) {
        std::vector<uint64_t> counts = h.CumulativeCounts();
        for (size_t i = 0; i < f.bounds().size(); ++i) {
          absl::StrAppend(
              &out, f.name(), "_bucket",
              Labels(f.label_names(), labels, "le", FormatValue(f.bounds()[i])),
              " ", counts[i], "\n");
        }
        absl::StrAppend(&out, f.name(), "_bucket",
                        Labels(f.label_names(), labels, "le", "+Inf"), " ",
                        counts.back(), "\n");
        absl::StrAppend(&out, f.name(), "_sum", Labels(f.label_names(), labels),
                        " ", FormatValue(h.Sum()), "\n");
        absl::StrAppend(&out, f.name(), "_count",
                        Labels(f.label_names(), labels), " ", counts.back(),
                        "\n");
      });
    }
  }
  return out;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
      0.5,   1,      2.5,   5,    10,    30,   60};
  return kBuckets;
}

}  // namespace corral::core
