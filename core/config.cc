#include "core/config.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/config_node.h"
#include "core/file_util.h"
#include "core/json_util.h"
#include "core/log.h"

namespace corral::core {

const char kEmbeddedDefaultConfig[] =
    R"yaml(# corral's built-in configuration: used when corral runs without -c.
listen:
  http: 0.0.0.0:2801
  grpc: 0.0.0.0:2803
spool:
  dir: ./corral-data
outputs:
  - name: stdout
    type: stdout
    format: json
)yaml";

const std::set<std::string>& CommonOutputKeys() {
  static const auto* const keys = new std::set<std::string>{
      "name",    "type",  "min_priority", "rules", "tags",
      "sources", "retry", "concurrency",  "batch", "queue_size"};
  return *keys;
}

namespace {

// Keys only corral's native schema has at the top level. customfields,
// templatedfields and customtags are shared with Falcosidekick and mean the
// same in both.
const std::set<std::string>& NativeOnlyKeys() {
  static const auto* const keys = new std::set<std::string>{
      "listen", "spool", "ingest", "outputs", "dead_letter"};
  return *keys;
}

// A Falcosidekick output corral does not have, with the key whose being set
// makes Falcosidekick enable it (outputs/<name>.go and handlers.go in
// Falcosidekick).
struct UnsupportedFskOutput {
  const char* section;  // dotted path
  const char* key;
};
constexpr UnsupportedFskOutput kUnsupportedFskOutputs[] = {
    {"alertmanager", "hostport"},
    {"aws.cloudwatchlogs", "loggroup"},
    {"aws.kinesis", "streamname"},
    {"aws.lambda", "functionname"},
    {"aws.securitylake", "bucket"},
    {"aws.sns", "topicarn"},
    {"aws.sqs", "url"},
    {"azure.eventhub", "name"},
    {"cliq", "webhookurl"},
    {"cloudevents", "address"},
    {"datadog", "apikey"},
    {"datadoglogs", "apikey"},
    {"discord", "webhookurl"},
    {"dogstatsd", "forwarder"},
    {"dynatrace", "apitoken"},
    {"elasticsearch", "hostport"},
    {"fission", "function"},
    {"gcp.cloudfunctions", "name"},
    {"gcp.cloudrun", "endpoint"},
    {"googlechat", "webhookurl"},
    {"gotify", "hostport"},
    {"grafana", "hostport"},
    {"grafanaoncall", "webhookurl"},
    {"influxdb", "hostport"},
    {"kafka", "hostport"},
    {"kafkarest", "address"},
    {"kubeless", "function"},
    {"logstash", "address"},
    {"loki", "hostport"},
    {"mattermost", "webhookurl"},
    {"mqtt", "broker"},
    {"n8n", "address"},
    {"nats", "hostport"},
    {"nodered", "address"},
    {"openfaas", "functionname"},
    {"openobserve", "hostport"},
    {"opsgenie", "apikey"},
    {"otlp.logs", "endpoint"},
    {"otlp.metrics", "endpoint"},
    {"otlp.traces", "endpoint"},
    {"pagerduty", "routingkey"},
    {"policyreport", "enabled"},
    {"rabbitmq", "url"},
    {"redis", "address"},
    {"rocketchat", "webhookurl"},
    {"smtp", "hostport"},
    {"splunk", "host"},
    {"spyderbat", "orguid"},
    {"stan", "hostport"},
    {"statsd", "forwarder"},
    {"sumologic", "receiverurl"},
    {"talon", "address"},
    {"teams", "webhookurl"},
    {"tekton", "eventlistener"},
    {"telegram", "token"},
    {"timescaledb", "host"},
    {"wavefront", "endpointhost"},
    {"webex", "webhookurl"},
    {"webui", "url"},
    {"yandex.datastreams", "streamname"},
    {"yandex.s3", "bucket"},
    {"zincsearch", "hostport"},
};

// Falcosidekick top-level keys corral understands (maps or ignores), besides
// the output sections above and the shared customfields, templatedfields and
// customtags.
const std::set<std::string>& FskTopKeys() {
  static const auto* const keys = [] {
    auto* k = new std::set<std::string>{"listenaddress",
                                        "listenport",
                                        "debug",
                                        "mutualtlsfilespath",
                                        "mutualtlsclient",
                                        "tlsclient",
                                        "tlsserver",
                                        "webhook",
                                        "slack",
                                        "gcp",
                                        "aws",
                                        "prometheus",
                                        "bracketreplacer",
                                        "outputfieldformat"};
    for (const auto& u : kUnsupportedFskOutputs) {
      k->insert(std::string(absl::string_view(u.section).substr(
          0, absl::string_view(u.section).find('.'))));
    }
    return k;
  }();
  return *keys;
}

// Falcosidekick maps whose keys are user data (kept as written, not
// lower-cased).
bool IsFskUserMap(absl::string_view key) {
  return key == "customfields" || key == "customheaders" ||
         key == "customattributes" || key == "templatedfields" ||
         key == "extralabels" || key == "extraannotations" ||
         key == "customseveritymap" || key == "extensions" ||
         key == "extraenvvars";
}

// So that ExpandEnv(EscapeDollars(s)) == s: for values that must not be
// expanded again.
std::string EscapeDollars(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    out.push_back(s[i]);
    if (s[i] == '$' && i + 1 < s.size() &&
        (s[i + 1] == '{' || s[i + 1] == '$')) {
      out.push_back('$');
    }
  }
  return out;
}

YAML::Node NewScalar(absl::string_view value) {
  return YAML::Node(EscapeDollars(value));
}

std::string Position(const std::string& file, const YAML::Node& at) {
  if (at.IsDefined() && at.Mark().line >= 0) {
    return absl::StrCat(file, ":", at.Mark().line + 1, ":",
                        at.Mark().column + 1);
  }
  return file;
}

std::string JoinPath(absl::string_view dir, absl::string_view file) {
  if (dir.empty()) return std::string(file);
  if (absl::EndsWith(dir, "/")) return absl::StrCat(dir, file);
  return absl::StrCat(dir, "/", file);
}

// ---------------------------------------------------------------------------------------------
// host:port

bool IsHostname(absl::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty() || label.size() > 63 || label.front() == '-' ||
        label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-')
        return false;
    }
  }
  return true;
}

// Splits "host:port" / "[v6]:port". Returns an error message, or nullopt when
// valid.
std::optional<std::string> SplitHostPort(absl::string_view addr,
                                         std::string* host, std::string* port) {
  absl::string_view h, p;
  if (absl::StartsWith(addr, "[")) {
    size_t close = addr.find(']');
    if (close == absl::string_view::npos || close + 1 >= addr.size() ||
        addr[close + 1] != ':') {
      return absl::StrCat("\"", addr, "\" is not host:port (IPv6: [::1]:2801)");
    }
    h = addr.substr(1, close - 1);
    p = addr.substr(close + 2);
    in6_addr a6;
    if (inet_pton(AF_INET6, std::string(h).c_str(), &a6) != 1) {
      return absl::StrCat("\"", h, "\" in \"", addr,
                          "\" is not an IPv6 address");
    }
    *host = absl::StrCat("[", h, "]");
  } else {
    size_t colon = addr.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::StrCat("\"", addr,
                          "\" is not host:port (e.g. 0.0.0.0:2801)");
    }
    h = addr.substr(0, colon);
    p = addr.substr(colon + 1);
    if (absl::StrContains(h, ':')) {
      return absl::StrCat("\"", addr,
                          "\": an IPv6 address needs brackets, e.g. [::]:2801");
    }
    if (h.empty()) {
      return absl::StrCat(
          "\"", addr, "\" has no host (0.0.0.0 listens on every interface)");
    }
    bool numeric =
        h.find_first_not_of("0123456789.") == absl::string_view::npos;
    in_addr a4;
    if (numeric ? inet_pton(AF_INET, std::string(h).c_str(), &a4) != 1
                : !IsHostname(h)) {
      return absl::StrCat("\"", h, "\" in \"", addr,
                          "\" is not an IPv4 address or a host name");
    }
    *host = std::string(h);
  }
  int n;
  if (p.empty() ||
      p.find_first_not_of("0123456789") != absl::string_view::npos ||
      p.size() > 5 || !absl::SimpleAtoi(p, &n) || n > 65535) {
    return absl::StrCat("port \"", p, "\" in \"", addr,
                        "\" is not a number from 0 to 65535");
  }
  *port = std::string(p);
  return std::nullopt;
}

std::string ListenAddress(ConfigMap& map, absl::string_view key,
                          absl::string_view def) {
  std::string v = map.String(key, def);
  std::string host, port;
  if (auto err = SplitHostPort(v, &host, &port)) {
    map.Error(key, *err);
    return std::string(def);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// YAML structure

void CheckDuplicateKeys(const YAML::Node& node, const std::string& path,
                        ConfigErrors* errors) {
  if (node.IsMap()) {
    std::map<std::string, YAML::Node> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string& key = it->first.Scalar();
      std::string child = path.empty() ? key : absl::StrCat(path, ".", key);
      auto [prev, inserted] = seen.emplace(key, it->first);
      if (!inserted) {
        errors->Add(it->first, child,
                    absl::StrCat("key appears twice (first at ",
                                 Position(errors->file(), prev->second), ")"));
      }
      CheckDuplicateKeys(it->second, child, errors);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) {
      CheckDuplicateKeys(node[i], absl::StrCat(path, "[", i, "]"), errors);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Native schema

void ParseRetry(ConfigMap r, RetryConfig* retry) {
  retry->initial_backoff =
      r.Duration("initial_backoff", retry->initial_backoff);
  retry->max_backoff = r.Duration("max_backoff", retry->max_backoff);
  retry->max_attempts =
      r.Int("max_attempts", retry->max_attempts, 0, 1000000000);
  retry->max_age = r.Duration("max_age", retry->max_age);
  if (retry->initial_backoff <= absl::ZeroDuration()) {
    r.Error("initial_backoff", "must be more than 0");
  } else if (retry->initial_backoff > retry->max_backoff) {
    r.Error("initial_backoff",
            absl::StrCat("(", absl::FormatDuration(retry->initial_backoff),
                         ") must not be more than max_backoff (",
                         absl::FormatDuration(retry->max_backoff), ")"));
  }
  r.RejectUnknownKeys();
}

void ParseBatch(ConfigMap b, BatchConfig* batch) {
  batch->max_items = b.Int("max_items", batch->max_items, 1, 1000000);
  batch->max_bytes = b.Size("max_bytes", batch->max_bytes);
  batch->max_wait = b.Duration("max_wait", batch->max_wait);
  if (batch->max_bytes == 0) b.Error("max_bytes", "must be more than 0");
  b.RejectUnknownKeys();
}

// The common keys of one output; its type-specific keys are left for the
// registry.
OutputConfig ParseOutput(const YAML::Node& node, const std::string& path,
                         ConfigErrors* errors) {
  OutputConfig out;
  out.node = node;
  out.path = path;
  ConfigMap m(node, path, errors);
  if (!node.IsMap()) {
    if (!node.IsDefined() || node.IsNull())
      errors->Add(node, path, "expected an output mapping");
    out.node.reset(YAML::Node(YAML::NodeType::Map));
    return out;
  }
  out.name = m.RequiredString("name");
  out.type = m.RequiredString("type");
  std::string priority = m.String("min_priority");
  if (!priority.empty()) {
    absl::StatusOr<Priority> p = ParsePriority(priority);
    if (p.ok()) {
      out.min_priority = *p;
    } else {
      m.Error("min_priority", p.status().message());
    }
  }
  out.rules = m.StringList("rules");
  out.tags = m.StringList("tags");
  out.sources = m.StringList("sources");
  ParseRetry(m.Map("retry"), &out.retry);
  out.concurrency = m.Int("concurrency", out.concurrency, 1, 256);
  ParseBatch(m.Map("batch"), &out.batch);
  out.queue_size = m.Int("queue_size", out.queue_size, 1, 1000000000);
  return out;
}

void ParseListen(ConfigMap l, ListenConfig* listen) {
  listen->http = ListenAddress(l, "http", listen->http);
  listen->grpc = ListenAddress(l, "grpc", listen->grpc);
  ConfigMap tls = l.Map("tls");
  listen->tls.cert_file = tls.String("cert_file");
  listen->tls.key_file = tls.String("key_file");
  listen->tls.client_ca_file = tls.String("client_ca_file");
  if (!listen->tls.cert_file.empty() && listen->tls.key_file.empty()) {
    tls.Error("key_file", "is required when cert_file is set");
  }
  if (listen->tls.cert_file.empty() && !listen->tls.key_file.empty()) {
    tls.Error("cert_file", "is required when key_file is set");
  }
  if (!listen->tls.client_ca_file.empty() && listen->tls.cert_file.empty()) {
    tls.Error("client_ca_file",
              "needs cert_file and key_file: mutual TLS needs the server's own "
              "certificate");
  }
  tls.RejectUnknownKeys();
  listen->auth_token = l.String("auth_token");
  listen->max_body_bytes = l.Size("max_body_bytes", listen->max_body_bytes);
  if (listen->max_body_bytes == 0)
    l.Error("max_body_bytes", "must be more than 0");
  listen->max_header_bytes =
      l.Size("max_header_bytes", listen->max_header_bytes);
  if (listen->max_header_bytes == 0)
    l.Error("max_header_bytes", "must be more than 0");
  listen->header_timeout = l.Duration("header_timeout", listen->header_timeout);
  if (listen->header_timeout <= absl::ZeroDuration()) {
    l.Error("header_timeout", "must be more than 0");
  }
  listen->idle_timeout = l.Duration("idle_timeout", listen->idle_timeout);
  if (listen->idle_timeout <= absl::ZeroDuration()) {
    l.Error("idle_timeout", "must be more than 0");
  }
  listen->drain_timeout = l.Duration("drain_timeout", listen->drain_timeout);
  listen->io_threads =
      static_cast<int>(l.Int("io_threads", listen->io_threads, 0, 1024));
  listen->max_connections =
      l.Int("max_connections", listen->max_connections, 1, 1000000);
  listen->subscriber_buffer =
      l.Int("subscriber_buffer", listen->subscriber_buffer, 1, 10000000);
  listen->grpc_keepalive = l.Duration("grpc_keepalive", listen->grpc_keepalive);
  l.RejectUnknownKeys();
}

void ParseSpool(ConfigMap s, SpoolConfig* spool) {
  if (s.Has("dir")) {
    std::string dir = s.String("dir", spool->dir);
    if (dir.empty()) {
      s.Error("dir", "must not be empty");
    } else {
      spool->dir = dir;
    }
  }
  spool->fsync = s.Enum("fsync", spool->fsync, {"batch", "always", "never"});
  spool->max_bytes = s.Size("max_bytes", spool->max_bytes);
  if (spool->max_bytes == 0) s.Error("max_bytes", "must be more than 0");
  spool->retain = s.Duration("retain", spool->retain);
  s.RejectUnknownKeys();
}

YAML::Node RawList(ConfigMap& m, absl::string_view key,
                   absl::string_view what) {
  YAML::Node v = m.Raw(key);
  if (!v.IsDefined() || v.IsNull()) return YAML::Node();
  if (!v.IsSequence()) {
    m.Error(key,
            absl::StrCat("expected a list of ", what, " (\"- name: ...\")"));
    return YAML::Node();
  }
  return v;
}

void ParseIngest(ConfigMap i, Config* config) {
  ConfigMap http = i.Map("http");
  config->ingest_http.enabled =
      http.Bool("enabled", config->ingest_http.enabled);
  http.RejectUnknownKeys();
  config->ingest_falco_grpc.reset(
      RawList(i, "falco_grpc", "Falco gRPC connections"));
  config->ingest_gcpaudit.reset(
      RawList(i, "gcpaudit", "Pub/Sub subscriptions"));
  i.RejectUnknownKeys();
}

// Compiles `templatedfields` (from a file, or TEMPLATEDFIELDS) over those
// already set; a template corral cannot run is an error naming its key.
void AddTemplatedFields(const std::map<std::string, std::string>& sources,
                        Enrichment* enrichment, ConfigErrors* errors) {
  for (const auto& [key, text] : sources) {
    absl::StatusOr<FieldTemplate> parsed = FieldTemplate::Parse(text);
    if (!parsed.ok()) {
      errors->AddAtTop(absl::StrCat("templatedfields.", key),
                       absl::StrCat("cannot run the template \"", text,
                                    "\": ", parsed.status().message()));
      continue;
    }
    enrichment->templated_fields.insert_or_assign(key, *std::move(parsed));
  }
}

void ParseNative(const YAML::Node& doc, Config* config, ConfigErrors* errors) {
  ConfigMap root(doc, "", errors);
  ParseListen(root.Map("listen"), &config->listen);
  ParseSpool(root.Map("spool"), &config->spool);
  config->enrichment.custom_fields = root.StringMap("customfields");
  AddTemplatedFields(root.StringMap("templatedfields"), &config->enrichment,
                     root.errors());
  config->enrichment.custom_tags = root.StringList("customtags");
  ParseIngest(root.Map("ingest"), config);
  YAML::Node outputs = root.Raw("outputs");
  if (outputs.IsDefined() && !outputs.IsNull()) {
    if (!outputs.IsSequence()) {
      root.Error("outputs", "expected a list of outputs (\"- name: ...\")");
    } else {
      for (size_t i = 0; i < outputs.size(); ++i) {
        config->outputs.push_back(
            ParseOutput(outputs[i], absl::StrCat("outputs[", i, "]"), errors));
      }
    }
  }
  ConfigMap dead_letter = root.Map("dead_letter");
  config->dead_letter.file = dead_letter.String("file");
  dead_letter.RejectUnknownKeys();
  root.RejectUnknownKeys();
}

// ---------------------------------------------------------------------------------------------
// Falcosidekick

bool NeedsLowering(const YAML::Node& n) {
  if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) {
      if (NeedsLowering(n[i])) return true;
    }
    return false;
  }
  if (!n.IsMap()) return false;
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string& k = it->first.Scalar();
    if (absl::AsciiStrToLower(k) != k) return true;
    if (!IsFskUserMap(k) && NeedsLowering(it->second)) return true;
  }
  return false;
}

// Viper reads keys case-insensitively; corral too, for a Falcosidekick file.
// Nodes that need no change are kept, so that their positions stay for error
// messages.
YAML::Node LowerKeys(const YAML::Node& n) {
  if (!NeedsLowering(n) || !n.IsMap()) return n;
  YAML::Node out(YAML::NodeType::Map);
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar()) {
      out.force_insert(it->first, it->second);
      continue;
    }
    const std::string& k = it->first.Scalar();
    std::string lower = absl::AsciiStrToLower(k);
    YAML::Node key = lower == k ? it->first : YAML::Node(lower);
    out.force_insert(key,
                     IsFskUserMap(lower) ? it->second : LowerKeys(it->second));
  }
  return out;
}

YAML::Node Child(const YAML::Node& map, absl::string_view key) {
  if (!map.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::string EnvName(absl::string_view dotted) {
  std::string name = absl::AsciiStrToUpper(dotted);
  for (char& c : name) {
    if (c == '.') c = '_';
  }
  return name;
}

// Reads Falcosidekick settings the way viper does: an environment variable (the
// upper-cased key path with "." → "_") set to a non-empty value overrides the
// file's value.
class FskReader {
 public:
  struct Value {
    std::string text;  // after ${VAR} expansion (file values only)
    YAML::Node
        node;  // the file's node; undefined when from the environment or absent
    std::string env;   // the environment variable it came from
    std::string path;  // dotted Falcosidekick key
    Value() = default;
    Value(const Value&) = default;
    // YAML::Node's operator= writes through to the node it refers to; rebind
    // instead.
    Value& operator=(const Value& other) {
      text = other.text;
      node.reset(other.node);
      env = other.env;
      path = other.path;
      return *this;
    }
    bool empty() const { return text.empty(); }
    std::string where() const {
      return env.empty()
                 ? path
                 : absl::StrCat(path, " (environment variable ", env, ")");
    }
  };

  // `root` is the file's (lower-cased) mapping, or null when the file is not
  // Falcosidekick's.
  FskReader(YAML::Node root, const EnvLookup& env, ConfigErrors* errors)
      : root_(std::move(root)), env_(env), errors_(errors) {}

  ConfigErrors* errors() const { return errors_; }

  YAML::Node File(absl::string_view dotted) const {
    YAML::Node cur = root_;
    for (absl::string_view part : absl::StrSplit(dotted, '.')) {
      cur.reset(Child(cur, part));
      if (!cur.IsDefined()) return cur;
    }
    return cur;
  }

  std::optional<std::string> Env(absl::string_view dotted) const {
    if (!env_) return std::nullopt;
    std::string name = EnvName(dotted);
    const char* v = env_(name.c_str());
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string(v);
  }

  Value Get(absl::string_view dotted) {
    Value v;
    v.path = std::string(dotted);
    if (std::optional<std::string> e = Env(dotted)) {
      v.text = *e;
      v.env = EnvName(dotted);
      return v;
    }
    YAML::Node n = File(dotted);
    if (!n.IsDefined() || n.IsNull()) return v;
    if (!n.IsScalar()) {
      errors_->Add(n, v.path, "expected a single value");
      return v;
    }
    v.node.reset(n);
    v.text = ExpandEnv(n.Scalar());
    return v;
  }

  void Error(const Value& v, absl::string_view message) {
    errors_->Add(v.node, v.where(), message);
  }

  // The value for a native output's node: the file's own node (so that errors
  // point at its line), or a new scalar.
  YAML::Node ToNode(const Value& v) const {
    // (A default-constructed YAML::Node counts as defined: test for the
    // scalar.)
    if (v.node.IsScalar()) return v.node;
    return NewScalar(v.text);
  }

  bool Bool(const Value& v, bool def) {
    if (v.empty()) return def;
    std::string lower = absl::AsciiStrToLower(v.text);
    if (lower == "true" || lower == "t" || lower == "1" || lower == "yes" ||
        lower == "on") {
      return true;
    }
    if (lower == "false" || lower == "f" || lower == "0" || lower == "no" ||
        lower == "off") {
      return false;
    }
    Error(v, absl::StrCat("expected true or false, got \"", v.text, "\""));
    return def;
  }

  // Falcosidekick's minimumpriority, "" meaning debug, as a native min_priority
  // node.
  YAML::Node Priority(absl::string_view dotted) {
    Value v = Get(dotted);
    if (v.empty()) return YAML::Node("debug");
    absl::StatusOr<core::Priority> p = ParsePriority(v.text);
    if (!p.ok()) {
      Error(v, p.status().message());
      return YAML::Node("debug");
    }
    return YAML::Node(absl::AsciiStrToLower(PriorityName(*p)));
  }

  // A string map from the file, with "k:v,k2:v2" from the environment added
  // over it (as Falcosidekick does for customfields, webhook.customheaders,
  // gcp.pubsub.customattributes).
  std::map<std::string, std::string> StringMap(absl::string_view dotted) {
    std::map<std::string, std::string> out;
    YAML::Node n = File(dotted);
    if (n.IsDefined() && !n.IsNull()) {
      if (!n.IsMap()) {
        errors_->Add(n, dotted, "expected a mapping of strings to strings");
      } else {
        for (auto it = n.begin(); it != n.end(); ++it) {
          if (!it->first.IsScalar() || !it->second.IsScalar()) {
            errors_->Add(it->second, dotted,
                         "expected string keys and string values");
            continue;
          }
          out[it->first.Scalar()] = ExpandEnv(it->second.Scalar());
        }
      }
    }
    for (auto& [k, v] : EnvMap(dotted)) out[k] = v;
    return out;
  }

  // Only the environment's "k:v,k2:v2" for `dotted`.
  std::map<std::string, std::string> EnvMap(absl::string_view dotted) {
    std::map<std::string, std::string> out;
    std::optional<std::string> e = Env(dotted);
    if (!e) return out;
    for (absl::string_view pair :
         absl::StrSplit(*e, ',', absl::SkipWhitespace())) {
      std::pair<absl::string_view, absl::string_view> kv =
          absl::StrSplit(pair, absl::MaxSplits(':', 1));
      absl::string_view key = absl::StripAsciiWhitespace(kv.first);
      if (key.empty() || pair.find(':') == absl::string_view::npos) {
        errors_->AddAtTop(
            absl::StrCat(dotted, " (environment variable ", EnvName(dotted),
                         ")"),
            absl::StrCat("expected key:value pairs separated by commas, got \"",
                         pair, "\""));
        continue;
      }
      out[std::string(key)] =
          std::string(absl::StripAsciiWhitespace(kv.second));
    }
    return out;
  }

 private:
  YAML::Node root_;
  EnvLookup env_;
  ConfigErrors* errors_;
};

// Checks one Falcosidekick mapping's keys; `children` are sub-sections checked
// by the caller.
void CheckFskSection(const YAML::Node& node, absl::string_view path,
                     const std::set<std::string>& known, ConfigErrors* errors) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsMap()) {
    errors->Add(node, path, "expected a mapping of keys to values");
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    if (known.count(key) == 0) {
      errors->Add(
          it->first, absl::StrCat(path, ".", key),
          absl::StrCat("unknown Falcosidekick key (corral understands here: ",
                       absl::StrJoin(known, ", "), ")"));
    }
  }
}

void CheckFskFile(const YAML::Node& root, ConfigErrors* errors) {
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
    if (key != "customfields" && key != "customtags" &&
        key != "templatedfields" && FskTopKeys().count(key) == 0) {
      errors->Add(it->first, key,
                  "unknown key: neither a Falcosidekick key nor one of "
                  "corral's native schema");
    }
  }
  auto section = [&](absl::string_view path, std::set<std::string> known) {
    YAML::Node n = root;
    for (absl::string_view part : absl::StrSplit(path, '.'))
      n.reset(Child(n, part));
    CheckFskSection(n, path, known, errors);
  };
  section("webhook", {"address", "method", "customheaders", "minimumpriority",
                      "checkcert", "mutualtls"});
  section("slack", {"webhookurl", "channel", "footer", "icon", "username",
                    "outputformat", "minimumpriority", "messageformat",
                    "checkcert", "mutualtls"});
  section("gcp", {"credentials", "chronicle", "storage", "pubsub",
                  "cloudfunctions", "cloudrun"});
  section("gcp.chronicle", {"projectid", "instanceid", "region", "logtype",
                            "credentials", "minimumpriority"});
  section("gcp.storage", {"bucket", "prefix", "minimumpriority"});
  section("gcp.pubsub",
          {"projectid", "topic", "customattributes", "minimumpriority"});
  section("aws", {"accesskeyid", "secretaccesskey", "region", "rolearn",
                  "externalid", "checkidentity", "s3", "lambda", "sqs", "sns",
                  "cloudwatchlogs", "kinesis", "securitylake"});
  section("aws.s3", {"bucket", "prefix", "region", "endpoint",
                     "minimumpriority", "objectcannedacl"});
  section("mutualtlsclient", {"certfile", "keyfile", "cacertfile"});
  section("tlsclient", {"cacertfile"});
  section("tlsserver", {"deploy", "certfile", "keyfile", "mutualtls",
                        "cacertfile", "notlsport", "notlspaths"});
}

// A Falcosidekick output mapped onto a native one.
struct FskOutput {
  YAML::Node node;
  std::string path;  // the Falcosidekick section, e.g. "gcp.pubsub"
};

YAML::Node NewOutputNode(absl::string_view name, absl::string_view type) {
  YAML::Node n(YAML::NodeType::Map);
  n["name"] = std::string(name);
  n["type"] = std::string(type);
  return n;
}

void SetIfSet(FskReader& r, YAML::Node& n, absl::string_view native_key,
              absl::string_view fsk_key) {
  FskReader::Value v = r.Get(fsk_key);
  if (!v.empty()) n[std::string(native_key)] = r.ToNode(v);
}

// Falcosidekick's gcp.credentials is a base64-encoded key; corral's outputs
// read a key file.
void SetGcpCredentials(FskReader& r, YAML::Node& n,
                       absl::string_view specific) {
  // `specific` (gcp.chronicle.credentials) wins over gcp.credentials when set.
  FskReader::Value v;
  if (!specific.empty()) v = r.Get(specific);
  if (v.empty()) v = r.Get("gcp.credentials");
  if (v.empty()) return;
  std::string decoded;
  absl::string_view text = absl::StripAsciiWhitespace(v.text);
  bool inline_key =
      absl::StartsWith(text, "{") ||
      (absl::Base64Unescape(text, &decoded) &&
       absl::StartsWith(absl::StripLeadingAsciiWhitespace(decoded), "{"));
  if (inline_key) {
    r.Error(v,
            "holds the key itself; corral reads a service-account key from a "
            "file: write the "
            "key to a file and give its path here (or leave it empty to use "
            "the metadata "
            "server's credentials)");
    return;
  }
  n["credentials_file"] = r.ToNode(v);
}

void MapWebhook(FskReader& r, std::vector<FskOutput>* out) {
  FskReader::Value address = r.Get("webhook.address");
  if (address.empty()) return;
  YAML::Node n = NewOutputNode("webhook", "webhook");
  n["min_priority"] = r.Priority("webhook.minimumpriority");
  n["url"] = r.ToNode(address);
  SetIfSet(r, n, "method", "webhook.method");
  std::map<std::string, std::string> headers =
      r.StringMap("webhook.customheaders");
  if (!headers.empty()) {
    YAML::Node h(YAML::NodeType::Map);
    for (const auto& [k, v] : headers) h[k] = NewScalar(v);
    n["headers"] = h;
  }
  YAML::Node tls(YAML::NodeType::Map);
  if (!r.Bool(r.Get("webhook.checkcert"), true))
    tls["insecure_skip_verify"] = true;
  if (r.Bool(r.Get("webhook.mutualtls"), false)) {
    FskReader::Value dir = r.Get("mutualtlsfilespath");
    std::string base = dir.empty() ? "/etc/certs" : dir.text;
    auto file = [&](absl::string_view native, absl::string_view key,
                    absl::string_view name) {
      FskReader::Value v = r.Get(absl::StrCat("mutualtlsclient.", key));
      tls[std::string(native)] =
          v.empty() ? NewScalar(JoinPath(base, name)) : r.ToNode(v);
    };
    file("cert_file", "certfile", "client.crt");
    file("key_file", "keyfile", "client.key");
    file("ca_file", "cacertfile", "ca.crt");
  } else {
    FskReader::Value ca = r.Get("tlsclient.cacertfile");
    if (!ca.empty()) tls["ca_file"] = r.ToNode(ca);
  }
  if (tls.size() > 0) n["tls"] = tls;
  out->push_back({n, "webhook"});
}

void MapSlack(FskReader& r, std::vector<FskOutput>* out) {
  FskReader::Value url = r.Get("slack.webhookurl");
  if (url.empty()) return;
  YAML::Node n = NewOutputNode("slack", "slack");
  n["min_priority"] = r.Priority("slack.minimumpriority");
  n["webhook_url"] = r.ToNode(url);
  SetIfSet(r, n, "channel", "slack.channel");
  SetIfSet(r, n, "username", "slack.username");
  SetIfSet(r, n, "icon_url", "slack.icon");
  SetIfSet(r, n, "footer", "slack.footer");
  SetIfSet(r, n, "output_format", "slack.outputformat");
  SetIfSet(r, n, "message_template", "slack.messageformat");
  FskReader::Value mtls = r.Get("slack.mutualtls");
  if (r.Bool(mtls, false))
    r.Error(mtls, "mutual TLS is not supported by corral's slack output");
  FskReader::Value checkcert = r.Get("slack.checkcert");
  if (!r.Bool(checkcert, true)) {
    r.Error(checkcert,
            "corral's slack output always verifies Slack's certificate");
  }
  out->push_back({n, "slack"});
}

// Falcosidekick enables some outputs only when several keys are set; corral
// refuses a section with only some of them rather than silently not sending.
bool AllOrNone(FskReader& r, absl::string_view section,
               const std::vector<FskReader::Value>& values) {
  std::vector<std::string> missing;
  const FskReader::Value* set = nullptr;
  for (const auto& v : values) {
    if (v.empty()) {
      missing.push_back(v.path);
    } else if (set == nullptr) {
      set = &v;
    }
  }
  if (missing.empty()) return true;
  if (set != nullptr) {
    std::vector<std::string> all;
    for (const auto& v : values) all.push_back(v.path);
    r.Error(*set, absl::StrCat("falcosidekick output '", section, "' needs ",
                               absl::StrJoin(all, ", "),
                               "; missing: ", absl::StrJoin(missing, ", ")));
  }
  return false;
}

void MapChronicle(FskReader& r, std::vector<FskOutput>* out) {
  std::vector<FskReader::Value> v = {r.Get("gcp.chronicle.region"),
                                     r.Get("gcp.chronicle.projectid"),
                                     r.Get("gcp.chronicle.instanceid")};
  if (!AllOrNone(r, "gcp.chronicle", v)) return;
  YAML::Node n = NewOutputNode("chronicle", "chronicle");
  n["min_priority"] = r.Priority("gcp.chronicle.minimumpriority");
  n["region"] = r.ToNode(v[0]);
  n["project"] = r.ToNode(v[1]);
  n["instance"] = r.ToNode(v[2]);
  SetIfSet(r, n, "log_type", "gcp.chronicle.logtype");
  SetGcpCredentials(r, n, "gcp.chronicle.credentials");
  out->push_back({n, "gcp.chronicle"});
}

void MapGcs(FskReader& r, std::vector<FskOutput>* out) {
  FskReader::Value bucket = r.Get("gcp.storage.bucket");
  if (bucket.empty()) return;
  YAML::Node n = NewOutputNode("gcs", "gcs");
  n["min_priority"] = r.Priority("gcp.storage.minimumpriority");
  n["bucket"] = r.ToNode(bucket);
  SetIfSet(r, n, "prefix", "gcp.storage.prefix");
  SetGcpCredentials(r, n, "");
  out->push_back({n, "gcp.storage"});
}

void MapPubsub(FskReader& r, std::vector<FskOutput>* out) {
  std::vector<FskReader::Value> v = {r.Get("gcp.pubsub.projectid"),
                                     r.Get("gcp.pubsub.topic")};
  if (!AllOrNone(r, "gcp.pubsub", v)) return;
  YAML::Node n = NewOutputNode("pubsub", "pubsub");
  n["min_priority"] = r.Priority("gcp.pubsub.minimumpriority");
  n["topic"] = NewScalar(
      absl::StartsWith(v[1].text, "projects/")
          ? v[1].text
          : absl::StrCat("projects/", v[0].text, "/topics/", v[1].text));
  std::map<std::string, std::string> attributes =
      r.StringMap("gcp.pubsub.customattributes");
  if (!attributes.empty()) {
    YAML::Node a(YAML::NodeType::Map);
    for (const auto& [k, val] : attributes) a[k] = NewScalar(val);
    n["attributes"] = a;
  }
  SetGcpCredentials(r, n, "");
  out->push_back({n, "gcp.pubsub"});
}

void MapS3(FskReader& r, std::vector<FskOutput>* out) {
  FskReader::Value bucket = r.Get("aws.s3.bucket");
  if (bucket.empty()) return;
  YAML::Node n = NewOutputNode("s3", "s3");
  n["min_priority"] = r.Priority("aws.s3.minimumpriority");
  n["bucket"] = r.ToNode(bucket);
  FskReader::Value prefix = r.Get("aws.s3.prefix");
  n["prefix"] = prefix.empty() ? YAML::Node("falco")
                               : r.ToNode(prefix);  // Falcosidekick's
  FskReader::Value region = r.Get("aws.s3.region");
  if (region.empty()) region = r.Get("aws.region");
  if (!region.empty()) n["region"] = r.ToNode(region);
  SetIfSet(r, n, "endpoint", "aws.s3.endpoint");
  SetIfSet(r, n, "access_key_id", "aws.accesskeyid");
  SetIfSet(r, n, "secret_access_key", "aws.secretaccesskey");
  FskReader::Value role = r.Get("aws.rolearn");
  if (!role.empty()) {
    r.Error(role,
            "assuming an IAM role is not supported by corral: give access keys "
            "(aws.accesskeyid, "
            "aws.secretaccesskey) or the AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY variables");
  }
  out->push_back({n, "aws.s3"});
}

void RefuseUnsupported(FskReader& r) {
  for (const auto& u : kUnsupportedFskOutputs) {
    FskReader::Value v = r.Get(absl::StrCat(u.section, ".", u.key));
    bool configured =
        absl::string_view(u.key) == "enabled" ? r.Bool(v, false) : !v.empty();
    if (!configured) continue;
    r.errors()->Add(v.node, u.section,
                    absl::StrCat("falcosidekick output '", u.section,
                                 "' is not supported by corral (", v.where(),
                                 " is set); remove it or use a corral output"));
  }
  for (const char* key : {"bracketreplacer", "outputfieldformat"}) {
    FskReader::Value v = r.Get(key);
    if (!v.empty()) {
      r.Error(v, absl::StrCat("falcosidekick setting '", key,
                              "' is not supported by corral"));
    }
  }
}

void ApplyFsk(FskReader& r, bool fsk_file, Config* config) {
  ConfigErrors* errors = r.errors();
  // listen.http: a Falcosidekick file sets it from listenaddress/listenport
  // (defaults "" and 2801); otherwise LISTENADDRESS / LISTENPORT replace parts
  // of the native value.
  FskReader::Value addr = r.Get("listenaddress");
  FskReader::Value port = r.Get("listenport");
  if (fsk_file || !addr.empty() || !port.empty()) {
    std::string host = "0.0.0.0", port_text = "2801";
    if (!fsk_file) SplitHostPort(config->listen.http, &host, &port_text);
    if (!addr.empty()) {
      host = addr.text;
      if (absl::StrContains(host, ':') && !absl::StartsWith(host, "[")) {
        host = absl::StrCat("[", host, "]");
      }
    } else if (fsk_file) {
      host = "0.0.0.0";
    }
    int n;
    if (!port.empty()) {
      if (!absl::SimpleAtoi(port.text, &n) || n < 0 || n > 65535) {
        r.Error(port, absl::StrCat("expected a port from 0 to 65535, got \"",
                                   port.text, "\""));
      } else {
        port_text = absl::StrCat(n);
      }
    }
    std::string listen = absl::StrCat(host, ":", port_text);
    std::string h, p;
    if (auto err = SplitHostPort(listen, &h, &p)) {
      r.Error(addr, *err);
    } else {
      config->listen.http = listen;
      // Falcosidekick has no gRPC port; corral's follows the HTTP one's
      // address, so that an HTTP port kept on loopback does not come with a
      // gRPC port open to the network. Its port is 2803, or one the system
      // picks (0) when the HTTP port is.
      if (fsk_file) {
        config->listen.grpc =
            absl::StrCat(host, ":", port_text == "0" ? "0" : "2803");
      }
    }
  }

  // tlsserver: Falcosidekick's own HTTPS.
  FskReader::Value deploy = r.Get("tlsserver.deploy");
  if (r.Bool(deploy, false)) {
    auto file = [&](absl::string_view key, absl::string_view def) {
      FskReader::Value v = r.Get(absl::StrCat("tlsserver.", key));
      return v.empty() ? std::string(def) : v.text;
    };
    config->listen.tls.cert_file =
        file("certfile", "/etc/certs/server/server.crt");
    config->listen.tls.key_file =
        file("keyfile", "/etc/certs/server/server.key");
    config->listen.tls.client_ca_file.clear();
    if (r.Bool(r.Get("tlsserver.mutualtls"), false)) {
      config->listen.tls.client_ca_file =
          file("cacertfile", "/etc/certs/server/ca.crt");
    }
    YAML::Node paths = r.File("tlsserver.notlspaths");
    bool has_paths = (paths.IsSequence() && paths.size() > 0) ||
                     (paths.IsScalar() && !paths.Scalar().empty()) ||
                     r.Env("tlsserver.notlspaths").has_value();
    if (has_paths) {
      errors->Add(paths, "tlsserver.notlspaths",
                  "serving some paths without TLS on a second port is not "
                  "supported by corral");
    }
  }

  // Enrichment from the environment: CUSTOMFIELDS adds to (and overrides) the
  // file's fields, CUSTOMTAGS replaces the file's tags.
  for (auto& [k, v] : r.EnvMap("customfields"))
    config->enrichment.custom_fields[k] = v;
  AddTemplatedFields(r.EnvMap("templatedfields"), &config->enrichment, errors);
  if (std::optional<std::string> tags = r.Env("customtags")) {
    config->enrichment.custom_tags.clear();
    for (absl::string_view t :
         absl::StrSplit(*tags, ',', absl::SkipWhitespace())) {
      config->enrichment.custom_tags.emplace_back(
          absl::StripAsciiWhitespace(t));
    }
  }

  std::vector<FskOutput> outputs;
  MapWebhook(r, &outputs);
  MapSlack(r, &outputs);
  MapChronicle(r, &outputs);
  MapGcs(r, &outputs);
  MapPubsub(r, &outputs);
  MapS3(r, &outputs);
  for (const FskOutput& o : outputs) {
    config->outputs.push_back(ParseOutput(o.node, o.path, errors));
  }
  RefuseUnsupported(r);
}

void ParseFskFile(const YAML::Node& root, Config* config,
                  ConfigErrors* errors) {
  CheckFskFile(root, errors);
  std::set<std::string> others;
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it->first.IsScalar()) others.insert(it->first.Scalar());
  }
  ConfigMap m(root, "", errors, others);
  config->enrichment.custom_fields = m.StringMap("customfields");
  AddTemplatedFields(m.StringMap("templatedfields"), &config->enrichment,
                     errors);
  YAML::Node tags = m.Raw("customtags");
  if (tags.IsScalar()) {
    for (absl::string_view t : absl::StrSplit(ExpandEnv(tags.Scalar()), ',',
                                              absl::SkipWhitespace())) {
      config->enrichment.custom_tags.emplace_back(
          absl::StripAsciiWhitespace(t));
    }
  } else {
    config->enrichment.custom_tags = m.StringList("customtags");
  }
}

// Enrichment goes into every alert's JSON: its keys and values must be UTF-8.
void CheckEnrichmentUtf8(const Enrichment& enrichment, ConfigErrors* errors) {
  auto check = [&](absl::string_view section, const std::string& key,
                   absl::string_view value) {
    if (IsValidUtf8(key) && IsValidUtf8(value)) return;
    errors->AddAtTop(
        absl::StrCat(section, ".", absl::CHexEscape(key)),
        "not valid UTF-8 (it goes into every alert's JSON); write it in UTF-8");
  };
  for (const auto& [k, v] : enrichment.custom_fields) {
    check("customfields", k, v);
  }
  for (const auto& [k, t] : enrichment.templated_fields) {
    check("templatedfields", k, t.text());
  }
  for (const std::string& tag : enrichment.custom_tags) {
    check("customtags", tag, "");
  }
}

void CheckUniqueNames(const Config& config, ConfigErrors* errors) {
  std::map<std::string, const OutputConfig*> seen;
  for (const OutputConfig& o : config.outputs) {
    if (o.name.empty()) continue;
    auto [it, inserted] = seen.emplace(o.name, &o);
    if (inserted) continue;
    const OutputConfig& first = *it->second;
    YAML::Node first_name = Child(first.node, "name");
    std::string where = first.path;
    if (first_name.IsDefined() && first_name.Mark().line >= 0) {
      absl::StrAppend(&where, " at ", Position(errors->file(), first_name));
    } else if (!absl::StartsWith(first.path, "outputs[")) {
      absl::StrAppend(&where, " (from Falcosidekick settings)");
    }
    std::string hint;
    if (!absl::StartsWith(o.path, "outputs[")) {
      hint = absl::StrCat(" (", o.path,
                          " comes from Falcosidekick settings; rename ",
                          first.path, ")");
    }
    errors->Add(Child(o.node, "name"), absl::StrCat(o.path, ".name"),
                absl::StrCat("duplicate output name \"", o.name, "\": ", where,
                             " has it too", hint));
  }
}

Config Build(const YAML::Node& doc, const std::string& source,
             const EnvLookup& env, ConfigErrors* errors) {
  Config config;
  config.source = source;
  if (doc.IsDefined() && !doc.IsNull() && !doc.IsMap()) {
    errors->Add(doc, "",
                "expected a mapping of keys to values at the top level");
    return config;
  }
  CheckDuplicateKeys(doc, "", errors);

  // Which schema? Native-only keys vs Falcosidekick keys
  // (customfields/customtags are both).
  std::vector<std::string> native, fsk;
  YAML::Node first_fsk;
  if (doc.IsMap()) {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const std::string& key = it->first.Scalar();
      std::string lower = absl::AsciiStrToLower(key);
      if (NativeOnlyKeys().count(key)) {
        native.push_back(
            absl::StrCat(key, " (", Position(source, it->first), ")"));
      } else if (FskTopKeys().count(lower)) {
        if (!first_fsk.IsDefined() || first_fsk.IsNull())
          first_fsk.reset(it->first);
        fsk.push_back(
            absl::StrCat(key, " (", Position(source, it->first), ")"));
      }
    }
  }
  if (!native.empty() && !fsk.empty()) {
    errors->Add(
        first_fsk, "",
        absl::StrCat(
            "mixes two schemas: ", absl::StrJoin(native, ", "),
            " belong to corral's native schema, but ", absl::StrJoin(fsk, ", "),
            " belong to Falcosidekick's; write the file in one of them"));
    return config;
  }
  bool fsk_file = !fsk.empty();
  YAML::Node fsk_root;
  if (fsk_file) {
    fsk_root.reset(LowerKeys(doc));
    ParseFskFile(fsk_root, &config, errors);
  } else {
    ParseNative(doc, &config, errors);
  }
  FskReader reader(fsk_root, env, errors);
  ApplyFsk(reader, fsk_file, &config);
  CheckUniqueNames(config, errors);
  CheckEnrichmentUtf8(config.enrichment, errors);
  if (config.dead_letter.file.empty()) {
    config.dead_letter.file = JoinPath(config.spool.dir, "dead-letter.jsonl");
  }
  return config;
}

const char* GetEnv(const char* name) { return std::getenv(name); }

// ---------------------------------------------------------------------------------------------
// Rendering

bool IsSecretKey(absl::string_view lower) {
  static const auto* const keys = new std::set<std::string, std::less<>>{
      "auth_token",     "token",         "secret",      "secret_access_key",
      "api_key",        "password",      "private_key", "access_key_id",
      "session_token",  "client_secret", "jwt",         "routing_key",
      "api_token",      "secret_key",    "apikey",      "accesskeyid",
      "secretaccesskey"};
  return keys->count(lower) > 0;
}

bool IsUrlKey(absl::string_view lower) {
  return lower == "webhook_url" || lower == "url" || lower == "feed_url" ||
         lower == "endpoint" || lower == "webhookurl";
}

bool IsSecretHeader(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  for (absl::string_view word :
       {"auth", "token", "key", "secret", "password", "cookie"}) {
    if (absl::StrContains(lower, word)) return true;
  }
  return false;
}

std::string MaskValue(absl::string_view key, absl::string_view parent,
                      absl::string_view value) {
  if (value.empty()) return std::string(value);
  std::string lower = absl::AsciiStrToLower(key);
  if (IsSecretKey(lower)) return "***";
  if ((parent == "headers" || parent == "customheaders") && IsSecretHeader(key))
    return "***";
  if (IsUrlKey(lower) && absl::StrContains(value, "://")) {
    // unix:///path sockets carry no secret, and RedactUrl would hide the path.
    if (absl::StartsWith(value, "unix:")) return std::string(value);
    return RedactUrl(value);
  }
  return std::string(value);
}

// A deep copy with ${VAR} expanded, secrets masked and "$" escaped so that it
// loads again.
YAML::Node Clean(const YAML::Node& n, absl::string_view key,
                 absl::string_view parent) {
  if (n.IsScalar())
    return NewScalar(MaskValue(key, parent, ExpandEnv(n.Scalar())));
  if (n.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (size_t i = 0; i < n.size(); ++i)
      out.push_back(Clean(n[i], key, parent));
    return out;
  }
  if (n.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    std::string lower_key = absl::AsciiStrToLower(key);
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k = it->first.IsScalar() ? it->first.Scalar() : "?";
      out[k] = Clean(it->second, k, lower_key);
    }
    return out;
  }
  // A null (written `~`). A default-constructed YAML::Node emits nothing at
  // all, which shifted every later key onto the previous value.
  return YAML::Node(YAML::NodeType::Null);
}

// A key as written may be at most 1024 characters unless it is explicit
// ("? key"). yaml-cpp switches to the explicit form by the key's raw length,
// but escaping can make a key ten times longer (a control byte is written
// "\x01", others "\U0000XXXX"): a key that could pass the limit once escaped
// is written explicitly.
void EmitKey(YAML::Emitter& out, const std::string& key) {
  constexpr size_t kMaxImplicitKey = 1024;
  constexpr size_t kMaxEscapeGrowth = 10;
  if (key.size() * kMaxEscapeGrowth > kMaxImplicitKey) out << YAML::LongKey;
  out << YAML::Key << key;
}

// Emits a node made by Clean(), with every map key through EmitKey.
void EmitClean(YAML::Emitter& out, const YAML::Node& n) {
  if (n.IsMap()) {
    out << YAML::BeginMap;
    for (auto it = n.begin(); it != n.end(); ++it) {
      EmitKey(out, it->first.Scalar());
      out << YAML::Value;
      EmitClean(out, it->second);
    }
    out << YAML::EndMap;
  } else if (n.IsSequence()) {
    out << YAML::BeginSeq;
    for (size_t i = 0; i < n.size(); ++i) EmitClean(out, n[i]);
    out << YAML::EndSeq;
  } else {
    out << n;
  }
}

void EmitStringList(YAML::Emitter& out, const std::vector<std::string>& list) {
  out << YAML::Flow << YAML::BeginSeq;
  for (const std::string& s : list) out << EscapeDollars(s);
  out << YAML::EndSeq;
}

// A map of user keys to strings (`text` gives each value's), `$` escaped.
template <typename Value, typename Text>
void EmitStringMap(YAML::Emitter& out, const std::map<std::string, Value>& map,
                   Text text) {
  if (map.empty()) out << YAML::Flow;
  out << YAML::BeginMap;
  for (const auto& [k, v] : map) {
    EmitKey(out, k);
    out << YAML::Value << EscapeDollars(text(v));
  }
  out << YAML::EndMap;
}

std::string Dur(absl::Duration d) { return absl::FormatDuration(d); }

}  // namespace

absl::StatusOr<Config> LoadConfigTextWithEnv(const std::string& text,
                                             const std::string& source,
                                             const EnvLookup& env) {
  ConfigErrors errors(source);
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    if (e.mark.line >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", e.mark.line + 1, ":", e.mark.column + 1,
                       ": YAML syntax error: ", e.msg));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": YAML syntax error: ", e.msg));
  }
  std::optional<Config> config;
  try {
    config.emplace(Build(doc, source, env, &errors));
  } catch (const YAML::Exception& e) {
    // The readers above do not throw on bad input; this is a last line of
    // defence.
    errors.AddAtTop("",
                    absl::StrCat("cannot read the configuration: ", e.what()));
  }
  if (!errors.empty() || !config) return errors.ToStatus();
  return *std::move(config);
}

absl::StatusOr<Config> LoadConfigText(const std::string& text,
                                      const std::string& source) {
  return LoadConfigTextWithEnv(text, source, GetEnv);
}

absl::StatusOr<Config> LoadConfigFileWithEnv(const std::string& path,
                                             const EnvLookup& env) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  return LoadConfigTextWithEnv(*text, path, env);
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  return LoadConfigFileWithEnv(path, GetEnv);
}

absl::StatusOr<Config> LoadDefaultConfig() {
  return LoadConfigTextWithEnv(kEmbeddedDefaultConfig, kEmbeddedDefaultSource,
                               GetEnv);
}

std::string RenderEffectiveConfig(const Config& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;

  const ListenConfig& l = config.listen;
  out << YAML::Key << "listen" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "http" << YAML::Value << EscapeDollars(l.http);
  out << YAML::Key << "grpc" << YAML::Value << EscapeDollars(l.grpc);
  if (l.tls.enabled() || !l.tls.key_file.empty() ||
      !l.tls.client_ca_file.empty()) {
    out << YAML::Key << "tls" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "cert_file" << YAML::Value
        << EscapeDollars(l.tls.cert_file);
    out << YAML::Key << "key_file" << YAML::Value
        << EscapeDollars(l.tls.key_file);
    if (!l.tls.client_ca_file.empty()) {
      out << YAML::Key << "client_ca_file" << YAML::Value
          << EscapeDollars(l.tls.client_ca_file);
    }
    out << YAML::EndMap;
  }
  if (!l.auth_token.empty())
    out << YAML::Key << "auth_token" << YAML::Value << "***";
  out << YAML::Key << "max_body_bytes" << YAML::Value << l.max_body_bytes;
  out << YAML::Key << "max_header_bytes" << YAML::Value << l.max_header_bytes;
  out << YAML::Key << "header_timeout" << YAML::Value << Dur(l.header_timeout);
  out << YAML::Key << "idle_timeout" << YAML::Value << Dur(l.idle_timeout);
  out << YAML::Key << "drain_timeout" << YAML::Value << Dur(l.drain_timeout);
  out << YAML::Key << "io_threads" << YAML::Value << l.io_threads;
  out << YAML::Key << "max_connections" << YAML::Value << l.max_connections;
  out << YAML::Key << "subscriber_buffer" << YAML::Value << l.subscriber_buffer;
  out << YAML::Key << "grpc_keepalive" << YAML::Value << Dur(l.grpc_keepalive);
  out << YAML::EndMap;

  const SpoolConfig& s = config.spool;
  out << YAML::Key << "spool" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "dir" << YAML::Value << EscapeDollars(s.dir);
  out << YAML::Key << "fsync" << YAML::Value << s.fsync;
  out << YAML::Key << "max_bytes" << YAML::Value << s.max_bytes;
  out << YAML::Key << "retain" << YAML::Value << Dur(s.retain);
  out << YAML::EndMap;

  out << YAML::Key << "customfields" << YAML::Value;
  EmitStringMap(out, config.enrichment.custom_fields,
                [](const std::string& v) { return v; });
  out << YAML::Key << "templatedfields" << YAML::Value;
  EmitStringMap(out, config.enrichment.templated_fields,
                [](const FieldTemplate& t) { return t.text(); });
  out << YAML::Key << "customtags" << YAML::Value;
  EmitStringList(out, config.enrichment.custom_tags);

  out << YAML::Key << "ingest" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "http" << YAML::Value << YAML::BeginMap << YAML::Key
      << "enabled" << YAML::Value << config.ingest_http.enabled << YAML::EndMap;
  out << YAML::Key << "falco_grpc" << YAML::Value;
  if (config.ingest_falco_grpc.IsSequence() &&
      config.ingest_falco_grpc.size() > 0) {
    EmitClean(out, Clean(config.ingest_falco_grpc, "falco_grpc", "ingest"));
  } else {
    out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
  }
  out << YAML::Key << "gcpaudit" << YAML::Value;
  if (config.ingest_gcpaudit.IsSequence() &&
      config.ingest_gcpaudit.size() > 0) {
    EmitClean(out, Clean(config.ingest_gcpaudit, "gcpaudit", "ingest"));
  } else {
    out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
  }
  out << YAML::EndMap;

  out << YAML::Key << "outputs" << YAML::Value;
  if (config.outputs.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const OutputConfig& o : config.outputs) {
    out << YAML::BeginMap;
    out << YAML::Key << "name" << YAML::Value << EscapeDollars(o.name);
    out << YAML::Key << "type" << YAML::Value << EscapeDollars(o.type);
    out << YAML::Key << "min_priority" << YAML::Value
        << absl::AsciiStrToLower(PriorityName(o.min_priority));
    out << YAML::Key << "rules" << YAML::Value;
    EmitStringList(out, o.rules);
    out << YAML::Key << "tags" << YAML::Value;
    EmitStringList(out, o.tags);
    out << YAML::Key << "sources" << YAML::Value;
    EmitStringList(out, o.sources);
    out << YAML::Key << "retry" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "initial_backoff" << YAML::Value
        << Dur(o.retry.initial_backoff);
    out << YAML::Key << "max_backoff" << YAML::Value
        << Dur(o.retry.max_backoff);
    out << YAML::Key << "max_attempts" << YAML::Value << o.retry.max_attempts;
    out << YAML::Key << "max_age" << YAML::Value << Dur(o.retry.max_age);
    out << YAML::EndMap;
    out << YAML::Key << "concurrency" << YAML::Value << o.concurrency;
    out << YAML::Key << "batch" << YAML::Value << YAML::Flow << YAML::BeginMap;
    out << YAML::Key << "max_items" << YAML::Value << o.batch.max_items;
    out << YAML::Key << "max_bytes" << YAML::Value << o.batch.max_bytes;
    out << YAML::Key << "max_wait" << YAML::Value << Dur(o.batch.max_wait);
    out << YAML::EndMap;
    out << YAML::Key << "queue_size" << YAML::Value << o.queue_size;
    if (o.node.IsMap()) {
      for (auto it = o.node.begin(); it != o.node.end(); ++it) {
        if (!it->first.IsScalar() ||
            CommonOutputKeys().count(it->first.Scalar()))
          continue;
        const std::string& k = it->first.Scalar();
        EmitKey(out, k);
        out << YAML::Value;
        EmitClean(out, Clean(it->second, k, ""));
      }
    }
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;

  out << YAML::Key << "dead_letter" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "file" << YAML::Value
      << EscapeDollars(config.dead_letter.file);
  out << YAML::EndMap;

  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace corral::core
