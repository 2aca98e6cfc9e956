#include "ingest/gcpaudit/gcpaudit_ingest.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/log.h"
#include "core/pubsub_connection.h"
#include "ingest/rules/default_rules.h"
#include "ingest/rules/rules_loader.h"

namespace corral::ingest::gcpaudit {
namespace {

// StreamingPull responses carry many messages of up to 10 MB each; gRPC's
// default 4 MB receive limit would break the stream on the first big batch.
constexpr int kMaxReceiveBytes = 64 << 20;

absl::StatusOr<std::shared_ptr<const rules::RuleSet>> LoadEntryRules(
    const GcpAuditConfig& config) {
  rules::LoadResult loaded =
      config.rules_files.empty()
          ? rules::LoadRules({{rules::kDefaultRulesName,
                               std::string(rules::DefaultRulesText())}})
          : rules::LoadRulesFiles(config.rules_files);
  if (!loaded.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.path, ": rules do not load:\n  ",
                     absl::StrJoin(loaded.errors, "\n  ")));
  }
  for (const std::string& warning : loaded.warnings) {
    core::LogWarn("rules",
                  {{"subscription", config.name}, {"warning", warning}});
  }
  return loaded.rules;
}

}  // namespace

GcpAuditIngest::GcpAuditIngest(GcpAuditConfig config,
                               std::shared_ptr<const rules::RuleSet> rules)
    : config_(std::move(config)), rules_(std::move(rules)) {}

absl::StatusOr<std::unique_ptr<GcpAuditIngest>> GcpAuditIngest::Create(
    GcpAuditConfig config, core::Intake* intake, RejectedMessageSink rejected,
    core::MetricsRegistry* metrics, const std::string& default_hostname) {
  absl::StatusOr<std::shared_ptr<const rules::RuleSet>> rules =
      LoadEntryRules(config);
  if (!rules.ok()) return rules.status();
  std::unique_ptr<GcpAuditIngest> ingest(
      new GcpAuditIngest(std::move(config), *std::move(rules)));
  const GcpAuditConfig& c = ingest->config_;

  core::PubSubChannelOptions channel_options;
  channel_options.max_receive_bytes = kMaxReceiveBytes;
  absl::StatusOr<core::PubSubChannel> channel =
      core::MakePubSubChannel(c.connection, channel_options);
  if (!channel.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(c.path, ".", channel.status().message()));
  }
  ingest->credentials_ = channel->credentials;

  AuditMessageHandlerOptions handler;
  handler.subscription_name = c.name;
  handler.rules = ingest->rules_;
  handler.rule_matching = c.rule_matching;
  handler.hostname = c.hostname.empty() ? default_hostname : c.hostname;
  handler.dedup_window = c.dedup_window;
  handler.max_message_bytes = static_cast<size_t>(c.max_message_bytes);
  ingest->handler_ = std::make_unique<AuditMessageHandler>(
      std::move(handler), intake, std::move(rejected), metrics,
      core::Clock::Real());

  PubSubSubscriberOptions subscriber;
  subscriber.name = c.name;
  subscriber.subscription = c.subscription;
  subscriber.channel = std::move(channel->channel);
  subscriber.token_refused = std::move(channel->token_refused);
  subscriber.max_outstanding_messages = c.max_outstanding_messages;
  subscriber.max_outstanding_bytes =
      static_cast<int64_t>(c.max_outstanding_bytes);
  subscriber.ack_deadline = c.ack_deadline;
  AuditMessageHandler* h = ingest->handler_.get();
  ingest->subscriber_ = std::make_unique<PubSubSubscriber>(
      std::move(subscriber),
      [h](absl::string_view message_id, absl::string_view data,
          PubSubSubscriber::Done done) {
        h->Handle(message_id, data, std::move(done));
      },
      metrics);
  return ingest;
}

void GcpAuditIngest::Start() { subscriber_->Start(); }

void GcpAuditIngest::BeginStop() { subscriber_->BeginStop(); }

void GcpAuditIngest::Stop(absl::Time deadline) { subscriber_->Stop(deadline); }

}  // namespace corral::ingest::gcpaudit
