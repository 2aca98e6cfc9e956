#include "server/app.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
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

App::App(core::Config config) : config_(std::move(config)) {}

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
}

absl::StatusOr<std::unique_ptr<App>> App::Create(
    core::Config config, const outputs::Registry& registry) {
  std::unique_ptr<App> app(new App(std::move(config)));
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
  app->feed_ = std::make_unique<router::AlertFeed>(&app->metrics_);
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
  app->gcpaudit_ = *std::move(gcpaudit);
  absl::StatusOr<
      std::vector<std::unique_ptr<ingest::falco_grpc::FalcoGrpcClient>>>
      falco_grpc = BuildFalcoGrpcIngests(
          cfg, app->intake_.get(), app->dead_letters_.get(), &app->metrics_);
  if (!falco_grpc.ok()) return falco_grpc.status();
  app->falco_grpc_ = *std::move(falco_grpc);
  app->routes_ =
      std::make_unique<HttpRoutes>(app->http_ingest_.get(), &app->metrics_,
                                   &app->state_, cfg.listen.auth_token);

  HttpServerOptions http;
  http.address = cfg.listen.http;
  http.max_body_bytes = cfg.listen.max_body_bytes;
  http.max_header_bytes = cfg.listen.max_header_bytes;
  http.header_timeout = cfg.listen.header_timeout;
  http.idle_timeout = cfg.listen.idle_timeout;
  http.io_threads = cfg.listen.io_threads;
  http.tls = cfg.listen.tls;
  HttpRoutes* routes = app->routes_.get();
  app->http_server_ = std::make_unique<HttpServer>(
      http, [routes](HttpServerRequest request, HttpReply reply) {
        routes->Handle(std::move(request), std::move(reply));
      });
  app->alerts_service_ = std::make_unique<AlertsService>(
      AlertsService::Options{.auth_token = cfg.listen.auth_token,
                             .subscriber_buffer = cfg.listen.subscriber_buffer},
      app->intake_.get(), app->feed_.get(), app->spool_.get(),
      &app->router_->queues(), &app->metrics_);
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
  if (absl::Status s = router_->Start(); !s.ok()) return s;
  if (config_.ingest_http.enabled) {
    if (absl::Status s = http_server_->Start(); !s.ok()) return s;
  }
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
      {{"http", config_.ingest_http.enabled
                    ? BoundAddress(config_.listen.http, http_server_->port())
                    : "disabled"},
       {"grpc", BoundAddress(config_.listen.grpc, grpc_server_->port())},
       {"outputs", absl::StrJoin(names, ",")},
       {"replayed", absl::StrCat(router_->replayed())},
       {"config", config_.source}});
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
  for (const auto& queue : router_->queues()) {
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
