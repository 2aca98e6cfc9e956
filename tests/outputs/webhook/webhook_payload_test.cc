#include "outputs/webhook/webhook_payload.h"

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "core/alert_json.h"
#include "gtest/gtest.h"
#include "tests/outputs/fixed_alert.h"

namespace corral::outputs {
namespace {

TEST(WebhookPayloadTest, JsonIsOneFalcoAlert) {
  std::vector<core::AlertPtr> batch = {FixedAlert()};
  absl::StatusOr<WebhookPayload> payload =
      BuildWebhookPayload(WebhookFormat::kJson, batch);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(payload->body, kFixedAlertJson);
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
            std::string(kFixedAlertJson) + "\n");
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
