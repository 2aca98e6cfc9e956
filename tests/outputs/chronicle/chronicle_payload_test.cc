#include "outputs/chronicle/chronicle_payload.h"

#include <boost/json.hpp>
#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "core/alert_json.h"
#include "gtest/gtest.h"
#include "tests/outputs/fixed_alert.h"

namespace corral::outputs {
namespace {

constexpr char kAlertBase64[] =
    "eyJob3N0bmFtZSI6Ijc1MzE0NGQzYmU2NCIsIm91dHB1dCI6IlNlbnNpdGl2ZSBmaWxlIG"
    "9wZW5lZCBmb3IgcmVhZGluZyAoZmlsZT0vZXRjL3NoYWRvdyB1c2VyPXJvb3QpIiwib3V0"
    "cHV0X2ZpZWxkcyI6eyJmZC5uYW1lIjoiL2V0Yy9zaGFkb3ciLCJrOHMubnMubmFtZSI6bn"
    "VsbCwicHJvYy50dHkiOjM0ODE2LCJ1c2VyLm5hbWUiOiJyb290In0sInByaW9yaXR5Ijoi"
    "V2FybmluZyIsInJ1bGUiOiJSZWFkIHNlbnNpdGl2ZSBmaWxlIHVudHJ1c3RlZCIsInNlcS"
    "I6NDIsInNvdXJjZSI6InN5c2NhbGwiLCJ0YWdzIjpbIlQxNTU1IiwiZmlsZXN5c3RlbSJd"
    "LCJ0aW1lIjoiMjAyNi0wNy0wNVQxODo1MDo1OS40MzAzMjUzNzRaIiwidXVpZCI6IjEyM2"
    "U0NTY3LWU4OWItNDJkMy1hNDU2LTQyNjYxNDE3NDAwMCJ9";

ChronicleConfig Config(ChronicleApi api) {
  ChronicleConfig c;
  c.api = api;
  c.project = "my-proj";
  c.region = "europe";
  c.instance = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
  c.endpoint = "https://chronicle.europe.rep.googleapis.com";
  c.feed_url = "https://h/v1alpha/feeds/f:importPushLogs";
  return c;
}

const absl::Time kNow = absl::FromUnixSeconds(1783277500);  // 40 s later

TEST(ChroniclePayloadTest, GoldenAlertJsonIsTheWebhookOne) {
  EXPECT_EQ(core::EncodeFalcoAlert(*FixedAlert()), kFixedAlertJson);
  std::string decoded;
  ASSERT_TRUE(absl::Base64Unescape(kAlertBase64, &decoded));
  EXPECT_EQ(decoded, kFixedAlertJson);
}

TEST(ChroniclePayloadTest, ChronicleImportGolden) {
  std::vector<core::AlertPtr> batch = {FixedAlert()};
  auto requests = BuildChronicleRequests(Config(ChronicleApi::kChronicle),
                                         batch, kNow, 4 << 20);
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 1u);
  EXPECT_EQ((*requests)[0].body,
            std::string(R"({"inlineSource":{"logs":[{"data":")") +
                kAlertBase64 +
                R"(","logEntryTime":"2026-07-05T18:50:59.430325374Z",)"
                R"("collectionTime":"2026-07-05T18:51:40Z"}]}})");
  EXPECT_EQ((*requests)[0].alerts, std::vector<size_t>{0});
}

TEST(ChroniclePayloadTest, CollectionTimeIsNeverBeforeTheAlert) {
  std::vector<core::AlertPtr> batch = {FixedAlert()};
  const absl::Time before = batch[0]->time - absl::Hours(1);  // clock skew
  auto requests = BuildChronicleRequests(Config(ChronicleApi::kChronicle),
                                         batch, before, 4 << 20);
  ASSERT_TRUE(requests.ok()) << requests.status();
  boost::json::value v = boost::json::parse((*requests)[0].body);
  const auto& log = v.at("inlineSource").at("logs").at(0);
  EXPECT_EQ(log.at("collectionTime"), log.at("logEntryTime"));
}

TEST(ChroniclePayloadTest, LegacyGolden) {
  ChronicleConfig config = Config(ChronicleApi::kLegacy);
  config.log_type = "FALCO_IDS";
  std::vector<core::AlertPtr> batch = {FixedAlert()};
  auto requests = BuildChronicleRequests(config, batch, kNow, 1 << 20);
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 1u);
  boost::json::object expected;
  expected["customer_id"] = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
  expected["log_type"] = "FALCO_IDS";
  expected["entries"] = boost::json::array{
      boost::json::object{{"log_text", kFixedAlertJson},
                          {"ts_rfc3339", "2026-07-05T18:50:59.430325374Z"}}};
  EXPECT_EQ((*requests)[0].body,
            R"({"customer_id":"0a1b2c3d-4e5f-6789-abcd-ef0123456789",)"
            R"("log_type":"FALCO_IDS","entries":[{"log_text":)" +
                boost::json::serialize(boost::json::value(kFixedAlertJson)) +
                R"(,"ts_rfc3339":"2026-07-05T18:50:59.430325374Z"}]})");
  EXPECT_EQ(boost::json::parse((*requests)[0].body), expected);
}

TEST(ChroniclePayloadTest, WebhookIsNewlineDelimited) {
  std::vector<core::AlertPtr> batch = {FixedAlert(1, "a"), FixedAlert(2, "b")};
  auto requests = BuildChronicleRequests(Config(ChronicleApi::kWebhook), batch,
                                         kNow, 4 << 20);
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 1u);
  EXPECT_EQ((*requests)[0].body, core::EncodeFalcoAlert(*batch[0]) + "\n" +
                                     core::EncodeFalcoAlert(*batch[1]) + "\n");
}

TEST(ChroniclePayloadTest, UrlPerApi) {
  EXPECT_EQ(ChronicleRequestUrl(Config(ChronicleApi::kChronicle)),
            "https://chronicle.europe.rep.googleapis.com/v1beta/projects/"
            "my-proj/locations/europe/instances/"
            "0a1b2c3d-4e5f-6789-abcd-ef0123456789/logTypes/FALCO_IDS/"
            "logs:import");
  ChronicleConfig legacy = Config(ChronicleApi::kLegacy);
  legacy.endpoint = "https://europe-malachiteingestion-pa.googleapis.com";
  EXPECT_EQ(ChronicleRequestUrl(legacy),
            "https://europe-malachiteingestion-pa.googleapis.com/v2/"
            "unstructuredlogentries:batchCreate");
  EXPECT_EQ(ChronicleRequestUrl(Config(ChronicleApi::kWebhook)),
            "https://h/v1alpha/feeds/f:importPushLogs");
}

TEST(ChroniclePayloadTest, SplitsUnderTheSizeLimitKeepingEveryAlertOnce) {
  std::vector<core::AlertPtr> batch;
  for (uint64_t i = 0; i < 50; ++i) batch.push_back(FixedAlert(i));
  for (ChronicleApi api : {ChronicleApi::kChronicle, ChronicleApi::kLegacy,
                           ChronicleApi::kWebhook}) {
    constexpr uint64_t kLimit = 4000;
    auto requests = BuildChronicleRequests(Config(api), batch, kNow, kLimit);
    ASSERT_TRUE(requests.ok()) << requests.status();
    EXPECT_GT(requests->size(), 5u);
    size_t next = 0;
    for (const ChronicleRequest& r : *requests) {
      EXPECT_LE(r.body.size(), kLimit);
      EXPECT_FALSE(r.alerts.empty());
      for (size_t i : r.alerts) EXPECT_EQ(i, next++);
      if (api != ChronicleApi::kWebhook) {
        boost::json::value v = boost::json::parse(r.body);  // well-formed
        EXPECT_TRUE(v.is_object());
      }
    }
    EXPECT_EQ(next, batch.size());
  }
}

TEST(ChroniclePayloadTest, AnAlertLargerThanTheLimitIsAnError) {
  std::vector<core::AlertPtr> batch = {FixedAlert()};
  auto requests =
      BuildChronicleRequests(Config(ChronicleApi::kLegacy), batch, kNow, 200);
  EXPECT_EQ(requests.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(
      BuildChronicleRequests(Config(ChronicleApi::kLegacy), {}, kNow, 1 << 20)
          .ok());
}

}  // namespace
}  // namespace corral::outputs
