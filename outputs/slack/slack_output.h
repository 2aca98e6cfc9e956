#ifndef CORRAL_OUTPUTS_SLACK_SLACK_OUTPUT_H_
#define CORRAL_OUTPUTS_SLACK_SLACK_OUTPUT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/http_client.h"
#include "outputs/output.h"
#include "outputs/partial_deliveries.h"
#include "outputs/registry.h"
#include "outputs/slack/slack_config.h"

namespace corral::outputs {

// A token bucket that hands out send times rather than refusals: `burst`
// messages may go at once, then one every 1/rate seconds. Reserve() books the
// next slot even when it lies in the future, so concurrent senders line up
// instead of all waking at the same instant. Not thread-safe (SlackOutput
// guards it).
class TokenBucket {
 public:
  TokenBucket(double rate_per_second, int64_t burst, absl::Time now);

  // Books one message and returns when it may be sent (>= now). When that
  // would be after `latest`, books nothing and returns the time it would have
  // been.
  struct Slot {
    bool booked = false;
    absl::Time at;
  };
  Slot Reserve(absl::Time now, absl::Time latest);
  // Whole messages that may be sent at `now` without waiting.
  int64_t Available(absl::Time now);
  // Slack said 429: nothing goes before `until`, and no burst builds up while
  // waiting (at most one message is ready at `until`).
  void BlockUntil(absl::Time until);

 private:
  void Refill(absl::Time now);

  const double rate_;
  const double burst_;
  double tokens_;    // may be negative: slots booked ahead
  absl::Time last_;  // tokens_ is as of this time
};

// `type: slack` — posts alerts to a Slack incoming webhook in Falcosidekick's
// layout (outputs/slack/slack_payload.h).
//
// Rate limit: a token bucket per webhook (rate_limit_per_second,
// rate_limit_burst). Send() waits inside for its slot, up to the deadline the
// queue gave it, instead of returning Retry: a Retry would count as a failed
// attempt in the queue (retries_total, max_attempts, backoff with jitter) when
// nothing failed, and every concurrent worker would poll. Waiting keeps the
// queue's back-pressure natural and the order of alerts intact. Only when the
// slot lies past the deadline (a drain, or a very long 429) does Send() return
// Retry with the wait as Retry-After.
//
// 429: the Retry-After (seconds; 1 s when absent) blocks the bucket, so every
// worker waits, and the result is Retry with that delay, which the queue takes
// as the floor of its backoff.
//
// Digests: with digest_after > 0 the queue hands over batches of up to
// batch.max_items. A batch of at least digest_after alerts, or one with more
// alerts than the bucket lets through right now, goes as ONE digest message
// (BuildSlackDigest) that accounts for every alert in it. Smaller batches go
// one message per alert; when one of those fails after others went through,
// the ones delivered are remembered so the queue's retry of the batch does not
// post them twice.
//
// Errors: the shared HTTP classifier (outputs/http_classifier.h); Slack's
// plain-text bodies (invalid_payload, no_service, channel_is_archived, ...)
// end up in the reason, prefixed "slack: ". Reasons never hold the URL.
// Thread-safe.
class SlackOutput : public Output {
 public:
  // Waits for a while; tests substitute one that moves a fake clock.
  using SleepFn = std::function<void(absl::Duration)>;

  SlackOutput(SlackConfig config, int64_t max_batch_items,
              const OutputContext& context, SleepFn sleep = nullptr);

  SendResult Send(std::span<const core::AlertPtr> batch,
                  absl::Time deadline) override;
  int64_t MaxBatchItems() const override { return max_batch_items_; }

 private:
  // Waits for a slot, posts `body`, classifies the answer.
  SendResult Post(std::string body, absl::Time deadline);

  const SlackConfig config_;
  const int64_t max_batch_items_;
  core::Clock* const clock_;
  const SleepFn sleep_;
  core::HttpClientPool pool_;

  absl::Mutex mu_;
  TokenBucket bucket_ ABSL_GUARDED_BY(mu_);
  // Alerts of a multi-message batch already posted, until the batch is
  // through.
  PartialDeliveries posted_;
};

// The registry's factory for `type: slack` (an OutputFactory). Records config
// errors on `map` and returns nullptr when there are any. Does no I/O.
std::unique_ptr<Output> CreateSlackOutput(const core::OutputConfig& common,
                                          core::ConfigMap& map,
                                          const OutputContext& context);

}  // namespace corral::outputs

#endif  // CORRAL_OUTPUTS_SLACK_SLACK_OUTPUT_H_
