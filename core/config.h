#ifndef CORRAL_CORE_CONFIG_H_
#define CORRAL_CORE_CONFIG_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/enrichment.h"
#include "core/priority.h"

namespace corral::core {

// The effective configuration (DESIGN.md "Configuration"), after ${VAR}
// expansion, defaults and the Falcosidekick mapping. Type-specific output keys
// stay in OutputConfig::node and are read by that output's own config parser
// (outputs/<type>/<type>_config.h).

struct ServerTlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string
      client_ca_file;  // set: clients must present a certificate it signed
  bool enabled() const { return !cert_file.empty(); }
  bool operator==(const ServerTlsConfig&) const = default;
};

// How long a pinged gRPC peer has to answer (see ListenConfig).
inline constexpr absl::Duration kGrpcKeepaliveTimeout = absl::Seconds(20);

struct ListenConfig {
  std::string http = "0.0.0.0:2801";
  std::string grpc = "0.0.0.0:2803";
  ServerTlsConfig tls;
  std::string auth_token;  // empty: no authentication
  uint64_t max_body_bytes = 1 << 20;
  uint64_t max_header_bytes = 16 << 10;
  absl::Duration header_timeout =
      absl::Seconds(10);  // whole request head must arrive in this
  absl::Duration idle_timeout =
      absl::Seconds(60);  // keep-alive connection with nothing to do
  absl::Duration drain_timeout =
      absl::Seconds(15);  // SIGTERM: how long in-flight work may take
  int io_threads = 0;     // 0: one per usable core (core::UsableCpus)
  // HTTP connections open at once; one more is answered 503 and closed.
  int64_t max_connections = 10000;
  // Alerts buffered per gRPC subscriber (Subscribe, Falco sub/get) that reads
  // slower than alerts arrive; past it the subscriber's stream ends with
  // RESOURCE_EXHAUSTED and it resumes from its last seq.
  int64_t subscriber_buffer = 10000;
  // gRPC connections quiet this long are pinged; one whose peer does not
  // answer within kGrpcKeepaliveTimeout is dropped, ending its streams.
  // Zero: no pings.
  absl::Duration grpc_keepalive = absl::Minutes(1);

  bool operator==(const ListenConfig&) const = default;
};

struct SpoolConfig {
  std::string dir = "./corral-data";
  std::string fsync = "batch";  // batch | always | never
  uint64_t max_bytes = 1ULL << 30;
  absl::Duration retain = absl::Hours(1);

  bool operator==(const SpoolConfig&) const = default;
};

struct RetryConfig {
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(60);
  int64_t max_attempts = 0;                  // 0: no limit
  absl::Duration max_age = absl::Hours(24);  // 0: no limit
};

struct BatchConfig {
  int64_t max_items = 100;
  uint64_t max_bytes = 1 << 20;
  absl::Duration max_wait = absl::Seconds(1);
};

// The keys every output takes; everything else in `node` belongs to the
// output's type.
struct OutputConfig {
  std::string name;
  std::string type;
  Priority min_priority = Priority::kDebug;
  std::vector<std::string> rules;  // exact names or globs; empty: all
  std::vector<std::string> tags;   // any of; empty: all
  std::vector<std::string> sources;
  RetryConfig retry;
  int64_t concurrency = 1;
  BatchConfig batch;
  int64_t queue_size = 10000;  // alerts held in memory for this output;
                               // beyond it, it reads them from the spool
  YAML::Node node;   // the output's whole mapping, for its type-specific keys
  std::string path;  // "outputs[2]", for error messages
};

// Keys of OutputConfig read by the common parser; an output's own parser treats
// them as known.
const std::set<std::string>& CommonOutputKeys();

struct IngestHttpConfig {
  bool enabled = true;
  bool operator==(const IngestHttpConfig&) const = default;
};

struct DeadLetterConfig {
  std::string file = "./corral-data/dead-letter.jsonl";
  bool operator==(const DeadLetterConfig&) const = default;
};

struct Config {
  std::string source;  // the file it came from, or "<embedded default>"
  ListenConfig listen;
  SpoolConfig spool;
  Enrichment enrichment;  // customfields, customtags
  IngestHttpConfig ingest_http;
  YAML::Node ingest_falco_grpc;  // read by their own issues' modules
  YAML::Node ingest_gcpaudit;
  std::vector<OutputConfig> outputs;
  DeadLetterConfig dead_letter;
};

// The configuration used when corral runs without -c.
extern const char kEmbeddedDefaultConfig[];

// Reads a config file (native schema or Falcosidekick's), expands ${VAR},
// applies Falcosidekick environment variables, and validates everything but
// type-specific output keys. On failure: InvalidArgument listing every error,
// one per line, each with file:line:col and key path.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);
// The same for YAML text; `source` names it in errors.
absl::StatusOr<Config> LoadConfigText(const std::string& text,
                                      const std::string& source);

// The name LoadDefaultConfig() gives the embedded default in errors and
// Config::source.
inline constexpr char kEmbeddedDefaultSource[] = "<embedded default>";

// Looks up an environment variable: its value, or nullptr when unset. The
// loaders use getenv(); tests pass their own so that they need not change the
// process environment.
using EnvLookup = std::function<const char*(const char*)>;

// Falcosidekick's environment variables (LISTENPORT, WEBHOOK_ADDRESS,
// SLACK_WEBHOOKURL, ...; docs/configuration.md) are read through `env` and
// override the file's values, whichever schema the file uses: on a native file
// or the embedded default they change listen.http and add outputs.
// ${VAR} inside the file is still expanded from the process environment
// (getenv).
absl::StatusOr<Config> LoadConfigFileWithEnv(const std::string& path,
                                             const EnvLookup& env);
absl::StatusOr<Config> LoadConfigTextWithEnv(const std::string& text,
                                             const std::string& source,
                                             const EnvLookup& env);
// kEmbeddedDefaultConfig, with the process environment applied (what `corral`
// without -c runs).
absl::StatusOr<Config> LoadDefaultConfig();

// The effective configuration as YAML, every secret masked (tokens, keys,
// passwords, the path and query of webhook URLs), for `corral check-config`.
std::string RenderEffectiveConfig(const Config& config);

}  // namespace corral::core

#endif  // CORRAL_CORE_CONFIG_H_
