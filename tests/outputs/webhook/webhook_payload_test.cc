#include "outputs/webhook/webhook_payload.h"

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "core/alert_json.h"
#include "gtest/gtest.h"

namespace corral::outputs {
namespace {

core::AlertPtr FixedAlert(uint64_t seq = 42,
                          std::string rule = "Read sensitive file untrusted") {
  auto alert = std::make_shared<core::Alert>();
  alert->uuid = "123e4567-e89b-42d3-a456-426614174000";
  alert->seq = seq;
  alert->time = absl::FromUnixNanos(1783277459430325374);
  alert->priority = core::Priority::kWarning;
  alert->rule = std::move(rule);
  alert->output =
      "Sensitive file opened for reading (file=/etc/shadow user=root)";
  alert->source = "syscall";
  alert->hostname = "753144d3be64";
  alert->tags = {"T1555", "filesystem"};
  alert->output_fields_json =
      R"({"fd.name":"/etc/shadow","k8s.ns.name":null,"proc.tty":34816,"user.name":"root"})";
  return alert;
}

constexpr char kGolden[] =
    R"json({"hostname":"753144d3be64",)json"
    R"json("output":"Sensitive file opened for reading (file=/etc/shadow user=root)",)json"
    R"json("output_fields":{"fd.name":"/etc/shadow","k8s.ns.name":null,"proc.tty":34816,)json"
    R"json("user.name":"root"},"priority":"Warning","rule":"Read sensitive file untrusted",)json"
    R"json("seq":42,"source":"syscall","tags":["T1555","filesystem"],)json"
    R"json("time":"2026-07-05T18:50:59.430325374Z","uuid":"123e4567-e89b-42d3-a456-426614174000"})json";

TEST(WebhookPayloadTest, JsonIsOneFalcoAlert) {
  std::vector<core::AlertPtr> batch = {FixedAlert()};
  absl::StatusOr<WebhookPayload> payload =
      BuildWebhookPayload(WebhookFormat::kJson, batch);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(payload->body, kGolden);
  EXPECT_EQ(payload->content_type, "application/json");
  // It decodes back as the same alert.
  absl::StatusOr<core::Alert> decoded = core::DecodeFalcoAlert(payload->body);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->rule, "Read sensitive file untrusted");
  EXPECT_EQ(decoded->time, batch[0]->time);
}

TEST(WebhookPayloadTest, NdjsonIsOneAlertPerLine) {
  std::vector<core::AlertPtr> batch = {FixedAlert(1, "a"), FixedAlert(2, "b"),
                                       FixedAlert(3, "c")};
  absl::StatusOr<WebhookPayload> payload =
      BuildWebhookPayload(WebhookFormat::kNdjsonBatch, batch);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(payload->content_type, "application/x-ndjson");
  EXPECT_EQ(payload->body, core::EncodeFalcoAlert(*batch[0]) + "\n" +
                               core::EncodeFalcoAlert(*batch[1]) + "\n" +
                               core::EncodeFalcoAlert(*batch[2]) + "\n");

  std::vector<core::AlertPtr> one = {FixedAlert()};
  EXPECT_EQ(BuildWebhookPayload(WebhookFormat::kNdjsonBatch, one)->body,
            std::string(kGolden) + "\n");
}

TEST(WebhookPayloadTest, RefusesBatchesItCannotCarry) {
  std::vector<core::AlertPtr> none;
  EXPECT_EQ(BuildWebhookPayload(WebhookFormat::kJson, none).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      BuildWebhookPayload(WebhookFormat::kNdjsonBatch, none).status().code(),
      absl::StatusCode::kInvalidArgument);
  std::vector<core::AlertPtr> two = {FixedAlert(1), FixedAlert(2)};
  EXPECT_EQ(BuildWebhookPayload(WebhookFormat::kJson, two).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace corral::outputs
