#ifndef CORRAL_INGEST_GCPAUDIT_GCPAUDIT_CONFIG_H_
#define CORRAL_INGEST_GCPAUDIT_GCPAUDIT_CONFIG_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/config.h"
#include "core/pubsub_connection.h"
#include "ingest/rules/rule_engine.h"

namespace corral::ingest::gcpaudit {

// One `ingest.gcpaudit` entry: a Pub/Sub subscription carrying Cloud Audit Log
// entries, and the rules that turn them into alerts.
struct GcpAuditConfig {
  std::string name;
  std::string subscription;  // projects/PROJECT/subscriptions/NAME
  // endpoint, tls.ca_file, credentials_file; PUBSUB_EMULATOR_HOST applied.
  core::PubSubConnection connection;
  std::vector<std::string> rules_files;  // empty: corral's built-in rules
  rules::RuleMatching rule_matching = rules::RuleMatching::kFirst;
  std::string hostname;  // the alerts' hostname; empty: this machine's
  // Flow control, sent to Pub/Sub: at most this much delivered and not yet
  // acked at once.
  int64_t max_outstanding_messages = 1000;
  uint64_t max_outstanding_bytes = 100 << 20;
  // How long Pub/Sub waits for an ack before redelivering; corral extends it
  // for messages still in flight. 10s..600s.
  absl::Duration ack_deadline = absl::Seconds(60);
  // Redeliveries of an entry (same insertId) within this window make no
  // second alert.
  absl::Duration dedup_window = absl::Minutes(10);
  // A message larger than this is dead-lettered and acked without being
  // parsed (an audit log entry is at most 256 KiB).
  uint64_t max_message_bytes = 1 << 20;
  std::string path;  // "ingest.gcpaudit[0]", for messages
};

// Reads every `ingest.gcpaudit` entry (`list` is Config::ingest_gcpaudit: a
// sequence, or null when absent). `env` supplies PUBSUB_EMULATOR_HOST: when
// set, every entry connects there in plaintext with no credentials. On failure:
// InvalidArgument listing every problem with `source`:line:col and key path.
// Does no I/O (files are opened when the ingest starts).
absl::StatusOr<std::vector<GcpAuditConfig>> ParseGcpAuditConfigs(
    const YAML::Node& list, const std::string& source,
    const core::EnvLookup& env);

}  // namespace corral::ingest::gcpaudit

#endif  // CORRAL_INGEST_GCPAUDIT_GCPAUDIT_CONFIG_H_
