#include "core/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "core/config_node.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// An environment for the Falcosidekick variables, without touching the
// process's.
EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  auto owned =
      std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [owned](const char* name) -> const char* {
    auto it = owned->find(name);
    return it == owned->end() ? nullptr : it->second.c_str();
  };
}

const EnvLookup kNoEnv = FakeEnv({});

absl::StatusOr<Config> Load(const std::string& text,
                            const EnvLookup& env = kNoEnv) {
  return LoadConfigTextWithEnv(text, "cfg.yaml", env);
}

// The error text of a config that must not load.
std::string LoadError(const std::string& text, const EnvLookup& env = kNoEnv) {
  absl::StatusOr<Config> c = Load(text, env);
  EXPECT_FALSE(c.ok()) << "loaded, but should not have:\n" << text;
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

std::vector<std::string> Lines(absl::string_view text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// A type-specific key of an output, read the way the output registry reads it
// (with ${VAR} expansion).
std::string OutputKey(const OutputConfig& o, absl::string_view key) {
  ConfigErrors errors("test");
  ConfigMap map(o.node, o.path, &errors, CommonOutputKeys());
  std::string v = map.String(key);
  EXPECT_TRUE(errors.empty()) << errors.ToStatus();
  return v;
}

const OutputConfig* FindOutput(const Config& c, absl::string_view name) {
  for (const OutputConfig& o : c.outputs) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "/config_test_XXXXXX";
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------------------------

TEST(ConfigDefault, EmbeddedDefaultHasStdoutAndThePorts) {
  absl::StatusOr<Config> c = LoadConfigTextWithEnv(
      kEmbeddedDefaultConfig, kEmbeddedDefaultSource, kNoEnv);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "<embedded default>");
  EXPECT_EQ(c->listen.http, "0.0.0.0:2801");
  EXPECT_EQ(c->listen.grpc, "0.0.0.0:2803");
  EXPECT_EQ(c->spool.dir, "./corral-data");
  EXPECT_EQ(c->dead_letter.file, "./corral-data/dead-letter.jsonl");
  ASSERT_EQ(c->outputs.size(), 1u);
  EXPECT_EQ(c->outputs[0].name, "stdout");
  EXPECT_EQ(c->outputs[0].type, "stdout");
  EXPECT_EQ(c->outputs[0].path, "outputs[0]");
  EXPECT_EQ(c->outputs[0].min_priority, Priority::kDebug);
  EXPECT_EQ(OutputKey(c->outputs[0], "format"), "json");
  EXPECT_TRUE(c->ingest_http.enabled);
  EXPECT_FALSE(c->listen.tls.enabled());
  EXPECT_TRUE(c->enrichment.empty());
}

TEST(ConfigDefault, CommonOutputKeys) {
  EXPECT_THAT(CommonOutputKeys(),
              UnorderedElementsAre("name", "type", "min_priority", "rules",
                                   "tags", "sources", "retry", "concurrency",
                                   "batch", "queue_size"));
}

TEST(ConfigNative, FullConfigWithEveryKey) {
  TempDir dir;
  std::string path = dir.Write("corral.yaml", R"(
listen:
  http: 127.0.0.1:8080
  grpc: "[::1]:9090"
  tls: {cert_file: /tls/server.crt, key_file: /tls/server.key, client_ca_file: /tls/ca.crt}
  auth_token: s3cret
  max_body_bytes: 2MiB
  max_header_bytes: 32KiB
  header_timeout: 5s
  idle_timeout: 2m
  drain_timeout: 1m30s
  io_threads: 4
  max_connections: 500
  grpc_keepalive: 30s
spool:
  dir: /var/lib/corral
  fsync: always
  max_bytes: 10GB
  retain: 2h
customfields: {env: prod, team: secops}
customtags: [gcp, prod]
ingest:
  http: {enabled: false}
  falco_grpc:
    - name: node-a
      address: unix:///run/falco/falco.sock
  gcpaudit:
    - name: prod-audit
      subscription: projects/p/subscriptions/s
outputs:
  - name: secops-slack
    type: slack
    min_priority: warning
    rules: ["Terminal shell*", "Write below etc"]
    tags: [mitre]
    sources: [syscall, gcp_auditlog]
    retry: {initial_backoff: 250ms, max_backoff: 30s, max_attempts: 7, max_age: 12h}
    concurrency: 4
    batch: {max_items: 50, max_bytes: 64KiB, max_wait: 2s}
    queue_size: 5000
    webhook_url: https://hooks.slack.com/services/T/B/X
  - name: audit-hook
    type: webhook
    url: http://127.0.0.1:9000/alerts
dead_letter:
  file: /var/log/corral/dead.jsonl
)");
  absl::StatusOr<Config> c = LoadConfigFileWithEnv(path, kNoEnv);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, path);
  EXPECT_EQ(c->listen.http, "127.0.0.1:8080");
  EXPECT_EQ(c->listen.grpc, "[::1]:9090");
  EXPECT_EQ(c->listen.tls.cert_file, "/tls/server.crt");
  EXPECT_EQ(c->listen.tls.key_file, "/tls/server.key");
  EXPECT_EQ(c->listen.tls.client_ca_file, "/tls/ca.crt");
  EXPECT_EQ(c->listen.auth_token, "s3cret");
  EXPECT_EQ(c->listen.max_body_bytes, 2u << 20);
  EXPECT_EQ(c->listen.max_header_bytes, 32u << 10);
  EXPECT_EQ(c->listen.header_timeout, absl::Seconds(5));
  EXPECT_EQ(c->listen.idle_timeout, absl::Minutes(2));
  EXPECT_EQ(c->listen.drain_timeout, absl::Seconds(90));
  EXPECT_EQ(c->listen.io_threads, 4);
  EXPECT_EQ(c->listen.max_connections, 500);
  EXPECT_EQ(c->listen.grpc_keepalive, absl::Seconds(30));
  EXPECT_EQ(c->spool.dir, "/var/lib/corral");
  EXPECT_EQ(c->spool.fsync, "always");
  EXPECT_EQ(c->spool.max_bytes, 10000000000ULL);
  EXPECT_EQ(c->spool.retain, absl::Hours(2));
  EXPECT_THAT(
      c->enrichment.custom_fields,
      UnorderedElementsAre(Pair("env", "prod"), Pair("team", "secops")));
  EXPECT_THAT(c->enrichment.custom_tags, ElementsAre("gcp", "prod"));
  EXPECT_FALSE(c->ingest_http.enabled);
  ASSERT_TRUE(c->ingest_falco_grpc.IsSequence());
  EXPECT_EQ(c->ingest_falco_grpc[0]["address"].Scalar(),
            "unix:///run/falco/falco.sock");
  ASSERT_TRUE(c->ingest_gcpaudit.IsSequence());
  EXPECT_EQ(c->ingest_gcpaudit[0]["name"].Scalar(), "prod-audit");
  EXPECT_EQ(c->dead_letter.file, "/var/log/corral/dead.jsonl");

  ASSERT_EQ(c->outputs.size(), 2u);
  const OutputConfig& s = c->outputs[0];
  EXPECT_EQ(s.name, "secops-slack");
  EXPECT_EQ(s.type, "slack");
  EXPECT_EQ(s.path, "outputs[0]");
  EXPECT_EQ(s.min_priority, Priority::kWarning);
  EXPECT_THAT(s.rules, ElementsAre("Terminal shell*", "Write below etc"));
  EXPECT_THAT(s.tags, ElementsAre("mitre"));
  EXPECT_THAT(s.sources, ElementsAre("syscall", "gcp_auditlog"));
  EXPECT_EQ(s.retry.initial_backoff, absl::Milliseconds(250));
  EXPECT_EQ(s.retry.max_backoff, absl::Seconds(30));
  EXPECT_EQ(s.retry.max_attempts, 7);
  EXPECT_EQ(s.retry.max_age, absl::Hours(12));
  EXPECT_EQ(s.concurrency, 4);
  EXPECT_EQ(s.batch.max_items, 50);
  EXPECT_EQ(s.batch.max_bytes, 64u << 10);
  EXPECT_EQ(s.batch.max_wait, absl::Seconds(2));
  EXPECT_EQ(s.queue_size, 5000);
  EXPECT_EQ(OutputKey(s, "webhook_url"),
            "https://hooks.slack.com/services/T/B/X");

  const OutputConfig& w = c->outputs[1];
  EXPECT_EQ(w.path, "outputs[1]");
  EXPECT_EQ(w.min_priority, Priority::kDebug);
  EXPECT_EQ(w.concurrency, 1);
  EXPECT_EQ(w.retry.max_backoff, absl::Seconds(60));
  EXPECT_EQ(w.queue_size, 10000);
  EXPECT_EQ(OutputKey(w, "url"), "http://127.0.0.1:9000/alerts");
}

TEST(ConfigNative, DefaultsWhenKeysAreAbsent) {
  absl::StatusOr<Config> c = Load("spool: {dir: /data/}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.http, "0.0.0.0:2801");
  EXPECT_EQ(c->listen.max_connections, 10000);
  EXPECT_EQ(c->spool.fsync, "batch");
  EXPECT_EQ(c->dead_letter.file,
            "/data/dead-letter.jsonl");  // follows spool.dir
  EXPECT_TRUE(c->outputs.empty());
  EXPECT_TRUE(c->ingest_falco_grpc.IsNull());
}

TEST(ConfigNative, ExpandsEnvironmentVariables) {
  setenv("CORRAL_CONFIG_TEST_EXPAND_TOKEN", "tok-123", 1);
  setenv("CORRAL_CONFIG_TEST_EXPAND_DIR", "/srv/spool", 1);
  unsetenv("CORRAL_CONFIG_TEST_EXPAND_UNSET");
  absl::StatusOr<Config> c = Load(R"(
listen:
  auth_token: ${CORRAL_CONFIG_TEST_EXPAND_TOKEN}
spool:
  dir: ${CORRAL_CONFIG_TEST_EXPAND_DIR}/a
customfields:
  who: ${CORRAL_CONFIG_TEST_EXPAND_UNSET:-nobody}
  price: "$$5"
outputs:
  - name: hook
    type: webhook
    url: http://h/${CORRAL_CONFIG_TEST_EXPAND_TOKEN}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.auth_token, "tok-123");
  EXPECT_EQ(c->spool.dir, "/srv/spool/a");
  EXPECT_EQ(c->dead_letter.file, "/srv/spool/a/dead-letter.jsonl");
  EXPECT_THAT(c->enrichment.custom_fields,
              UnorderedElementsAre(Pair("who", "nobody"), Pair("price", "$5")));
  EXPECT_EQ(OutputKey(c->outputs[0], "url"), "http://h/tok-123");
}

TEST(ConfigNative, RequiredValueExpandingToNothingSaysSo) {
  unsetenv("CORRAL_CONFIG_TEST_EMPTY_NAME");
  std::string err = LoadError(R"(outputs:
  - name: ${CORRAL_CONFIG_TEST_EMPTY_NAME}
    type: stdout
)");
  EXPECT_THAT(err, HasSubstr("cfg.yaml:2:11: outputs[0].name: is required"));
  EXPECT_THAT(err, HasSubstr("is the variable set?"));
}

TEST(ConfigNative, DurationsAndSizes) {
  absl::StatusOr<Config> c = Load(R"(
listen: {max_body_bytes: 1048576, max_header_bytes: 8K, header_timeout: 1500ms}
spool: {max_bytes: 1GiB, retain: 0}
outputs:
  - name: o
    type: stdout
    retry: {initial_backoff: 100ms, max_backoff: 1m30s, max_age: 0}
    batch: {max_bytes: 10MB, max_wait: 250ms}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.max_body_bytes, 1048576u);
  EXPECT_EQ(c->listen.max_header_bytes, 8192u);
  EXPECT_EQ(c->listen.header_timeout, absl::Milliseconds(1500));
  EXPECT_EQ(c->spool.max_bytes, 1ULL << 30);
  EXPECT_EQ(c->spool.retain, absl::ZeroDuration());
  EXPECT_EQ(c->outputs[0].retry.max_backoff, absl::Seconds(90));
  EXPECT_EQ(c->outputs[0].retry.max_age, absl::ZeroDuration());
  EXPECT_EQ(c->outputs[0].batch.max_bytes, 10000000u);
  EXPECT_EQ(c->outputs[0].batch.max_wait, absl::Milliseconds(250));
}

// ---------------------------------------------------------------------------------------------
// Errors: file name, line, column and key path.

TEST(ConfigErrors, UnknownTopLevelKey) {
  EXPECT_THAT(LoadError("listen: {}\nlisten_http: 1\n"),
              HasSubstr("cfg.yaml:2:1: listen_http: unknown key"));
}

TEST(ConfigErrors, UnknownNestedKey) {
  std::string err = LoadError(R"(listen:
  http: 0.0.0.0:2801
  tls:
    cert_file: a
    key_file: b
    ca_file: c
)");
  EXPECT_THAT(err, HasSubstr("cfg.yaml:6:5: listen.tls.ca_file: unknown key"));
}

TEST(ConfigErrors, UnknownKeyInRetry) {
  std::string err = LoadError(R"(outputs:
  - name: a
    type: stdout
  - name: b
    type: stdout
    retry:
      max_backoff: 10s
      backoff: 1s
)");
  EXPECT_THAT(err,
              HasSubstr("cfg.yaml:8:7: outputs[1].retry.backoff: unknown key"));
}

TEST(ConfigErrors, TypeSpecificKeysAreLeftToTheRegistry) {
  EXPECT_TRUE(
      Load("outputs:\n  - {name: a, type: stdout, anything: 1}\n").ok());
}

TEST(ConfigErrors, WrongTypes) {
  EXPECT_THAT(LoadError("listen:\n  http: [a, b]\n"),
              HasSubstr("cfg.yaml:2:9: listen.http: expected a string"));
  EXPECT_THAT(
      LoadError("ingest:\n  http:\n    enabled: maybe\n"),
      HasSubstr("cfg.yaml:3:14: ingest.http.enabled: expected true or false"));
  EXPECT_THAT(LoadError("outputs:\n  name: a\n"),
              HasSubstr("cfg.yaml:2:3: outputs: expected a list of outputs"));
  EXPECT_THAT(LoadError("spool: /data\n"),
              HasSubstr("cfg.yaml:1:8: spool: expected a mapping"));
  EXPECT_THAT(
      LoadError("customtags: prod\n"),
      HasSubstr("cfg.yaml:1:13: customtags: expected a list of strings"));
  EXPECT_THAT(LoadError("ingest:\n  falco_grpc: {name: a}\n"),
              HasSubstr("cfg.yaml:2:15: ingest.falco_grpc: expected a list"));
  EXPECT_THAT(LoadError("- a\n- b\n"),
              HasSubstr("cfg.yaml:1:1: expected a mapping"));
}

TEST(ConfigErrors, BadDurationAndSize) {
  std::string err = LoadError(R"(outputs:
  - name: a
    type: stdout
    retry: {max_backoff: 10}
    batch:
      max_bytes: 12XB
)");
  EXPECT_THAT(
      err, HasSubstr("cfg.yaml:4:26: outputs[0].retry.max_backoff: expected a "
                     "duration like 500ms, 30s or 24h, got \"10\""));
  EXPECT_THAT(
      err,
      HasSubstr("cfg.yaml:6:18: outputs[0].batch.max_bytes: expected a size"));
}

TEST(ConfigErrors, BadPriority) {
  std::string err = LoadError(R"(outputs:
  - name: a
    type: stdout
    min_priority: loud
)");
  EXPECT_THAT(
      err,
      HasSubstr(
          "cfg.yaml:4:19: outputs[0].min_priority: unknown priority \"loud\""));
}

TEST(ConfigErrors, DuplicateOutputNamesNameBothPositions) {
  std::string err = LoadError(R"(outputs:
  - name: hook
    type: webhook
  - name: other
    type: stdout
  - name: hook
    type: stdout
)");
  EXPECT_THAT(
      err,
      HasSubstr(
          "cfg.yaml:6:11: outputs[2].name: duplicate output name \"hook\": "
          "outputs[0] at cfg.yaml:2:11 has it too"));
}

TEST(ConfigErrors, MissingNameAndType) {
  std::string err = LoadError(R"(outputs:
  - type: stdout
  - name: b
)");
  EXPECT_THAT(err, HasSubstr("cfg.yaml:2:5: outputs[0].name: is required"));
  EXPECT_THAT(err, HasSubstr("cfg.yaml:3:5: outputs[1].type: is required"));
}

TEST(ConfigErrors, BadListenAddresses) {
  EXPECT_THAT(LoadError("listen:\n  http: 0.0.0.0:99999\n"),
              HasSubstr("cfg.yaml:2:9: listen.http: port \"99999\""));
  EXPECT_THAT(LoadError("listen:\n  grpc: \"::1:2803\"\n"),
              HasSubstr("cfg.yaml:2:9: listen.grpc: \"::1:2803\": an IPv6 "
                        "address needs brackets"));
  EXPECT_THAT(
      LoadError("listen:\n  http: localhost\n"),
      HasSubstr("cfg.yaml:2:9: listen.http: \"localhost\" is not host:port"));
  EXPECT_THAT(
      LoadError("listen:\n  http: 300.1.1.1:80\n"),
      HasSubstr(
          "listen.http: \"300.1.1.1\" in \"300.1.1.1:80\" is not an IPv4"));
  EXPECT_THAT(LoadError("listen:\n  http: \"[zz]:80\"\n"),
              HasSubstr("is not an IPv6 address"));
  EXPECT_THAT(LoadError("listen:\n  http: \":80\"\n"),
              HasSubstr("has no host"));
  EXPECT_THAT(LoadError("listen:\n  http: \"bad_host:80\"\n"),
              HasSubstr("not an IPv4 address or a host name"));
  // Valid forms.
  for (const char* ok :
       {"corral.internal:0", "[::]:65535", "10.0.0.1:2801", "my-host:1"}) {
    absl::StatusOr<Config> c =
        Load(absl::StrCat("listen: {http: \"", ok, "\"}\n"));
    EXPECT_TRUE(c.ok()) << ok << ": " << c.status();
  }
}

TEST(ConfigErrors, ValueChecks) {
  EXPECT_THAT(
      LoadError("spool:\n  fsync: sometimes\n"),
      HasSubstr(
          "cfg.yaml:2:10: spool.fsync: \"sometimes\" is not one of: batch, "
          "always, never"));
  EXPECT_THAT(
      LoadError("outputs:\n  - {name: a, type: stdout, concurrency: 0}\n"),
      HasSubstr("outputs[0].concurrency: expected an integer from 1 to 256"));
  EXPECT_THAT(
      LoadError("outputs:\n  - {name: a, type: stdout, concurrency: 257}\n"),
      HasSubstr("outputs[0].concurrency: expected an integer from 1 to 256"));
  EXPECT_THAT(LoadError("outputs:\n  - name: a\n    type: stdout\n    retry: "
                        "{initial_backoff: 2m}\n"),
              HasSubstr("cfg.yaml:4:30: outputs[0].retry.initial_backoff: (2m) "
                        "must not be more than "
                        "max_backoff (1m)"));
  EXPECT_THAT(LoadError("listen:\n  tls:\n    cert_file: /a.crt\n"),
              HasSubstr("cfg.yaml:3:5: listen.tls.key_file: is required when "
                        "cert_file is set"));
  EXPECT_THAT(LoadError("listen:\n  tls: {client_ca_file: /ca.crt}\n"),
              HasSubstr("listen.tls.client_ca_file: needs cert_file"));
  EXPECT_THAT(LoadError("listen: {io_threads: -1}\n"),
              HasSubstr("listen.io_threads"));
  EXPECT_THAT(LoadError("listen: {max_connections: 0}\n"),
              HasSubstr("listen.max_connections"));
}

TEST(ConfigErrors, YamlSyntaxErrorHasPosition) {
  std::string err = LoadError("listen:\n  http: [unclosed\nspool: {}\n");
  EXPECT_THAT(err, HasSubstr("cfg.yaml:"));
  EXPECT_THAT(err, HasSubstr("YAML syntax error"));
  EXPECT_THAT(LoadError("a: b\n c: d\n"),
              HasSubstr("cfg.yaml:2:3: YAML syntax error"));
}

TEST(ConfigErrors, DuplicateYamlKey) {
  EXPECT_THAT(
      LoadError("spool: {dir: /a}\nlisten: {}\nspool: {dir: /b}\n"),
      HasSubstr(
          "cfg.yaml:3:1: spool: key appears twice (first at cfg.yaml:1:1)"));
}

TEST(ConfigErrors, ReportsEveryErrorTogether) {
  std::string err = LoadError(R"(listen:
  http: nowhere
  bogus: 1
spool:
  fsync: sometimes
outputs:
  - name: a
    type: stdout
    min_priority: loud
  - type: stdout
    retry: {max_backoff: soon}
)");
  std::vector<std::string> lines = Lines(err);
  EXPECT_EQ(lines.size(), 6u) << err;
  EXPECT_THAT(err, HasSubstr("cfg.yaml:2:9: listen.http"));
  EXPECT_THAT(err, HasSubstr("cfg.yaml:3:3: listen.bogus: unknown key"));
  EXPECT_THAT(err, HasSubstr("cfg.yaml:5:10: spool.fsync"));
  EXPECT_THAT(err, HasSubstr("cfg.yaml:9:19: outputs[0].min_priority"));
  EXPECT_THAT(err, HasSubstr("cfg.yaml:10:5: outputs[1].name: is required"));
  EXPECT_THAT(err, HasSubstr("cfg.yaml:11:26: outputs[1].retry.max_backoff"));
}

TEST(ConfigFile, MissingFileNamesPathAndReason) {
  TempDir dir;
  std::string path = dir.path() + "/nope.yaml";
  absl::StatusOr<Config> c = LoadConfigFile(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr(path));
  EXPECT_THAT(c.status().message(), HasSubstr("No such file or directory"));

  absl::StatusOr<Config> d = LoadConfigFile(dir.path());
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr(dir.path()));
  EXPECT_THAT(d.status().message(), HasSubstr("Is a directory"));
}

TEST(ConfigFile, ErrorsNameTheFile) {
  TempDir dir;
  std::string path = dir.Write("bad.yaml", "spool:\n  fsync: x\n");
  absl::StatusOr<Config> c = LoadConfigFileWithEnv(path, kNoEnv);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr(path + ":2:10: spool.fsync"));
}

// ---------------------------------------------------------------------------------------------
// Falcosidekick

TEST(ConfigFalcosidekick, MapsWebhookSlackAndEnrichment) {
  absl::StatusOr<Config> c = Load(R"(debug: true
listenaddress: ""
listenport: 2901
customfields:
  Akey: "AValue"
  env: prod
customtags:
  - tagA
  - tagB
webhook:
  address: http://hooks.internal:9000/falco
  method: PUT
  minimumpriority: "warning"
  customheaders:
    Authorization: Bearer abc
    X-Team: secops
  checkcert: false
slack:
  webhookurl: "https://hooks.slack.com/services/T0/B0/XYZ"
  channel: "#alerts"
  footer: ""
  icon: "https://example.com/icon.png"
  username: "Falco"
  outputformat: "fields"
  minimumpriority: ""
  messageformat: 'Alert: {{ .Rule }}'
discord:
  webhookurl: ""
  minimumpriority: ""
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.http, "0.0.0.0:2901");
  EXPECT_EQ(c->listen.grpc, "0.0.0.0:2803");
  EXPECT_THAT(
      c->enrichment.custom_fields,
      UnorderedElementsAre(Pair("Akey", "AValue"), Pair("env", "prod")));
  EXPECT_THAT(c->enrichment.custom_tags, ElementsAre("tagA", "tagB"));
  ASSERT_EQ(c->outputs.size(), 2u);

  const OutputConfig& w = c->outputs[0];
  EXPECT_EQ(w.name, "webhook");
  EXPECT_EQ(w.type, "webhook");
  EXPECT_EQ(w.path, "webhook");
  EXPECT_EQ(w.min_priority, Priority::kWarning);
  EXPECT_EQ(OutputKey(w, "url"), "http://hooks.internal:9000/falco");
  EXPECT_EQ(OutputKey(w, "method"), "PUT");
  EXPECT_EQ(w.node["headers"]["Authorization"].Scalar(), "Bearer abc");
  EXPECT_EQ(w.node["headers"]["X-Team"].Scalar(), "secops");
  EXPECT_EQ(w.node["tls"]["insecure_skip_verify"].as<bool>(), true);
  EXPECT_FALSE(w.node["tls"]["cert_file"].IsDefined());
  // The url node is the file's own, so the registry's errors point at its line.
  EXPECT_EQ(w.node["url"].Mark().line, 10);

  const OutputConfig& s = c->outputs[1];
  EXPECT_EQ(s.name, "slack");
  EXPECT_EQ(s.type, "slack");
  EXPECT_EQ(s.min_priority, Priority::kDebug);  // "" means debug
  EXPECT_EQ(OutputKey(s, "webhook_url"),
            "https://hooks.slack.com/services/T0/B0/XYZ");
  EXPECT_EQ(OutputKey(s, "channel"), "#alerts");
  EXPECT_EQ(OutputKey(s, "icon_url"), "https://example.com/icon.png");
  EXPECT_EQ(OutputKey(s, "username"), "Falco");
  EXPECT_EQ(OutputKey(s, "output_format"), "fields");
  EXPECT_EQ(OutputKey(s, "message_template"), "Alert: {{ .Rule }}");
  EXPECT_FALSE(
      s.node["footer"].IsDefined());  // empty: the slack output's default
  // Only native keys in the node, so the output's own parser accepts it.
  for (auto it = s.node.begin(); it != s.node.end(); ++it) {
    EXPECT_THAT(it->first.Scalar(), Not(HasSubstr("minimumpriority")));
  }
}

// Falcosidekick has no gRPC port: corral's follows listenaddress, so that
// HTTP kept on loopback does not leave gRPC open on every interface, and
// takes a port of the system's choosing when listenport asks for one.
TEST(ConfigFalcosidekick, GrpcListensWhereListenAddressSays) {
  absl::StatusOr<Config> c =
      Load("listenaddress: 127.0.0.1\nlistenport: 2901\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.http, "127.0.0.1:2901");
  EXPECT_EQ(c->listen.grpc, "127.0.0.1:2803");

  c = Load("listenaddress: 127.0.0.1\nlistenport: 0\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.http, "127.0.0.1:0");
  EXPECT_EQ(c->listen.grpc, "127.0.0.1:0");

  c = Load("listenaddress: \"::1\"\nlistenport: 2901\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.grpc, "[::1]:2803");
}

TEST(ConfigFalcosidekick, SampleConfigWithEmptySectionsHasNoOutputs) {
  absl::StatusOr<Config> c = Load(R"(listenport: 2801
slack:
  webhookurl: ""
  outputformat: "all"
webhook:
  address: ""
discord:
  webhookurl: ""
kafka:
  hostport: ""
  topic: ""
aws:
  accesskeyid: ""
  s3:
    bucket: ""
    prefix: ""
  sqs:
    url: ""
gcp:
  credentials: ""
  chronicle:
    projectid: ""
    logtype: "FALCO_IDS"
policyreport:
  enabled: false
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->outputs.empty());
  EXPECT_EQ(c->listen.http, "0.0.0.0:2801");
}

TEST(ConfigFalcosidekick, MutualTlsFiles) {
  absl::StatusOr<Config> c = Load(R"(mutualtlsfilespath: /certs
mutualtlsclient:
  keyfile: /other/client.key
webhook:
  address: https://h/
  mutualtls: true
)");
  ASSERT_TRUE(c.ok()) << c.status();
  YAML::Node tls = c->outputs[0].node["tls"];
  EXPECT_EQ(tls["cert_file"].Scalar(), "/certs/client.crt");
  EXPECT_EQ(tls["key_file"].Scalar(), "/other/client.key");
  EXPECT_EQ(tls["ca_file"].Scalar(), "/certs/ca.crt");
  EXPECT_FALSE(tls["insecure_skip_verify"].IsDefined());

  absl::StatusOr<Config> ca =
      Load("tlsclient: {cacertfile: /ca.pem}\nwebhook: {address: x}\n");
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(ca->outputs[0].node["tls"]["ca_file"].Scalar(), "/ca.pem");
}

TEST(ConfigFalcosidekick, MapsGcpAndAws) {
  TempDir dir;
  std::string key = dir.Write("sa.json", "{}");
  absl::StatusOr<Config> c = Load(absl::StrCat(R"(gcp:
  credentials: )",
                                               key, R"(
  chronicle: {region: europe-west1, projectid: p1, instanceid: i1, minimumpriority: error}
  storage: {bucket: b1, prefix: falco/}
  pubsub: {projectid: p2, topic: t2, customattributes: {team: sec}}
aws:
  accesskeyid: AKIA1
  secretaccesskey: sk1
  region: eu-west-3
  s3: {bucket: b2, endpoint: "http://127.0.0.1:9000"}
)"));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->outputs.size(), 4u);
  const OutputConfig* ch = FindOutput(*c, "chronicle");
  ASSERT_NE(ch, nullptr);
  EXPECT_EQ(ch->type, "chronicle");
  EXPECT_EQ(ch->min_priority, Priority::kError);
  EXPECT_EQ(OutputKey(*ch, "region"), "europe-west1");
  EXPECT_EQ(OutputKey(*ch, "project"), "p1");
  EXPECT_EQ(OutputKey(*ch, "instance"), "i1");
  EXPECT_EQ(OutputKey(*ch, "credentials_file"), key);
  const OutputConfig* gcs = FindOutput(*c, "gcs");
  ASSERT_NE(gcs, nullptr);
  EXPECT_EQ(OutputKey(*gcs, "bucket"), "b1");
  EXPECT_EQ(OutputKey(*gcs, "prefix"), "falco/");
  const OutputConfig* ps = FindOutput(*c, "pubsub");
  ASSERT_NE(ps, nullptr);
  EXPECT_EQ(OutputKey(*ps, "topic"), "projects/p2/topics/t2");
  EXPECT_EQ(ps->node["attributes"]["team"].Scalar(), "sec");
  const OutputConfig* s3 = FindOutput(*c, "s3");
  ASSERT_NE(s3, nullptr);
  EXPECT_EQ(OutputKey(*s3, "bucket"), "b2");
  EXPECT_EQ(OutputKey(*s3, "prefix"), "falco");  // Falcosidekick's default
  EXPECT_EQ(OutputKey(*s3, "region"), "eu-west-3");
  EXPECT_EQ(OutputKey(*s3, "endpoint"), "http://127.0.0.1:9000");
  EXPECT_EQ(OutputKey(*s3, "access_key_id"), "AKIA1");
  EXPECT_EQ(OutputKey(*s3, "secret_access_key"), "sk1");
}

TEST(ConfigFalcosidekick, RefusesWhatItCannotMapFaithfully) {
  // Falcosidekick's inline base64 key.
  EXPECT_THAT(
      LoadError("gcp:\n  credentials: eyJ0eXBlIjogInNlcnZpY2VfYWNjb3VudCJ9\n"
                "  storage: {bucket: b}\n"),
      HasSubstr("cfg.yaml:2:16: gcp.credentials: holds the key itself"));
  // A half-configured chronicle would silently send nothing in Falcosidekick.
  EXPECT_THAT(
      LoadError("gcp:\n  chronicle:\n    projectid: p\n    region: us\n"),
      HasSubstr("missing: gcp.chronicle.instanceid"));
  EXPECT_THAT(
      LoadError("slack:\n  webhookurl: https://h/x\n  mutualtls: true\n"),
      HasSubstr("cfg.yaml:3:14: slack.mutualtls"));
  EXPECT_THAT(
      LoadError("webhook:\n  address: https://h/x\n  minimumpriority: loud\n"),
      HasSubstr(
          "cfg.yaml:3:20: webhook.minimumpriority: unknown priority \"loud\""));
  EXPECT_THAT(
      LoadError("webhook:\n  adress: https://h/x\n"),
      HasSubstr("cfg.yaml:2:3: webhook.adress: unknown Falcosidekick key"));
  EXPECT_THAT(LoadError("listenport: 2801\nfoo: 1\n"),
              HasSubstr("cfg.yaml:2:1: foo: unknown key"));
  EXPECT_THAT(LoadError("listenport: http\n"),
              HasSubstr("cfg.yaml:1:13: listenport: expected a port"));
}

TEST(ConfigFalcosidekick, UnsupportedConfiguredOutputRefuses) {
  std::string err = LoadError(R"(slack:
  webhookurl: https://hooks.slack.com/services/x
discord:
  webhookurl: "https://discord.com/api/webhooks/1"
  minimumpriority: ""
)");
  EXPECT_THAT(
      err,
      HasSubstr("cfg.yaml:4:15: discord: falcosidekick output 'discord' is not "
                "supported by corral"));
  EXPECT_THAT(
      LoadError("aws:\n  sqs:\n    url: https://sqs/q\n"),
      HasSubstr("falcosidekick output 'aws.sqs' is not supported by corral"));
  EXPECT_THAT(
      LoadError("policyreport:\n  enabled: true\n"),
      HasSubstr(
          "falcosidekick output 'policyreport' is not supported by corral"));
}

TEST(ConfigFalcosidekick, MixedSchemasRefuse) {
  std::string err = LoadError(R"(listen:
  http: 0.0.0.0:2801
listenport: 2801
slack:
  webhookurl: https://x/y
)");
  EXPECT_THAT(
      err, HasSubstr("listen (cfg.yaml:1:1) belong to corral's native schema"));
  EXPECT_THAT(
      err,
      HasSubstr("listenport (cfg.yaml:3:1), slack (cfg.yaml:4:1) belong to "
                "Falcosidekick's"));
  EXPECT_EQ(Lines(err).size(), 1u) << err;
}

TEST(ConfigFalcosidekick, KeysAreCaseInsensitiveLikeViper) {
  absl::StatusOr<Config> c = Load(
      "ListenPort: 3001\nSlack:\n  WebhookURL: https://h/x\n  MinimumPriority: "
      "Notice\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.http, "0.0.0.0:3001");
  ASSERT_EQ(c->outputs.size(), 1u);
  EXPECT_EQ(c->outputs[0].min_priority, Priority::kNotice);
  EXPECT_EQ(OutputKey(c->outputs[0], "webhook_url"), "https://h/x");
}

TEST(ConfigFalcosidekickEnv, WebhookAddressAddsToTheEmbeddedDefault) {
  absl::StatusOr<Config> c = LoadConfigTextWithEnv(
      kEmbeddedDefaultConfig, kEmbeddedDefaultSource,
      FakeEnv({{"WEBHOOK_ADDRESS", "http://127.0.0.1:9000/"},
               {"WEBHOOK_MINIMUMPRIORITY", "critical"},
               {"WEBHOOK_CUSTOMHEADERS", "X-A:1, Authorization:Bearer t"},
               {"WEBHOOK_CHECKCERT", "false"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->outputs.size(), 2u);
  EXPECT_EQ(c->outputs[0].name, "stdout");
  const OutputConfig& w = c->outputs[1];
  EXPECT_EQ(w.name, "webhook");
  EXPECT_EQ(w.type, "webhook");
  EXPECT_EQ(w.min_priority, Priority::kCritical);
  EXPECT_EQ(OutputKey(w, "url"), "http://127.0.0.1:9000/");
  EXPECT_EQ(w.node["headers"]["X-A"].Scalar(), "1");
  EXPECT_EQ(w.node["headers"]["Authorization"].Scalar(), "Bearer t");
  EXPECT_TRUE(w.node["tls"]["insecure_skip_verify"].as<bool>());
  EXPECT_EQ(c->listen.http, "0.0.0.0:2801");  // untouched
}

TEST(ConfigFalcosidekickEnv, ListenPortAndAddress) {
  absl::StatusOr<Config> c =
      LoadConfigTextWithEnv(kEmbeddedDefaultConfig, kEmbeddedDefaultSource,
                            FakeEnv({{"LISTENPORT", "3000"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.http, "0.0.0.0:3000");
  EXPECT_EQ(c->outputs.size(), 1u);

  absl::StatusOr<Config> d = Load("listen: {http: \"127.0.0.1:8080\"}\n",
                                  FakeEnv({{"LISTENADDRESS", "::1"}}));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->listen.http, "[::1]:8080");

  EXPECT_THAT(
      LoadError("{}", FakeEnv({{"LISTENPORT", "70000"}})),
      HasSubstr(
          "listenport (environment variable LISTENPORT): expected a port"));
}

TEST(ConfigFalcosidekickEnv, OverridesTheFalcosidekickFile) {
  absl::StatusOr<Config> c = Load(
      "listenport: 2801\nslack:\n  webhookurl: https://file/x\n  channel: "
      "'#file'\n",
      FakeEnv({{"SLACK_WEBHOOKURL", "https://env/y"},
               {"SLACK_MINIMUMPRIORITY", "error"},
               {"LISTENPORT", "4000"},
               {"CUSTOMFIELDS", "a:1,b:x:y"},
               {"CUSTOMTAGS", "t1, t2"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen.http, "0.0.0.0:4000");
  ASSERT_EQ(c->outputs.size(), 1u);
  EXPECT_EQ(OutputKey(c->outputs[0], "webhook_url"), "https://env/y");
  EXPECT_EQ(OutputKey(c->outputs[0], "channel"), "#file");
  EXPECT_EQ(c->outputs[0].min_priority, Priority::kError);
  EXPECT_THAT(c->enrichment.custom_fields,
              UnorderedElementsAre(Pair("a", "1"), Pair("b", "x:y")));
  EXPECT_THAT(c->enrichment.custom_tags, ElementsAre("t1", "t2"));
}

TEST(ConfigFalcosidekickEnv, EnvValuesAreNotExpandedAgain) {
  unsetenv("CORRAL_CONFIG_TEST_NOT_EXPANDED");
  absl::StatusOr<Config> c =
      Load("{}", FakeEnv({{"SLACK_WEBHOOKURL",
                           "https://h/${CORRAL_CONFIG_TEST_NOT_EXPANDED}$$"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(OutputKey(c->outputs[0], "webhook_url"),
            "https://h/${CORRAL_CONFIG_TEST_NOT_EXPANDED}$$");
}

TEST(ConfigFalcosidekickEnv, GcpAndAwsFromEnvironment) {
  absl::StatusOr<Config> c =
      Load("{}", FakeEnv({{"GCP_PUBSUB_PROJECTID", "p"},
                          {"GCP_PUBSUB_TOPIC", "t"},
                          {"GCP_PUBSUB_CUSTOMATTRIBUTES", "k:v"},
                          {"AWS_S3_BUCKET", "b"},
                          {"AWS_REGION", "us-east-2"},
                          {"GCP_CHRONICLE_PROJECTID", "p"}}));
  ASSERT_FALSE(c.ok());  // chronicle lacks region and instanceid
  EXPECT_THAT(c.status().message(),
              HasSubstr("gcp.chronicle.projectid (environment variable "
                        "GCP_CHRONICLE_PROJECTID): "
                        "falcosidekick output 'gcp.chronicle' needs"));
  absl::StatusOr<Config> d =
      Load("{}", FakeEnv({{"GCP_PUBSUB_PROJECTID", "p"},
                          {"GCP_PUBSUB_TOPIC", "t"},
                          {"GCP_PUBSUB_CUSTOMATTRIBUTES", "k:v"},
                          {"AWS_S3_BUCKET", "b"},
                          {"AWS_REGION", "us-east-2"}}));
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->outputs.size(), 2u);
  EXPECT_EQ(OutputKey(*FindOutput(*d, "pubsub"), "topic"),
            "projects/p/topics/t");
  EXPECT_EQ(FindOutput(*d, "pubsub")->node["attributes"]["k"].Scalar(), "v");
  EXPECT_EQ(OutputKey(*FindOutput(*d, "s3"), "region"), "us-east-2");
}

TEST(ConfigFalcosidekickEnv, UnsupportedOutputFromEnvironmentRefuses) {
  std::string err = LoadError(kEmbeddedDefaultConfig,
                              FakeEnv({{"LOKI_HOSTPORT", "http://loki"}}));
  EXPECT_THAT(
      err, HasSubstr("falcosidekick output 'loki' is not supported by corral"));
  EXPECT_THAT(err, HasSubstr("environment variable LOKI_HOSTPORT"));
}

TEST(ConfigFalcosidekickEnv, NameClashWithNativeOutput) {
  std::string err = LoadError("outputs:\n  - {name: webhook, type: stdout}\n",
                              FakeEnv({{"WEBHOOK_ADDRESS", "http://x/"}}));
  EXPECT_THAT(
      err, HasSubstr(
               "webhook.name: duplicate output name \"webhook\": outputs[0] at "
               "cfg.yaml:2:12 has it too"));
}

TEST(ConfigFalcosidekickEnv, BadCustomFields) {
  EXPECT_THAT(LoadError("{}", FakeEnv({{"CUSTOMFIELDS", "a:1,broken"}})),
              HasSubstr("customfields (environment variable CUSTOMFIELDS): "
                        "expected key:value"));
}

// ---------------------------------------------------------------------------------------------
// RenderEffectiveConfig

TEST(ConfigRender, MasksSecretsAndRoundTrips) {
  setenv("CORRAL_CONFIG_TEST_RENDER_TOKEN", "tok-render-1", 1);
  absl::StatusOr<Config> c = Load(R"(
listen:
  auth_token: ${CORRAL_CONFIG_TEST_RENDER_TOKEN}
customfields: {env: prod}
customtags: [a]
outputs:
  - name: slack
    type: slack
    min_priority: warning
    webhook_url: https://hooks.slack.com/services/T0/B0/SECRETPATH
    retry: {initial_backoff: 1s, max_backoff: 2m, max_attempts: 3}
    concurrency: 2
  - name: hook
    type: webhook
    url: http://hook.internal:9000/path?key=SECRETQUERY
    headers:
      Authorization: Bearer SECRETBEARER
      X-Api-Key: SECRETAPIKEY
      X-Team: secops
    token: SECRETTOKEN
  - name: s3
    type: s3
    bucket: b
    access_key_id: AKIASECRET
    secret_access_key: SECRETACCESS
    tags: [x, y]
)");
  ASSERT_TRUE(c.ok()) << c.status();
  std::string out = RenderEffectiveConfig(*c);
  for (const char* secret :
       {"tok-render-1", "SECRETPATH", "SECRETQUERY", "SECRETBEARER",
        "SECRETAPIKEY", "SECRETTOKEN", "AKIASECRET", "SECRETACCESS"}) {
    EXPECT_THAT(out, Not(HasSubstr(secret))) << out;
  }
  EXPECT_THAT(out, HasSubstr("https://hooks.slack.com/***"));
  EXPECT_THAT(out, HasSubstr("http://hook.internal:9000/***"));
  EXPECT_THAT(out, HasSubstr("X-Team: secops"));
  EXPECT_THAT(out, HasSubstr("bucket: b"));

  absl::StatusOr<Config> again = LoadConfigTextWithEnv(out, "rendered", kNoEnv);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << out;
  EXPECT_EQ(again->listen.http, c->listen.http);
  EXPECT_EQ(again->listen.grpc, c->listen.grpc);
  EXPECT_EQ(again->listen.auth_token, "***");
  EXPECT_EQ(again->spool.dir, c->spool.dir);
  EXPECT_EQ(again->dead_letter.file, c->dead_letter.file);
  EXPECT_EQ(again->enrichment.custom_fields, c->enrichment.custom_fields);
  EXPECT_EQ(again->enrichment.custom_tags, c->enrichment.custom_tags);
  ASSERT_EQ(again->outputs.size(), c->outputs.size());
  for (size_t i = 0; i < c->outputs.size(); ++i) {
    const OutputConfig& a = c->outputs[i];
    const OutputConfig& b = again->outputs[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.min_priority, b.min_priority);
    EXPECT_EQ(a.tags, b.tags);
    EXPECT_EQ(a.retry.initial_backoff, b.retry.initial_backoff);
    EXPECT_EQ(a.retry.max_backoff, b.retry.max_backoff);
    EXPECT_EQ(a.retry.max_attempts, b.retry.max_attempts);
    EXPECT_EQ(a.retry.max_age, b.retry.max_age);
    EXPECT_EQ(a.concurrency, b.concurrency);
    EXPECT_EQ(a.batch.max_items, b.batch.max_items);
    EXPECT_EQ(a.batch.max_wait, b.batch.max_wait);
    EXPECT_EQ(a.queue_size, b.queue_size);
  }
  EXPECT_EQ(OutputKey(again->outputs[2], "bucket"), "b");
  // Rendering is stable.
  EXPECT_EQ(RenderEffectiveConfig(*again), out);
}

TEST(ConfigRender, ShowsTheFalcosidekickMappingInNativeForm) {
  absl::StatusOr<Config> c = Load(
      "listenport: 2999\nslack:\n  webhookurl: "
      "https://hooks.slack.com/services/A/B/C\n",
      FakeEnv({{"AWS_S3_BUCKET", "bkt"},
               {"AWS_SECRETACCESSKEY", "SECRETFROMENV"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  std::string out = RenderEffectiveConfig(*c);
  EXPECT_THAT(out, HasSubstr("http: 0.0.0.0:2999"));
  EXPECT_THAT(out, HasSubstr("webhook_url: https://hooks.slack.com/***"));
  EXPECT_THAT(out, Not(HasSubstr("SECRETFROMENV")));
  EXPECT_THAT(out, Not(HasSubstr("listenport")));
  absl::StatusOr<Config> again = LoadConfigTextWithEnv(out, "rendered", kNoEnv);
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << out;
  ASSERT_EQ(again->outputs.size(), 2u);
  EXPECT_EQ(again->outputs[0].type, "slack");
  EXPECT_EQ(again->outputs[1].type, "s3");
  EXPECT_EQ(again->listen.http, "0.0.0.0:2999");
}

TEST(ConfigTemplatedFields, NativeFalcosidekickAndEnvironment) {
  const std::string kDkey = R"({{ or (index . "k8s.ns.labels.foo") "bar" }})";
  absl::StatusOr<Config> native = Load(
      absl::StrCat("templatedfields:\n  Dkey: '", kDkey, "'\noutputs: []\n"));
  ASSERT_TRUE(native.ok()) << native.status();
  ASSERT_EQ(native->enrichment.templated_fields.count("Dkey"), 1u);
  EXPECT_EQ(native->enrichment.templated_fields.at("Dkey").text(), kDkey);

  // A Falcosidekick file, with TEMPLATEDFIELDS adding one.
  absl::StatusOr<Config> fsk =
      Load(absl::StrCat("listenport: 2801\ntemplatedfields:\n  Dkey: '", kDkey,
                        "'\nslack:\n  webhookurl: https://hooks/x\n"),
           FakeEnv({{"TEMPLATEDFIELDS", "who:{{ index . \"user.name\" }}"}}));
  ASSERT_TRUE(fsk.ok()) << fsk.status();
  EXPECT_EQ(fsk->enrichment.templated_fields.size(), 2u);
  EXPECT_EQ(fsk->enrichment.templated_fields.at("who").text(),
            "{{ index . \"user.name\" }}");

  // The effective config keeps them, whatever characters they hold.
  Config odd = *native;
  const std::string kOdd = "it's \"{{ .a }}\": $${X} ${Y} \x01\t{{ `:` }}";
  odd.enrichment.templated_fields.insert_or_assign("odd: key",
                                                   *FieldTemplate::Parse(kOdd));
  absl::StatusOr<Config> again = Load(RenderEffectiveConfig(odd));
  ASSERT_TRUE(again.ok()) << again.status() << RenderEffectiveConfig(odd);
  EXPECT_EQ(again->enrichment.templated_fields.at("Dkey").text(), kDkey);
  EXPECT_EQ(again->enrichment.templated_fields.at("odd: key").text(), kOdd);
}

TEST(ConfigTemplatedFields, ATemplateCorralCannotRunIsAnErrorNamingItsKey) {
  std::string error = LoadError(
      "templatedfields:\n  fine: '{{ .user }}'\n  bad: '{{ upper .user }}'\n");
  EXPECT_THAT(error, HasSubstr("templatedfields.bad"));
  EXPECT_THAT(error, HasSubstr("'upper' is not supported"));
  EXPECT_THAT(error, Not(HasSubstr("templatedfields.fine")));
}

// Found by fuzzing: a field name that is not UTF-8 made the alert's output
// fields invalid JSON once enriched.
TEST(ConfigEnrichment, KeysAndValuesMustBeUtf8) {
  EXPECT_THAT(LoadError("customfields:\n  a\xC4"
                        "b: v\n"),
              HasSubstr("customfields.a\\xc4\\x62: not valid UTF-8"));
  EXPECT_THAT(LoadError("customfields:\n  a: \xFF\n"),
              HasSubstr("customfields.a: not valid UTF-8"));
  EXPECT_THAT(LoadError("templatedfields:\n  t: '{{ .a }}\xC0\x80'\n"),
              HasSubstr("templatedfields.t: not valid UTF-8"));
  EXPECT_THAT(LoadError("customtags: [\xED\xA0\x80]\n"),
              HasSubstr("not valid UTF-8"));
  EXPECT_TRUE(Load("customfields: {équipe: sécurité}\n").ok());
}

TEST(ConfigRender, DollarSignsSurviveTheRoundTrip) {
  absl::StatusOr<Config> c =
      Load("customfields: {price: \"$${X} and $$$$\"}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->enrichment.custom_fields.at("price"), "${X} and $$");
  absl::StatusOr<Config> again = Load(RenderEffectiveConfig(*c));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->enrichment.custom_fields.at("price"), "${X} and $$");
}

// Found by fuzzing: a null type-specific key was rendered as nothing at all,
// so every later key of the output moved onto the previous value (and the
// effective config was not YAML).
// Found by fuzzing: an unknown key of 300 control bytes is 1,200 characters
// once escaped, past YAML's 1024 for a key written in place, so the effective
// config did not load.
TEST(ConfigRender, KeysTooLongOnceEscapedAreWrittenExplicitly) {
  const std::string odd_key(300, '\x01');
  const std::string long_plain_key(1100, 'k');
  absl::StatusOr<Config> c = Load(absl::StrCat(
      "customfields: {\"", std::string(300, '\x02'), "\": v}\n",
      "outputs:\n  - name: hook\n    type: webhook\n    url: http://h/\n",
      "    \"", odd_key, "\": S\n", "    ? ", long_plain_key, "\n    : L\n",
      "    nested: {\"", odd_key, "\": N}\n"));
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string out = RenderEffectiveConfig(*c);
  YAML::Node rendered;
  ASSERT_NO_THROW(rendered = YAML::Load(out)) << out;
  YAML::Node hook = rendered["outputs"][0];
  EXPECT_EQ(hook[odd_key].as<std::string>(), "S");
  EXPECT_EQ(hook[long_plain_key].as<std::string>(), "L");
  EXPECT_EQ(hook["nested"][odd_key].as<std::string>(), "N");
  EXPECT_EQ(
      rendered["customfields"][std::string(300, '\x02')].as<std::string>(),
      "v");
}

TEST(ConfigRender, NullKeysStayNull) {
  absl::StatusOr<Config> c = Load(R"(outputs:
  - {name: hook, type: webhook, url: "http://h/", headers: ~, method: PUT}
ingest:
  gcpaudit:
    - {name: a, subscription: projects/p/subscriptions/s, rules_files: ~, rule_matching: all}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string out = RenderEffectiveConfig(*c);
  YAML::Node rendered = YAML::Load(out);
  YAML::Node hook = rendered["outputs"][0];
  EXPECT_TRUE(hook["headers"].IsNull()) << out;
  EXPECT_EQ(hook["method"].as<std::string>(), "PUT") << out;
  YAML::Node audit = rendered["ingest"]["gcpaudit"][0];
  EXPECT_TRUE(audit["rules_files"].IsNull()) << out;
  EXPECT_EQ(audit["rule_matching"].as<std::string>(), "all") << out;
}

}  // namespace
}  // namespace corral::core
