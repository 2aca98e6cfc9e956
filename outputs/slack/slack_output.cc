#include "outputs/slack/slack_output.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "outputs/http_classifier.h"
#include "outputs/slack/slack_payload.h"

namespace corral::outputs {
namespace {

// A slot this close to the deadline leaves no time for the request itself.
constexpr absl::Duration kMinRequestTime = absl::Milliseconds(500);
// Slack's 429 normally says how long; when it does not, its documented pace.
constexpr absl::Duration kDefault429Wait = absl::Seconds(1);
// How many posted alerts of batches the queue gave up on midway stay
// remembered (PartialDeliveries).
constexpr size_t kMaxPosted = 10000;

}  // namespace

TokenBucket::TokenBucket(double rate_per_second, int64_t burst, absl::Time now)
    : rate_(rate_per_second),
      burst_(static_cast<double>(std::max<int64_t>(burst, 1))),
      tokens_(burst_),
      last_(now) {}

void TokenBucket::Refill(absl::Time now) {
  if (now <= last_) return;
  tokens_ =
      std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * rate_);
  last_ = now;
}

TokenBucket::Slot TokenBucket::Reserve(absl::Time now, absl::Time latest) {
  Refill(now);
  absl::Time at = last_;
  if (tokens_ < 1) at += absl::Seconds((1 - tokens_) / rate_);
  at = std::max(at, now);
  if (at > latest) return {false, at};
  tokens_ -= 1;
  return {true, at};
}

int64_t TokenBucket::Available(absl::Time now) {
  Refill(now);
  if (last_ > now) return 0;
  return static_cast<int64_t>(std::floor(std::max(tokens_, 0.0)));
}

void TokenBucket::BlockUntil(absl::Time until) {
  if (until <= last_) return;
  // Time until `until` earns nothing; one message is ready then, less any
  // slots already booked.
  tokens_ = std::min(tokens_ + 1, 1.0);
  last_ = until;
}

SlackOutput::SlackOutput(SlackConfig config, int64_t max_batch_items,
                         const OutputContext& context, SleepFn sleep)
    : config_(std::move(config)),
      max_batch_items_(std::max<int64_t>(max_batch_items, 1)),
      clock_(context.clock),
      sleep_(sleep ? std::move(sleep)
                   : SleepFn([](absl::Duration d) { absl::SleepFor(d); })),
      pool_(core::HttpClientTls{}, context.user_agent),
      bucket_(config_.rate_limit_per_second, config_.rate_limit_burst,
              clock_->Now()),
      posted_(kMaxPosted) {}

SendResult SlackOutput::Post(std::string body, absl::Time deadline) {
  absl::Time now = clock_->Now();
  TokenBucket::Slot slot;
  {
    absl::MutexLock lock(&mu_);
    slot = bucket_.Reserve(now, deadline - kMinRequestTime);
  }
  if (!slot.booked) {
    return SendResult::Retry(
        absl::StrCat("slack: rate limit: next message allowed in ",
                     absl::FormatDuration(slot.at - now)),
        0, slot.at - now);
  }
  if (slot.at > now) sleep_(slot.at - now);

  now = clock_->Now();
  const absl::Duration left = deadline - now;
  if (left <= absl::ZeroDuration()) {
    return SendResult::Retry(
        "slack: deadline passed before the request was sent");
  }
  core::HttpRequest request;
  request.method = "POST";
  request.url = config_.webhook_url;
  request.timeout = std::min(config_.timeout, left);
  request.connect_timeout = std::min(config_.connect_timeout, request.timeout);
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = std::move(body);

  absl::StatusOr<core::HttpResponse> response = pool_.Acquire()->Send(request);
  now = clock_->Now();
  SendResult result = ClassifyHttp(response, now);
  if (result.delivered()) return result;
  if (result.status == 429) {
    if (result.retry_after <= absl::ZeroDuration())
      result.retry_after = kDefault429Wait;
    absl::MutexLock lock(&mu_);
    bucket_.BlockUntil(now + result.retry_after);
  }
  result.reason = absl::StrCat("slack: ", result.reason);
  return result;
}

SendResult SlackOutput::Send(std::span<const core::AlertPtr> batch,
                             absl::Time deadline) {
  std::vector<core::AlertPtr> pending = posted_.Undelivered(batch);
  bool digest = false;
  {
    absl::MutexLock lock(&mu_);
    const int64_t n = static_cast<int64_t>(pending.size());
    digest =
        config_.digest_after > 0 && n > 1 &&
        (n >= config_.digest_after || n > bucket_.Available(clock_->Now()));
  }
  auto forget_batch = [&] { posted_.Forget(batch); };

  if (digest) {
    SendResult result = Post(BuildSlackDigest(config_, pending), deadline);
    if (result.delivered()) forget_batch();
    return result;
  }
  SendResult result = SendResult::Delivered();
  for (const core::AlertPtr& alert : pending) {
    result = Post(BuildSlackMessage(config_, *alert), deadline);
    if (!result.delivered()) {
      // After a Retry the queue sends the whole batch again: the alerts
      // already posted are remembered and skipped then. A permanent failure
      // ends the batch.
      if (result.kind == SendResult::Kind::kPermanent) forget_batch();
      return result;
    }
    if (batch.size() > 1) posted_.Add(*alert);
  }
  forget_batch();
  return result;
}

std::unique_ptr<Output> CreateSlackOutput(const core::OutputConfig& common,
                                          core::ConfigMap& map,
                                          const OutputContext& context) {
  std::optional<SlackConfig> config = ParseSlackConfig(map);
  if (!config) return nullptr;
  // Digests need the queue to hand over what has piled up; without them one
  // alert per Send keeps every message a single alert.
  const int64_t max_items =
      config->digest_after > 0 ? common.batch.max_items : 1;
  return std::make_unique<SlackOutput>(std::move(*config), max_items, context);
}

}  // namespace corral::outputs
