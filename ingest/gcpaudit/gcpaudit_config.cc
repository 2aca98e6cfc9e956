#include "ingest/gcpaudit/gcpaudit_config.h"

#include "absl/strings/str_cat.h"
#include "core/config_node.h"

namespace corral::ingest::gcpaudit {
namespace {

GcpAuditConfig ParseOne(core::ConfigMap m, const core::EnvLookup& env) {
  GcpAuditConfig c;
  c.path = m.path();
  c.name = m.RequiredString("name");
  c.subscription = m.RequiredString("subscription");
  if (!c.subscription.empty() &&
      !core::IsPubSubResourceName(c.subscription, "subscriptions")) {
    m.Error("subscription",
            absl::StrCat("expected projects/PROJECT/subscriptions/NAME, got \"",
                         c.subscription, "\""));
  }
  c.connection = core::ParsePubSubConnection(m, env);
  c.rules_files = m.StringList("rules_files");
  std::string matching = m.Enum("rule_matching", "first", {"first", "all"});
  c.rule_matching = matching == "all" ? rules::RuleMatching::kAll
                                      : rules::RuleMatching::kFirst;
  c.hostname = m.String("hostname");
  c.max_outstanding_messages =
      m.Int("max_outstanding_messages", c.max_outstanding_messages, 1, 1000000);
  c.max_outstanding_bytes =
      m.Size("max_outstanding_bytes", c.max_outstanding_bytes);
  if (c.max_outstanding_bytes < (1 << 20) ||
      c.max_outstanding_bytes > (uint64_t{16} << 30)) {
    // Pub/Sub messages are up to 10 MB: a smaller budget could stall on one.
    m.Error("max_outstanding_bytes", "must be between 1MiB and 16GiB");
  }
  c.ack_deadline = m.Duration("ack_deadline", c.ack_deadline);
  if (c.ack_deadline < absl::Seconds(10) ||
      c.ack_deadline > absl::Seconds(600)) {
    m.Error("ack_deadline", "must be between 10s and 600s (Pub/Sub's limits)");
  }
  c.dedup_window = m.Duration("dedup_window", c.dedup_window);
  if (c.dedup_window < absl::ZeroDuration()) {
    m.Error("dedup_window", "must not be negative");
  }
  c.max_message_bytes = m.Size("max_message_bytes", c.max_message_bytes);
  if (c.max_message_bytes < (1 << 10) || c.max_message_bytes > (10 << 20)) {
    // Pub/Sub's own limit is 10 MB.
    m.Error("max_message_bytes", "must be between 1KiB and 10MiB");
  }
  m.RejectUnknownKeys();
  return c;
}

}  // namespace

absl::StatusOr<std::vector<GcpAuditConfig>> ParseGcpAuditConfigs(
    const YAML::Node& list, const std::string& source,
    const core::EnvLookup& env) {
  return core::ParseNamedList<GcpAuditConfig>(
      list, source, "ingest.gcpaudit", "subscriptions",
      [&env](core::ConfigMap& m) { return ParseOne(m, env); });
}

}  // namespace corral::ingest::gcpaudit
