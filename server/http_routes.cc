#include "server/http_routes.h"

#include "absl/strings/str_cat.h"
#include "core/bearer_auth.h"

namespace corral::server {
namespace {

HttpServerResponse Text(int status, std::string body) {
  HttpServerResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpServerResponse Json(int status, std::string body) {
  HttpServerResponse response = Text(status, std::move(body));
  response.content_type = "application/json";
  return response;
}

HttpServerResponse MethodNotAllowed(absl::string_view allow) {
  HttpServerResponse response = Text(405, "method not allowed\n");
  response.headers.emplace_back("Allow", std::string(allow));
  return response;
}

// Adapts the ingest's (status, body) reply to the server's reply.
ingest::HttpAlertIngest::Reply ToReply(HttpReply reply) {
  return [reply = std::move(reply)](int status, std::string body) mutable {
    HttpServerResponse response = Text(status, std::move(body));
    if (status == 200) response.content_type = "application/json";
    std::move(reply)(std::move(response));
  };
}

}  // namespace

HttpRoutes::HttpRoutes(ingest::HttpAlertIngest* ingest,
                       core::MetricsRegistry* metrics,
                       const std::atomic<ServingState>* state,
                       std::string auth_token, bool accept_alerts)
    : ingest_(ingest),
      metrics_(metrics),
      state_(state),
      auth_token_(std::move(auth_token)),
      accept_alerts_(accept_alerts) {}

bool HttpRoutes::Authorized(const HttpServerRequest& request) const {
  return auth_token_.empty() ||
         core::BearerTokenMatches(request.Header("authorization"), auth_token_);
}

void HttpRoutes::Handle(HttpServerRequest request, HttpReply reply) {
  absl::string_view path = request.target;
  path = path.substr(0, path.find('?'));

  if (path == "/" && !accept_alerts_) {
    return std::move(reply)(
        Text(404,
             "alerts over HTTP are switched off (ingest.http.enabled: "
             "false)\n"));
  }
  if (path == "/" || path == "/test") {
    if (request.method != "POST")
      return std::move(reply)(MethodNotAllowed("POST"));
    if (!Authorized(request)) {
      HttpServerResponse response =
          Text(401, "missing or invalid bearer token\n");
      response.headers.emplace_back("WWW-Authenticate", "Bearer");
      return std::move(reply)(std::move(response));
    }
    if (path == "/") {
      ingest_->Post(request.body, ToReply(std::move(reply)));
    } else {
      ingest_->PostTest(ToReply(std::move(reply)));
    }
    return;
  }
  if (path == "/healthz") {
    if (request.method != "GET" && request.method != "HEAD") {
      return std::move(reply)(MethodNotAllowed("GET, HEAD"));
    }
    switch (state_->load()) {
      case ServingState::kServing:
        return std::move(reply)(Json(200, "{\"status\":\"ok\"}\n"));
      case ServingState::kStarting:
        return std::move(reply)(Json(503, "{\"status\":\"starting\"}\n"));
      case ServingState::kDraining:
        return std::move(reply)(Json(503, "{\"status\":\"draining\"}\n"));
    }
  }
  if (path == "/ping") {
    if (request.method != "GET" && request.method != "HEAD") {
      return std::move(reply)(MethodNotAllowed("GET, HEAD"));
    }
    return std::move(reply)(Text(200, "pong\n"));
  }
  if (path == "/metrics") {
    if (request.method != "GET" && request.method != "HEAD") {
      return std::move(reply)(MethodNotAllowed("GET, HEAD"));
    }
    HttpServerResponse response = Text(200, metrics_->Render());
    response.content_type = std::string(core::MetricsRegistry::kContentType);
    return std::move(reply)(std::move(response));
  }
  std::move(reply)(Text(404, absl::StrCat("no route for ", path, "\n")));
}

}  // namespace corral::server
