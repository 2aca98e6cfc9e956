#ifndef CORRAL_SERVER_HTTP_ROUTES_H_
#define CORRAL_SERVER_HTTP_ROUTES_H_

#include <atomic>
#include <string>

#include "core/metrics.h"
#include "ingest/http/http_alert_ingest.h"
#include "server/http_server.h"

namespace corral::server {

// Where corral's health stands, as /healthz and the gRPC health service report
// it.
enum class ServingState { kStarting, kServing, kDraining };

// The routes of corral's HTTP API (DESIGN.md "HTTP API"):
//   POST /         one Falco alert
//   POST /test     a test alert through every output
//   GET /healthz   200 while serving, 503 while starting or draining
//   GET /ping      pong
//   GET /metrics   Prometheus text format
// With an auth token, POST / and POST /test need "Authorization: Bearer
// <token>" (401 otherwise). Without `accept_alerts` (ingest.http.enabled:
// false) POST / answers 404 and names the setting; the other routes stay.
class HttpRoutes {
 public:
  HttpRoutes(ingest::HttpAlertIngest* ingest, core::MetricsRegistry* metrics,
             const std::atomic<ServingState>* state, std::string auth_token,
             bool accept_alerts);

  void Handle(HttpServerRequest request, HttpReply reply);

 private:
  bool Authorized(const HttpServerRequest& request) const;

  ingest::HttpAlertIngest* const ingest_;
  core::MetricsRegistry* const metrics_;
  const std::atomic<ServingState>* const state_;
  const std::string auth_token_;
  const bool accept_alerts_;
};

}  // namespace corral::server

#endif  // CORRAL_SERVER_HTTP_ROUTES_H_
