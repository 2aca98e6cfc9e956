#include "server/http_routes.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/fakes/recording_intake.h"

namespace corral::server {
namespace {

using ::testing::HasSubstr;

constexpr char kAlert[] =
    R"({"rule":"R","priority":"Warning","time":"2026-11-02T10:15:31Z","output_fields":{"a":1}})";

// Hands one request to `routes` and returns its answer.
HttpServerResponse Call(HttpRoutes& routes, std::string method,
                        std::string target, std::string body = "",
                        core::HttpHeaders headers = {}) {
  HttpServerRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  request.body = std::move(body);
  request.headers = std::move(headers);
  HttpServerResponse got;
  got.status = 0;
  routes.Handle(std::move(request),
                [&](HttpServerResponse r) { got = std::move(r); });
  return got;
}

class HttpRoutesTest : public ::testing::Test {
 protected:
  HttpServerResponse Call(std::string method, std::string target,
                          std::string body = "",
                          core::HttpHeaders headers = {}) {
    return server::Call(routes_, std::move(method), std::move(target),
                        std::move(body), std::move(headers));
  }

  fakes::RecordingIntake intake_;
  core::MetricsRegistry metrics_;
  ingest::HttpAlertIngest ingest_{&intake_, &metrics_, "host"};
  std::atomic<ServingState> state_{ServingState::kServing};
  HttpRoutes routes_{&ingest_, &metrics_, &state_, "s3cret",
                     /*accept_alerts=*/true};
};

TEST(HttpRoutesWithoutAlertsTest, PostRootIsNotFoundAndNamesTheSetting) {
  fakes::RecordingIntake intake;
  core::MetricsRegistry metrics;
  ingest::HttpAlertIngest ingest{&intake, &metrics, "host"};
  std::atomic<ServingState> state{ServingState::kServing};
  HttpRoutes routes{&ingest, &metrics, &state, "",
                    /*accept_alerts=*/false};
  HttpServerResponse post = Call(routes, "POST", "/", kAlert);
  EXPECT_EQ(post.status, 404);
  EXPECT_THAT(post.body, HasSubstr("ingest.http.enabled: false"));
  EXPECT_EQ(Call(routes, "POST", "/?source=falco", kAlert).status, 404);
  EXPECT_EQ(intake.submitted.size(), 0u);
  // Everything else is still served; /test still reaches the outputs.
  EXPECT_EQ(Call(routes, "GET", "/healthz").status, 200);
  EXPECT_EQ(Call(routes, "GET", "/ping").body, "pong\n");
  EXPECT_EQ(Call(routes, "GET", "/metrics").status, 200);
  EXPECT_EQ(Call(routes, "POST", "/test").status, 200);
  EXPECT_EQ(intake.submitted.size(), 1u);
}

TEST_F(HttpRoutesTest, PostNeedsTheBearerToken) {
  HttpServerResponse none = Call("POST", "/", kAlert);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(core::FindHeader(none.headers, "WWW-Authenticate"), "Bearer");
  EXPECT_EQ(
      Call("POST", "/", kAlert, {{"authorization", "Bearer wrong"}}).status,
      401);
  EXPECT_EQ(
      Call("POST", "/", kAlert, {{"authorization", "Bearer s3cre"}}).status,
      401);
  EXPECT_EQ(
      Call("POST", "/test", "", {{"authorization", "Basic s3cret"}}).status,
      401);
  EXPECT_EQ(intake_.submitted.size(), 0u);

  HttpServerResponse ok = Call("POST", "/?source=falco", kAlert,
                               {{"authorization", "bearer s3cret"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.content_type, "application/json");
  EXPECT_EQ(
      Call("POST", "/test", "", {{"authorization", "Bearer s3cret"}}).status,
      200);
  EXPECT_EQ(intake_.submitted.size(), 2u);
}

TEST_F(HttpRoutesTest, HealthFollowsTheServingState) {
  HttpServerResponse ok = Call("GET", "/healthz");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "{\"status\":\"ok\"}\n");
  state_ = ServingState::kStarting;
  EXPECT_EQ(Call("GET", "/healthz").status, 503);
  state_ = ServingState::kDraining;
  HttpServerResponse draining = Call("GET", "/healthz");
  EXPECT_EQ(draining.status, 503);
  EXPECT_THAT(draining.body, HasSubstr("draining"));
  // Health, ping and metrics need no token.
  EXPECT_EQ(Call("GET", "/ping").body, "pong\n");
  EXPECT_EQ(Call("GET", "/metrics").status, 200);
}

TEST_F(HttpRoutesTest, WrongMethodsAndUnknownPaths) {
  HttpServerResponse get_root = Call("GET", "/");
  EXPECT_EQ(get_root.status, 405);
  EXPECT_EQ(core::FindHeader(get_root.headers, "Allow"), "POST");
  EXPECT_EQ(core::FindHeader(Call("POST", "/healthz").headers, "Allow"),
            "GET, HEAD");
  EXPECT_EQ(Call("DELETE", "/metrics").status, 405);
  EXPECT_EQ(Call("GET", "/nope").status, 404);
}

TEST_F(HttpRoutesTest, MetricsUseThePrometheusContentType) {
  HttpServerResponse m = Call("GET", "/metrics");
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(m.body, HasSubstr("# TYPE corral_inputs_total counter"));
}

}  // namespace
}  // namespace corral::server
