#include "server/app.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "core/file_util.h"
#include "core/log.h"

namespace corral::server {
namespace {

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

// "0.0.0.0:2801" with the port actually bound.
std::string BoundAddress(const std::string& configured, int port) {
  return absl::StrCat(configured.substr(0, configured.rfind(':')), ":", port);
}

// Where the input named `input` ("gcpaudit/NAME") records what it cannot
// turn into an accepted alert.
core::RejectedInputSink DeadLetterSink(router::DeadLetterFile* dead_letters,
                                       std::string input) {
  return [dead_letters, input = std::move(input)](absl::string_view message_id,
                                                  absl::string_view reason,
                                                  absl::string_view data) {
    if (dead_letters == nullptr) {
      return absl::FailedPreconditionError("no dead-letter file");
    }
    return dead_letters->WriteRejectedInput(input, message_id, reason, data);
  };
}

// A YAML node as text, to tell whether two config sections differ.
std::string NodeText(const YAML::Node& node) {
  YAML::Emitter out;
  out << node;
  return out.c_str();
}

// The `index`th entry of an ingest list node (null when there is none).
YAML::Node EntryNode(const YAML::Node& list, size_t index) {
  if (!list.IsSequence() || index >= list.size()) return YAML::Node();
  return list[index];
}

// What an ingest entry is built from: its keys, and the files it reads
// (rules), so that a reload restarts it when either changed.
std::string Fingerprint(const YAML::Node& entry,
                        const std::vector<std::string>& files) {
  std::string fingerprint = NodeText(entry);
  for (const std::string& file : files) {
    absl::StatusOr<std::string> text = core::ReadFileToString(file);
    absl::StrAppend(&fingerprint, "\n--- ", file, "\n",
                    text.ok() ? *text : text.status().ToString());
  }
  return fingerprint;
}

const std::string& IngestName(const ingest::gcpaudit::GcpAuditIngest& ingest) {
  return ingest.config().name;
}
const std::string& IngestName(
    const ingest::falco_grpc::FalcoGrpcClient& client) {
  return client.name();
}

// Every built ingest entry's fingerprint, by "KIND/NAME"; `built` is in the
// order of the entries in `list`.
template <typename Ingest>
std::map<std::string, std::string> Fingerprints(
    const std::vector<std::unique_ptr<Ingest>>& built, const YAML::Node& list,
    const std::string& kind) {
  std::map<std::string, std::string> fingerprints;
  for (size_t i = 0; i < built.size(); ++i) {
    std::vector<std::string> files;
    if constexpr (std::is_same_v<Ingest, ingest::gcpaudit::GcpAuditIngest>) {
      files = built[i]->config().rules_files;
    }
    fingerprints[absl::StrCat(kind, "/", IngestName(*built[i]))] =
        Fingerprint(EntryNode(list, i), files);
  }
  return fingerprints;
}

// The sections a reload does not change, by name, when they differ.
std::vector<std::string> SectionsNeedingRestart(const core::Config& running,
                                                const core::Config& next) {
  std::vector<std::string> sections;
  if (!(running.listen == next.listen)) sections.push_back("listen");
  if (!(running.spool == next.spool)) sections.push_back("spool");
  if (!(running.dead_letter == next.dead_letter)) {
    sections.push_back("dead_letter");
  }
  if (!(running.ingest_http == next.ingest_http)) {
    sections.push_back("ingest.http");
  }
  return sections;
}

// Swaps `running` ingest entries for `built` ones where their fingerprints
// differ (entries added, changed or removed); unchanged entries keep running
// and their new copies are dropped unstarted. Stopped entries go to
// `stopped` (their last callbacks may still run); `changed` gets their names.
template <typename Ingest>
void SwapIngests(std::vector<std::unique_ptr<Ingest>>& running,
                 std::vector<std::unique_ptr<Ingest>> built,
                 const std::map<std::string, std::string>& fingerprints,
                 const std::string& kind, absl::Time stop_deadline,
                 std::map<std::string, std::string>& running_fingerprints,
                 std::vector<std::unique_ptr<Ingest>>& stopped,
                 std::vector<std::string>& changed) {
  auto key = [&](const Ingest& ingest) {
    return absl::StrCat(kind, "/", IngestName(ingest));
  };
  std::vector<std::unique_ptr<Ingest>> next;
  std::vector<Ingest*> to_start;
  for (std::unique_ptr<Ingest>& candidate : built) {
    const std::string name = key(*candidate);
    auto same = std::find_if(running.begin(), running.end(), [&](auto& r) {
      return r != nullptr && key(*r) == name &&
             running_fingerprints[name] == fingerprints.at(name);
    });
    if (same != running.end()) {
      next.push_back(std::move(*same));
    } else {
      to_start.push_back(candidate.get());
      next.push_back(std::move(candidate));
      changed.push_back(name);
    }
  }
  std::vector<Ingest*> to_stop;
  for (std::unique_ptr<Ingest>& old : running) {
    if (old == nullptr) continue;
    if (!fingerprints.contains(key(*old))) changed.push_back(key(*old));
    to_stop.push_back(old.get());
  }
  for (Ingest* old : to_stop) old->BeginStop();
  for (Ingest* old : to_stop) old->Stop(stop_deadline);
  for (std::unique_ptr<Ingest>& old : running) {
    if (old != nullptr) stopped.push_back(std::move(old));
  }
  running = std::move(next);
  for (Ingest* ingest : to_start) ingest->Start();
  std::erase_if(running_fingerprints, [&](const auto& entry) {
    return absl::StartsWith(entry.first, kind + "/") &&
           !fingerprints.contains(entry.first);
  });
  for (const auto& [name, fingerprint] : fingerprints) {
    running_fingerprints[name] = fingerprint;
  }
}

}  // namespace

absl::StatusOr<std::vector<std::unique_ptr<outputs::Output>>> BuildOutputs(
    const core::Config& config, const outputs::Registry& registry,
    const outputs::OutputContext& context) {
  std::vector<std::unique_ptr<outputs::Output>> built;
  std::vector<std::string> errors;
  for (const core::OutputConfig& output : config.outputs) {
    absl::StatusOr<std::unique_ptr<outputs::Output>> created =
        registry.Create(output, config.source, context);
    if (created.ok()) {
      built.push_back(*std::move(created));
    } else {
      errors.emplace_back(created.status().message());
    }
  }
  if (!errors.empty())
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  return built;
}

absl::StatusOr<std::vector<std::unique_ptr<ingest::gcpaudit::GcpAuditIngest>>>
BuildGcpAuditIngests(const core::Config& config, core::Intake* intake,
                     router::DeadLetterFile* dead_letters,
                     core::MetricsRegistry* metrics) {
  absl::StatusOr<std::vector<ingest::gcpaudit::GcpAuditConfig>> entries =
      ingest::gcpaudit::ParseGcpAuditConfigs(config.ingest_gcpaudit,
                                             config.source, getenv);
  if (!entries.ok()) return entries.status();
  std::vector<std::unique_ptr<ingest::gcpaudit::GcpAuditIngest>> built;
  std::vector<std::string> errors;
  const std::string hostname = Hostname();
  for (ingest::gcpaudit::GcpAuditConfig& entry : *entries) {
    ingest::gcpaudit::RejectedMessageSink rejected =
        DeadLetterSink(dead_letters, absl::StrCat("gcpaudit/", entry.name));
    absl::StatusOr<std::unique_ptr<ingest::gcpaudit::GcpAuditIngest>> ingest =
        ingest::gcpaudit::GcpAuditIngest::Create(
            std::move(entry), intake, std::move(rejected), metrics, hostname);
    if (ingest.ok()) {
      built.push_back(*std::move(ingest));
    } else {
      errors.emplace_back(ingest.status().message());
    }
  }
  if (!errors.empty())
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  return built;
}

absl::StatusOr<
    std::vector<std::unique_ptr<ingest::falco_grpc::FalcoGrpcClient>>>
BuildFalcoGrpcIngests(const core::Config& config, core::Intake* intake,
                      router::DeadLetterFile* dead_letters,
                      core::MetricsRegistry* metrics) {
  absl::StatusOr<std::vector<ingest::falco_grpc::FalcoGrpcConfig>> entries =
      ingest::falco_grpc::ParseFalcoGrpcConfigs(config.ingest_falco_grpc,
                                                config.source);
  if (!entries.ok()) return entries.status();
  std::vector<std::unique_ptr<ingest::falco_grpc::FalcoGrpcClient>> built;
  std::vector<std::string> errors;
  const std::string hostname = Hostname();
  for (ingest::falco_grpc::FalcoGrpcConfig& entry : *entries) {
    core::RejectedInputSink rejected =
        DeadLetterSink(dead_letters, absl::StrCat("falco_grpc/", entry.name));
    absl::StatusOr<std::unique_ptr<ingest::falco_grpc::FalcoGrpcClient>>
        client = ingest::falco_grpc::FalcoGrpcClient::Create(
            std::move(entry), intake, std::move(rejected), metrics, hostname);
    if (client.ok()) {
      built.push_back(*std::move(client));
    } else {
      errors.emplace_back(client.status().message());
    }
  }
  if (!errors.empty())
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  return built;
}

App::App(core::Config config, const outputs::Registry* registry)
    : config_(std::move(config)), registry_(registry) {
  reloads_ = metrics_.AddCounter("corral_config_reloads_total",
                                 "Configuration reloads (SIGHUP), by result.",
                                 {"result"});
  last_reload_successful_ =
      metrics_
          .AddGauge("corral_config_last_reload_successful",
                    "1 when the last reload was applied (or none was tried), "
                    "0 when it was refused.",
                    {})
          ->With({});
  last_reload_successful_->Set(1);
  last_reload_success_time_ =
      metrics_
          .AddGauge("corral_config_last_reload_success_timestamp_seconds",
                    "When the running configuration was applied (start or "
                    "reload), in seconds since the epoch.",
                    {})
          ->With({});
  last_reload_success_time_->Set(absl::ToUnixSeconds(absl::Now()));
}

App::~App() {
  for (auto& ingest : gcpaudit_) ingest->BeginStop();
  for (auto& client : falco_grpc_) client->BeginStop();
  for (auto& ingest : gcpaudit_) ingest->Stop(absl::Now());
  for (auto& client : falco_grpc_) client->Stop(absl::Now());
  if (http_server_) http_server_->Stop();
  if (feed_) feed_->Close();
  if (grpc_server_) grpc_server_->Shutdown(absl::ZeroDuration());
  if (router_) router_->Stop();
  // The spool's last callbacks route into the queues: it goes before them.
  spool_.reset();
  gcpaudit_.clear();
  stopped_gcpaudit_.clear();
}

absl::StatusOr<std::unique_ptr<App>> App::Create(
    core::Config config, const outputs::Registry& registry) {
  std::unique_ptr<App> app(new App(std::move(config), &registry));
  const core::Config& cfg = app->config_;

  absl::StatusOr<std::vector<std::unique_ptr<outputs::Output>>> outputs =
      BuildOutputs(cfg, registry, outputs::OutputContext{});
  if (!outputs.ok()) return outputs.status();

  absl::StatusOr<router::SpoolOptions> spool_options =
      router::SpoolOptions::FromConfig(cfg.spool);
  if (!spool_options.ok()) return spool_options.status();
  absl::StatusOr<std::unique_ptr<router::Spool>> spool = router::Spool::Open(
      *std::move(spool_options), &app->metrics_, core::Clock::Real());
  if (!spool.ok()) return spool.status();
  app->spool_ = *std::move(spool);

  app->dead_letters_ = std::make_unique<router::DeadLetterFile>(
      cfg.dead_letter.file, core::Clock::Real());
  std::vector<std::unique_ptr<router::OutputQueue>> queues;
  for (size_t i = 0; i < cfg.outputs.size(); ++i) {
    app->outputs_.push_back((*outputs)[i].get());
    queues.push_back(std::make_unique<router::OutputQueue>(
        cfg.outputs[i], std::move((*outputs)[i]), app->dead_letters_.get(),
        &app->metrics_));
  }
  app->feed_ = std::make_unique<router::AlertFeed>(&app->metrics_,
                                                   app->spool_->durable_seq());
  app->router_ = std::make_unique<router::Router>(
      std::move(queues), app->spool_.get(), app->feed_.get());
  app->intake_ = std::make_unique<core::EnrichingIntake>(cfg.enrichment,
                                                         app->router_.get());
  app->http_ingest_ = std::make_unique<ingest::HttpAlertIngest>(
      app->intake_.get(), &app->metrics_, Hostname());
  absl::StatusOr<std::vector<std::unique_ptr<ingest::gcpaudit::GcpAuditIngest>>>
      gcpaudit = BuildGcpAuditIngests(cfg, app->intake_.get(),
                                      app->dead_letters_.get(), &app->metrics_);
  if (!gcpaudit.ok()) return gcpaudit.status();
  app->ingest_fingerprints_ =
      Fingerprints(*gcpaudit, cfg.ingest_gcpaudit, "gcpaudit");
  app->gcpaudit_ = *std::move(gcpaudit);
  absl::StatusOr<
      std::vector<std::unique_ptr<ingest::falco_grpc::FalcoGrpcClient>>>
      falco_grpc = BuildFalcoGrpcIngests(
          cfg, app->intake_.get(), app->dead_letters_.get(), &app->metrics_);
  if (!falco_grpc.ok()) return falco_grpc.status();
  app->ingest_fingerprints_.merge(
      Fingerprints(*falco_grpc, cfg.ingest_falco_grpc, "falco_grpc"));
  app->falco_grpc_ = *std::move(falco_grpc);
  app->routes_ = std::make_unique<HttpRoutes>(
      app->http_ingest_.get(), &app->metrics_, &app->state_,
      cfg.listen.auth_token, cfg.ingest_http.enabled);

  HttpServerOptions http;
  http.address = cfg.listen.http;
  http.max_body_bytes = cfg.listen.max_body_bytes;
  http.max_header_bytes = cfg.listen.max_header_bytes;
  http.header_timeout = cfg.listen.header_timeout;
  http.idle_timeout = cfg.listen.idle_timeout;
  http.io_threads = cfg.listen.io_threads;
  http.max_connections = cfg.listen.max_connections;
  http.tls = cfg.listen.tls;
  http.metrics = &app->metrics_;
  HttpRoutes* routes = app->routes_.get();
  app->http_server_ = std::make_unique<HttpServer>(
      http, [routes](HttpServerRequest request, HttpReply reply) {
        routes->Handle(std::move(request), std::move(reply));
      });
  app->alerts_service_ = std::make_unique<AlertsService>(
      AlertsService::Options{.auth_token = cfg.listen.auth_token,
                             .subscriber_buffer = cfg.listen.subscriber_buffer},
      app->intake_.get(), app->feed_.get(), app->spool_.get(),
      app->router_.get(), &app->metrics_);
  app->falco_service_ = std::make_unique<FalcoOutputsService>(
      cfg.listen.auth_token, cfg.listen.subscriber_buffer, app->feed_.get());
  app->grpc_server_ = std::make_unique<GrpcServer>(cfg.listen);
  app->grpc_server_->AddService(app->alerts_service_.get());
  app->grpc_server_->AddService(app->falco_service_.get());
  return app;
}

absl::Status App::Start() {
  if (absl::Status s = dead_letters_->Open(); !s.ok()) return s;
  for (size_t i = 0; i < outputs_.size(); ++i) {
    if (absl::Status s = outputs_[i]->Start(); !s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("output \"", config_.outputs[i].name,
                       "\" cannot start: ", s.message()));
    }
  }
  outputs_.clear();  // their queues own them
  if (absl::Status s = router_->Start(); !s.ok()) return s;
  // Health, ping, metrics and /test are served whether or not alerts come in
  // over HTTP.
  if (absl::Status s = http_server_->Start(); !s.ok()) return s;
  if (absl::Status s = grpc_server_->Start(); !s.ok()) return s;
  for (auto& ingest : gcpaudit_) {
    ingest->Start();
    const ingest::gcpaudit::GcpAuditConfig& c = ingest->config();
    core::LogInfo("subscribing to Pub/Sub",
                  {{"subscription", c.name},
                   {"pubsub", c.subscription},
                   {"endpoint", c.connection.endpoint},
                   {"credentials", ingest->credentials()},
                   {"rules", absl::StrCat(ingest->rule_count())}});
  }
  for (auto& client : falco_grpc_) {
    client->Start();
    core::LogInfo("reading Falco's gRPC output",
                  {{"connection", client->name()},
                   {"address", client->address()},
                   {"security", client->security()}});
  }

  state_ = ServingState::kServing;
  grpc_server_->SetServing(true);
  std::vector<std::string> names;
  for (const core::OutputConfig& output : config_.outputs) {
    names.push_back(absl::StrCat(output.name, "(", output.type, ")"));
  }
  core::LogInfo(
      "listening",
      {{"http", BoundAddress(config_.listen.http, http_server_->port())},
       {"http_alerts", config_.ingest_http.enabled ? "on" : "off"},
       {"grpc", BoundAddress(config_.listen.grpc, grpc_server_->port())},
       {"outputs", absl::StrJoin(names, ",")},
       {"replayed", absl::StrCat(router_->replayed())},
       {"config", config_.source}});
  return absl::OkStatus();
}

absl::Status App::Reload(absl::StatusOr<core::Config> next) {
  core::LogInfo("reloading the configuration", {{"config", config_.source}});
  absl::Status applied =
      next.ok() ? ApplyConfig(*std::move(next)) : next.status();
  if (!applied.ok()) {
    reloads_->With({"failure"})->Inc();
    last_reload_successful_->Set(0);
    core::LogError("configuration not reloaded: the running one goes on",
                   {{"errors", applied.message()}});
    return applied;
  }
  reloads_->With({"success"})->Inc();
  last_reload_successful_->Set(1);
  last_reload_success_time_->Set(absl::ToUnixSeconds(absl::Now()));
  return absl::OkStatus();
}

absl::Status App::ApplyConfig(core::Config next) {
  // Build and start everything new first: any failure leaves all as it was.
  const std::shared_ptr<const router::Router::QueueSet> running =
      router_->queues();
  router::Router::QueueSet queues;
  std::vector<std::string> added, changed, kept, errors;
  for (const core::OutputConfig& output : next.outputs) {
    auto old_config = std::find_if(
        config_.outputs.begin(), config_.outputs.end(),
        [&](const core::OutputConfig& c) { return c.name == output.name; });
    auto old_queue = std::find_if(
        running->begin(), running->end(),
        [&](const auto& queue) { return queue->name() == output.name; });
    if (old_config != config_.outputs.end() && old_queue != running->end() &&
        NodeText(old_config->node) == NodeText(output.node)) {
      queues.push_back(*old_queue);
      kept.push_back(output.name);
      continue;
    }
    absl::StatusOr<std::unique_ptr<outputs::Output>> built =
        registry_->Create(output, next.source, outputs::OutputContext{});
    if (!built.ok()) {
      errors.emplace_back(built.status().message());
      continue;
    }
    if (absl::Status s = (*built)->Start(); !s.ok()) {
      errors.push_back(absl::StrCat("output \"", output.name,
                                    "\" cannot start: ", s.message()));
      continue;
    }
    (old_queue != running->end() ? changed : added).push_back(output.name);
    queues.push_back(std::make_shared<router::OutputQueue>(
        output, *std::move(built), dead_letters_.get(), &metrics_));
  }
  absl::StatusOr<std::vector<std::unique_ptr<ingest::gcpaudit::GcpAuditIngest>>>
      gcpaudit = BuildGcpAuditIngests(next, intake_.get(), dead_letters_.get(),
                                      &metrics_);
  if (!gcpaudit.ok()) errors.emplace_back(gcpaudit.status().message());
  absl::StatusOr<
      std::vector<std::unique_ptr<ingest::falco_grpc::FalcoGrpcClient>>>
      falco_grpc = BuildFalcoGrpcIngests(next, intake_.get(),
                                         dead_letters_.get(), &metrics_);
  if (!falco_grpc.ok()) errors.emplace_back(falco_grpc.status().message());
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  }

  absl::StatusOr<uint64_t> replayed = router_->Reconfigure(queues);
  if (!replayed.ok()) return replayed.status();
  std::vector<std::string> removed;
  for (const auto& queue : *running) {
    if (std::find(queues.begin(), queues.end(), queue) == queues.end() &&
        std::find(changed.begin(), changed.end(), queue->name()) ==
            changed.end()) {
      removed.push_back(queue->name());
    }
  }
  intake_->SetEnrichment(next.enrichment);
  const absl::Time stop_deadline = absl::Now() + config_.listen.drain_timeout;
  std::vector<std::string> restarted;
  const std::map<std::string, std::string> gcpaudit_fingerprints =
      Fingerprints(*gcpaudit, next.ingest_gcpaudit, "gcpaudit");
  SwapIngests(gcpaudit_, *std::move(gcpaudit), gcpaudit_fingerprints,
              "gcpaudit", stop_deadline, ingest_fingerprints_,
              stopped_gcpaudit_, restarted);
  const std::map<std::string, std::string> falco_grpc_fingerprints =
      Fingerprints(*falco_grpc, next.ingest_falco_grpc, "falco_grpc");
  SwapIngests(falco_grpc_, *std::move(falco_grpc), falco_grpc_fingerprints,
              "falco_grpc", stop_deadline, ingest_fingerprints_,
              stopped_falco_grpc_, restarted);

  const std::vector<std::string> need_restart =
      SectionsNeedingRestart(config_, next);
  if (!need_restart.empty()) {
    core::LogWarn("changed settings apply at the next restart",
                  {{"sections", absl::StrJoin(need_restart, ",")}});
  }
  config_.source = next.source;
  config_.enrichment = std::move(next.enrichment);
  config_.ingest_gcpaudit = next.ingest_gcpaudit;
  config_.ingest_falco_grpc = next.ingest_falco_grpc;
  config_.outputs = std::move(next.outputs);
  core::LogInfo("configuration reloaded",
                {{"outputs_added", absl::StrJoin(added, ",")},
                 {"outputs_changed", absl::StrJoin(changed, ",")},
                 {"outputs_removed", absl::StrJoin(removed, ",")},
                 {"outputs_unchanged", absl::StrJoin(kept, ",")},
                 {"replayed", absl::StrCat(*replayed)},
                 {"ingest_restarted", absl::StrJoin(restarted, ",")}});
  return absl::OkStatus();
}

bool App::Shutdown() {
  core::LogInfo(
      "draining",
      {{"timeout", absl::FormatDuration(config_.listen.drain_timeout)}});
  state_ = ServingState::kDraining;
  grpc_server_->SetServing(false);
  // Pub/Sub first, while the intake still takes alerts: messages in flight
  // get spooled and acked rather than handed back.
  const absl::Time drain_deadline = absl::Now() + config_.listen.drain_timeout;
  for (auto& ingest : gcpaudit_) ingest->BeginStop();
  for (auto& client : falco_grpc_) client->BeginStop();
  for (auto& ingest : gcpaudit_) ingest->Stop(drain_deadline);
  for (auto& client : falco_grpc_) client->Stop(drain_deadline);
  router_->StopIntake();
  const bool drained = router_->Drain(drain_deadline);
  uint64_t undelivered = 0;
  for (const auto& queue : *router_->queues()) {
    router::OutputQueue::Stats stats = queue->stats();
    undelivered += stats.queued + stats.abandoned;
  }
  http_server_->StopAccepting();
  http_server_->Stop();
  // Every accepted alert has reached the feed: subscribers get them all, then
  // their streams end.
  feed_->Close();
  grpc_server_->Shutdown(absl::Seconds(1));
  router_->Stop();
  if (undelivered == 0) {
    core::LogInfo("stopped", {{"undelivered", "0"}});
  } else {
    // Not lost: they stay in the spool and are replayed on the next start.
    core::LogWarn("stopped before every alert was delivered",
                  {{"undelivered", absl::StrCat(undelivered)},
                   {"spool", config_.spool.dir}});
  }
  return drained;
}

}  // namespace corral::server
