#include "router/alert_feed.h"

#include <algorithm>

namespace corral::router {

struct AlertFeed::State {
  State(OutputFilter f, int64_t c, ReadyHook hook)
      : filter(std::move(f)), capacity(c), on_ready(std::move(hook)) {}

  const OutputFilter filter;
  const int64_t capacity;
  const ReadyHook on_ready;

  absl::Mutex mu;
  std::deque<core::AlertPtr> buffer ABSL_GUARDED_BY(mu);
  bool overflowed ABSL_GUARDED_BY(mu) = false;
  bool closed ABSL_GUARDED_BY(mu) = false;
  // The reader found nothing and waits for on_ready.
  bool armed ABSL_GUARDED_BY(mu) = true;

  bool Ready() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return !buffer.empty() || overflowed || closed;
  }
  // Whether on_ready is due now that the state changed; disarms it.
  bool TakeWakeUp() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (on_ready == nullptr || !armed) return false;
    armed = false;
    return true;
  }
};

AlertFeed::AlertFeed(core::MetricsRegistry* metrics, uint64_t published_through)
    : published_through_(published_through) {
  subscribers_gauge_ =
      metrics
          ->AddGauge("corral_grpc_subscribers",
                     "gRPC streams subscribed to alerts (Subscribe, Falco sub "
                     "and get).",
                     {})
          ->With({});
  overflows_ = metrics
                   ->AddCounter("corral_grpc_subscriber_overflows_total",
                                "Subscriber streams cut off because they read "
                                "slower than their buffer allowed.",
                                {})
                   ->With({});
}

AlertFeed::~AlertFeed() = default;

std::unique_ptr<AlertFeed::Subscription> AlertFeed::Subscribe(
    OutputFilter filter, int64_t capacity, ReadyHook on_ready) {
  auto state = std::make_shared<State>(
      std::move(filter), std::max<int64_t>(capacity, 1), std::move(on_ready));
  uint64_t starts_after;
  {
    absl::MutexLock lock(&mu_);
    starts_after = published_through_;
    if (closed_) {
      // Nobody can be waiting yet: the reader finds this on its first take.
      absl::MutexLock state_lock(&state->mu);
      state->closed = true;
    } else {
      subscribers_.push_back(state);
      subscribers_gauge_->Set(static_cast<double>(subscribers_.size()));
    }
  }
  return std::unique_ptr<Subscription>(
      new Subscription(this, state, starts_after));
}

// Hooks run with mu_ held but not the subscriber's lock: Unsubscribe() takes
// mu_, so no hook runs once a Subscription's destructor returned, and a hook
// may take locks its reader holds while it calls TryTake().
void AlertFeed::Publish(const core::AlertPtr& alert) {
  absl::MutexLock lock(&mu_);
  published_through_ = std::max(published_through_, alert->seq);
  for (const std::shared_ptr<State>& state : subscribers_) {
    if (!state->filter.Matches(*alert)) continue;
    bool wake = false;
    {
      absl::MutexLock state_lock(&state->mu);
      if (state->overflowed || state->closed) continue;
      if (static_cast<int64_t>(state->buffer.size()) >= state->capacity) {
        state->overflowed = true;
        overflows_->Inc();
      } else {
        state->buffer.push_back(alert);
      }
      wake = state->TakeWakeUp();
    }
    if (wake) state->on_ready();
  }
}

void AlertFeed::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (const std::shared_ptr<State>& state : subscribers_) {
    bool wake = false;
    {
      absl::MutexLock state_lock(&state->mu);
      state->closed = true;
      wake = state->TakeWakeUp();
    }
    if (wake) state->on_ready();
  }
}

size_t AlertFeed::subscribers() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

void AlertFeed::Unsubscribe(const State* state) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(
      std::remove_if(subscribers_.begin(), subscribers_.end(),
                     [state](const auto& s) { return s.get() == state; }),
      subscribers_.end());
  subscribers_gauge_->Set(static_cast<double>(subscribers_.size()));
}

AlertFeed::Subscription::Subscription(AlertFeed* feed,
                                      std::shared_ptr<State> state,
                                      uint64_t starts_after)
    : feed_(feed), state_(std::move(state)), starts_after_(starts_after) {}

AlertFeed::Subscription::~Subscription() { feed_->Unsubscribe(state_.get()); }

AlertFeed::Batch AlertFeed::Subscription::Next(absl::Time deadline, size_t max,
                                               absl::Duration linger) {
  State& s = *state_;
  absl::MutexLock lock(&s.mu);
  s.mu.AwaitWithDeadline(absl::Condition(&s, &State::Ready), deadline);
  if (linger > absl::ZeroDuration() && !s.buffer.empty()) {
    auto full = [&s, max]() ABSL_SHARED_LOCKS_REQUIRED(s.mu) {
      return s.buffer.size() >= max || s.overflowed || s.closed;
    };
    s.mu.AwaitWithTimeout(absl::Condition(&full), linger);
  }
  return Take(max);
}

AlertFeed::Batch AlertFeed::Subscription::TryTake(size_t max) {
  absl::MutexLock lock(&state_->mu);
  Batch batch = Take(max);
  if (batch.alerts.empty() && !batch.overflowed && !batch.closed) {
    state_->armed = true;
  }
  return batch;
}

AlertFeed::Batch AlertFeed::Subscription::Take(size_t max) {
  State& s = *state_;
  Batch batch;
  const size_t n = std::min(max, s.buffer.size());
  batch.alerts.assign(std::make_move_iterator(s.buffer.begin()),
                      std::make_move_iterator(s.buffer.begin() + n));
  s.buffer.erase(s.buffer.begin(), s.buffer.begin() + n);
  // The flags only count once everything kept before them is handed out.
  if (s.buffer.empty()) {
    batch.overflowed = s.overflowed;
    batch.closed = s.closed;
  }
  return batch;
}

}  // namespace corral::router
