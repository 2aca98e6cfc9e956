#ifndef CORRAL_ROUTER_ALERT_FEED_H_
#define CORRAL_ROUTER_ALERT_FEED_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/alert.h"
#include "core/metrics.h"
#include "router/output_filter.h"

namespace corral::router {

// The live tail of corral's log: every accepted alert, in seq order, fanned out
// to any number of subscribers (the gRPC streams), each with its own filter
// and its own bounded buffer. A subscriber that falls `capacity` alerts behind
// is cut off rather than slowing intake or growing without bound: it stops
// receiving, keeps what it already has, and learns that it overflowed, so
// that it can resume from the spool after its last alert — never a silent
// gap.
//
// Publish() is called on the spool's writer thread and never blocks on a
// subscriber. Thread-safe. The feed must outlive its subscriptions.
class AlertFeed {
 public:
  class Subscription;

  // What Subscription::Next() hands out.
  struct Batch {
    std::vector<core::AlertPtr> alerts;  // in seq order
    // The buffer filled up: later alerts were not kept for this subscriber.
    // Set once `alerts` holds the last of what was kept.
    bool overflowed = false;
    // The feed is closed (corral is shutting down); set with the last alerts.
    bool closed = false;
  };

  // `published_through`: the last seq accepted before the feed started (the
  // spool's at start), as if it had been published.
  explicit AlertFeed(core::MetricsRegistry* metrics,
                     uint64_t published_through = 0);
  ~AlertFeed();

  AlertFeed(const AlertFeed&) = delete;
  AlertFeed& operator=(const AlertFeed&) = delete;

  // Called when a subscription that was found empty by TryTake() (or never
  // read yet) gets an alert, overflows or closes; once per such wait. It runs
  // on the publishing thread (or the one calling Close()), so it must be quick
  // and must not call back into the feed or the subscription.
  using ReadyHook = std::function<void()>;

  // A subscriber that sees, from now on, every published alert `filter`
  // matches, holding at most `capacity` (>= 1) not yet taken. `on_ready`, if
  // given, lets a reader that cannot block (a gRPC reactor) learn when to
  // TryTake() again; it is never called once the Subscription is destroyed.
  std::unique_ptr<Subscription> Subscribe(OutputFilter filter, int64_t capacity,
                                          ReadyHook on_ready = nullptr);

  // Offers an accepted alert (with its seq) to every subscriber. Alerts must
  // come in seq order.
  void Publish(const core::AlertPtr& alert);

  // Ends every subscription (and every later one) once its buffer is taken.
  void Close();

  size_t subscribers() const;

 private:
  struct State;
  void Unsubscribe(const State* state);

  core::Gauge* subscribers_gauge_;
  core::Counter* overflows_;

  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<State>> subscribers_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t published_through_ ABSL_GUARDED_BY(mu_);
};

// One subscriber's buffer. Thread-compatible: one reader at a time.
class AlertFeed::Subscription {
 public:
  ~Subscription();  // unsubscribes

  // Waits until alerts are buffered, the buffer overflowed, the feed closed,
  // or `deadline` passed; then takes up to `max` alerts. With a `linger`,
  // once the first alert is there it waits up to that long more for `max`,
  // so that a busy stream writes in batches rather than one alert per
  // wake-up. An empty batch with neither flag set means the deadline passed.
  Batch Next(absl::Time deadline, size_t max,
             absl::Duration linger = absl::ZeroDuration());
  // Takes up to `max` alerts without waiting. When it finds nothing to hand
  // out (no alert and neither flag), the subscription's ReadyHook fires on the
  // next alert, overflow or close.
  Batch TryTake(size_t max);
  // The last seq published before this subscription started: it sees the
  // alerts after it. A reader that took nothing yet resumes (from the spool)
  // after this seq without a gap.
  uint64_t starts_after() const { return starts_after_; }

 private:
  friend class AlertFeed;
  Subscription(AlertFeed* feed, std::shared_ptr<State> state,
               uint64_t starts_after);
  // Hands out up to `max`, with the state's lock held.
  Batch Take(size_t max);

  AlertFeed* const feed_;
  const std::shared_ptr<State> state_;
  const uint64_t starts_after_;
};

}  // namespace corral::router

#endif  // CORRAL_ROUTER_ALERT_FEED_H_
