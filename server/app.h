#ifndef CORRAL_SERVER_APP_H_
#define CORRAL_SERVER_APP_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/enrichment.h"
#include "core/metrics.h"
#include "ingest/falco_grpc/falco_grpc_client.h"
#include "ingest/gcpaudit/gcpaudit_ingest.h"
#include "ingest/http/http_alert_ingest.h"
#include "outputs/registry.h"
#include "router/alert_feed.h"
#include "router/dead_letter.h"
#include "router/router.h"
#include "router/spool.h"
#include "server/alerts_service.h"
#include "server/falco_outputs_service.h"
#include "server/grpc_server.h"
#include "server/http_routes.h"
#include "server/http_server.h"

namespace corral::server {

// Builds every output from the config with `registry`, as `check-config` and
// the service both do. On failure: every output's errors, one per line.
absl::StatusOr<std::vector<std::unique_ptr<outputs::Output>>> BuildOutputs(
    const core::Config& config, const outputs::Registry& registry,
    const outputs::OutputContext& context);

// Builds every ingest.gcpaudit entry (rules loaded, credentials read,
// nothing connected), as `check-config` and the service both do. On failure:
// every entry's errors, one per line.
absl::StatusOr<std::vector<std::unique_ptr<ingest::gcpaudit::GcpAuditIngest>>>
BuildGcpAuditIngests(const core::Config& config, core::Intake* intake,
                     router::DeadLetterFile* dead_letters,
                     core::MetricsRegistry* metrics);

// Builds every ingest.falco_grpc entry (certificates read, nothing
// connected), as `check-config` and the service both do. On failure: every
// entry's errors, one per line.
absl::StatusOr<
    std::vector<std::unique_ptr<ingest::falco_grpc::FalcoGrpcClient>>>
BuildFalcoGrpcIngests(const core::Config& config, core::Intake* intake,
                      router::DeadLetterFile* dead_letters,
                      core::MetricsRegistry* metrics);

// The running service: the one place that knows every module and wires them
// together.
//   inputs (HTTP, gRPC, Pub/Sub, Falco gRPC) → enrichment → router
//     → output queues → outputs
//     └→ feed → gRPC subscribers
class App {
 public:
  // Builds everything and opens (recovers) the spool; nothing listens yet.
  static absl::StatusOr<std::unique_ptr<App>> Create(
      core::Config config, const outputs::Registry& registry);
  ~App();

  // Opens files, starts the outputs, the queues and both listeners; then
  // reports serving.
  absl::Status Start();
  // Applies a new configuration while running (SIGHUP). What changes:
  //   - outputs added, changed (any key) or removed, by name: a changed
  //     output continues from where its predecessor was, so nothing queued is
  //     lost; an added one starts with the next alert; a removed one no
  //     longer holds spool segments;
  //   - customfields and customtags, for alerts accepted from then on;
  //   - ingest.gcpaudit and ingest.falco_grpc entries: an entry added,
  //     removed, or whose keys or rules files changed is (re)started.
  // listen, spool, dead_letter and ingest.http keep their running values
  // until a restart (logged). When the new configuration fails to load, or
  // anything in it fails to build or start, nothing changes: the error is
  // logged and returned, and the running configuration goes on.
  // Counted in corral_config_reloads_total. Not concurrently with Shutdown().
  absl::Status Reload(absl::StatusOr<core::Config> next);

  // Graceful stop: health turns 503, intake refuses, in-flight deliveries
  // finish until listen.drain_timeout; then everything stops. Returns whether
  // every queue drained.
  bool Shutdown();

  int http_port() const { return http_server_->port(); }
  int grpc_port() const { return grpc_server_->port(); }

 private:
  App(core::Config config, const outputs::Registry* registry);
  // Reload() without its logging and metrics.
  absl::Status ApplyConfig(core::Config next);

  core::Config config_;  // changed by Reload()
  const outputs::Registry* const registry_;
  core::MetricsRegistry metrics_;
  core::CounterFamily* reloads_;
  core::Gauge* last_reload_successful_;
  core::Gauge* last_reload_success_time_;
  std::atomic<ServingState> state_{ServingState::kStarting};
  std::unique_ptr<router::DeadLetterFile> dead_letters_;
  std::unique_ptr<router::Spool> spool_;
  std::vector<outputs::Output*> outputs_;    // until Start(); owned by queues
  std::unique_ptr<router::AlertFeed> feed_;  // for gRPC subscribers
  std::unique_ptr<router::Router> router_;
  std::unique_ptr<core::EnrichingIntake> intake_;
  std::unique_ptr<ingest::HttpAlertIngest> http_ingest_;
  // Destroyed explicitly after the spool: its last callbacks may still
  // decide their messages' acks. Stopped ones (by a reload) are kept until
  // then too.
  std::vector<std::unique_ptr<ingest::gcpaudit::GcpAuditIngest>> gcpaudit_;
  std::vector<std::unique_ptr<ingest::gcpaudit::GcpAuditIngest>>
      stopped_gcpaudit_;
  // Stopped before the intake; dead-letter what was never accepted.
  std::vector<std::unique_ptr<ingest::falco_grpc::FalcoGrpcClient>> falco_grpc_;
  std::vector<std::unique_ptr<ingest::falco_grpc::FalcoGrpcClient>>
      stopped_falco_grpc_;
  // What each running ingest entry was built from ("gcpaudit/NAME" → its
  // keys and rules files), to tell which entries a reload changes.
  std::map<std::string, std::string> ingest_fingerprints_;
  std::unique_ptr<HttpRoutes> routes_;
  std::unique_ptr<HttpServer> http_server_;
  std::unique_ptr<AlertsService> alerts_service_;
  std::unique_ptr<FalcoOutputsService> falco_service_;
  std::unique_ptr<GrpcServer> grpc_server_;
};

}  // namespace corral::server

#endif  // CORRAL_SERVER_APP_H_
