#ifndef CORRAL_INGEST_GCPAUDIT_GCPAUDIT_INGEST_H_
#define CORRAL_INGEST_GCPAUDIT_GCPAUDIT_INGEST_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/intake.h"
#include "core/metrics.h"
#include "ingest/gcpaudit/audit_message_handler.h"
#include "ingest/gcpaudit/gcpaudit_config.h"
#include "ingest/gcpaudit/pubsub_subscriber.h"

namespace corral::ingest::gcpaudit {

// One `ingest.gcpaudit` entry at work: its Pub/Sub subscription, read with
// StreamingPull, each audit entry evaluated with its rules, the alerts handed
// to the intake, and messages acked only once that is safe
// (AuditMessageHandler).
class GcpAuditIngest {
 public:
  // Loads the rules (the built-in ones when rules_files is empty) and the
  // credentials, and prepares the channel; connects nothing yet. Errors name
  // the entry (config.path) and what is wrong.
  static absl::StatusOr<std::unique_ptr<GcpAuditIngest>> Create(
      GcpAuditConfig config, core::Intake* intake, RejectedMessageSink rejected,
      core::MetricsRegistry* metrics, const std::string& default_hostname);

  void Start();
  // Stops pulling at once (PubSubSubscriber::BeginStop).
  void BeginStop();
  // Gives messages in flight until `deadline` to be spooled and acked
  // (PubSubSubscriber::Stop). Call before the intake stops, so that they are
  // acked rather than handed back.
  void Stop(absl::Time deadline);

  const GcpAuditConfig& config() const { return config_; }
  size_t rule_count() const { return rules_->rules().size(); }
  // "service account ...", "metadata server ...", or "none (emulator)".
  const std::string& credentials() const { return credentials_; }

 private:
  GcpAuditIngest(GcpAuditConfig config,
                 std::shared_ptr<const rules::RuleSet> rules);

  const GcpAuditConfig config_;
  const std::shared_ptr<const rules::RuleSet> rules_;
  std::string credentials_;
  std::unique_ptr<AuditMessageHandler> handler_;
  std::unique_ptr<PubSubSubscriber> subscriber_;
};

}  // namespace corral::ingest::gcpaudit

#endif  // CORRAL_INGEST_GCPAUDIT_GCPAUDIT_INGEST_H_
