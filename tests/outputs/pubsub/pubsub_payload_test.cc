#include "outputs/pubsub/pubsub_payload.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/alert_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outputs/pubsub/pubsub_config.h"
#include "tests/outputs/fixed_alert.h"

namespace corral::outputs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr char kTopic[] = "projects/test-project/topics/falco";

std::map<std::string, std::string> Attributes(
    const google::pubsub::v1::PubsubMessage& m) {
  return {m.attributes().begin(), m.attributes().end()};
}

// FixedAlert with a `bytes`-long output.
core::AlertPtr AlertOfSize(uint64_t seq, size_t bytes) {
  auto alert = std::make_shared<core::Alert>(*FixedAlert(seq));
  alert->output = std::string(bytes, 'x');
  return alert;
}

TEST(PubSubPayloadTest, DataIsTheAlertJsonAndAttributesNameIt) {
  google::pubsub::v1::PubsubMessage m =
      BuildPubSubMessage(*FixedAlert(), {{"team", "secops"}, {"env", "prod"}});
  EXPECT_EQ(m.data(), kFixedAlertJson);
  EXPECT_THAT(Attributes(m),
              UnorderedElementsAre(
                  Pair("rule", "Read sensitive file untrusted"),
                  Pair("priority", "Warning"), Pair("source", "syscall"),
                  Pair("hostname", "753144d3be64"), Pair("team", "secops"),
                  Pair("env", "prod")));
  EXPECT_EQ(m.message_id(), "");  // the service assigns it
  EXPECT_EQ(m.ordering_key(), "");
}

TEST(PubSubPayloadTest, EmptyAlertValuesAreLeftOut) {
  auto alert = std::make_shared<core::Alert>(*FixedAlert());
  alert->hostname.clear();
  alert->source.clear();
  EXPECT_THAT(
      Attributes(BuildPubSubMessage(*alert, {})),
      UnorderedElementsAre(Pair("rule", "Read sensitive file untrusted"),
                           Pair("priority", "Warning")));
}

TEST(PubSubPayloadTest, LongValuesAreCutAtACharacterBoundary) {
  auto alert = std::make_shared<core::Alert>(*FixedAlert());
  // 1023 ASCII bytes, then a 2-byte 'é' that would straddle byte 1024.
  alert->rule = std::string(1023, 'r') + "\xC3\xA9" + "tail";
  alert->hostname = std::string(1024, 'h');
  google::pubsub::v1::PubsubMessage m = BuildPubSubMessage(*alert, {});
  EXPECT_EQ(m.attributes().at("rule"), std::string(1023, 'r'));
  EXPECT_EQ(m.attributes().at("hostname"), alert->hostname);  // at the limit
  // The data keeps the whole rule.
  EXPECT_THAT(m.data(), HasSubstr(alert->rule));
}

TEST(PubSubPayloadTest, OneRequestWhenTheBatchFits) {
  std::vector<core::AlertPtr> batch = {FixedAlert(1), FixedAlert(2),
                                       FixedAlert(3)};
  auto requests = BuildPublishRequests(kTopic, batch, {{"team", "secops"}},
                                       kPubSubMaxRequestBytes, 1000);
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 1u);
  const auto& r = (*requests)[0];
  EXPECT_EQ(r.request.topic(), kTopic);
  ASSERT_EQ(r.request.messages_size(), 3);
  EXPECT_THAT(r.alerts, ElementsAre(0u, 1u, 2u));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.request.messages(i).data(), core::EncodeFalcoAlert(*batch[i]));
    EXPECT_EQ(r.request.messages(i).attributes().at("team"), "secops");
  }
}

TEST(PubSubPayloadTest, SplitsAtTheMessageCount) {
  std::vector<core::AlertPtr> batch;
  for (uint64_t i = 0; i < 7; ++i) batch.push_back(FixedAlert(i));
  auto requests =
      BuildPublishRequests(kTopic, batch, {}, kPubSubMaxRequestBytes, 3);
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 3u);
  EXPECT_THAT((*requests)[0].alerts, ElementsAre(0u, 1u, 2u));
  EXPECT_THAT((*requests)[1].alerts, ElementsAre(3u, 4u, 5u));
  EXPECT_THAT((*requests)[2].alerts, ElementsAre(6u));
  for (const auto& r : *requests) EXPECT_EQ(r.request.topic(), kTopic);
}

TEST(PubSubPayloadTest, SplitsUnderTheByteLimitExactly) {
  std::vector<core::AlertPtr> batch;
  for (uint64_t i = 0; i < 40; ++i) batch.push_back(AlertOfSize(i, 1000 + i));
  constexpr uint64_t kLimit = 5000;
  auto requests = BuildPublishRequests(kTopic, batch, {}, kLimit, 1000);
  ASSERT_TRUE(requests.ok()) << requests.status();
  EXPECT_GT(requests->size(), 5u);
  size_t next = 0;
  for (const auto& r : *requests) {
    EXPECT_LE(r.request.ByteSizeLong(), kLimit);
    ASSERT_EQ(static_cast<size_t>(r.request.messages_size()), r.alerts.size());
    for (size_t i = 0; i < r.alerts.size(); ++i) {
      EXPECT_EQ(r.alerts[i], next++);  // every alert once, in order
      EXPECT_EQ(r.request.messages(i).data(),
                core::EncodeFalcoAlert(*batch[r.alerts[i]]));
    }
  }
  EXPECT_EQ(next, batch.size());
  // Packed: no request would have taken the next one's first message.
  for (size_t k = 0; k + 1 < requests->size(); ++k) {
    google::pubsub::v1::PublishRequest more = (*requests)[k].request;
    *more.add_messages() = (*requests)[k + 1].request.messages(0);
    EXPECT_GT(more.ByteSizeLong(), kLimit);
  }
}

TEST(PubSubPayloadTest, AnAlertLargerThanARequestIsAnError) {
  std::vector<core::AlertPtr> batch = {FixedAlert(1), AlertOfSize(2, 6000)};
  auto requests = BuildPublishRequests(kTopic, batch, {}, 5000, 1000);
  ASSERT_FALSE(requests.ok());
  EXPECT_EQ(requests.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(requests.status().message()),
              HasSubstr(absl::StrCat("alert ", batch[1]->uuid, " makes a ")));
  EXPECT_THAT(std::string(requests.status().message()),
              HasSubstr("more than Pub/Sub's limit of 5000 bytes"));
  EXPECT_FALSE(BuildPublishRequests(kTopic, {}, {}, 5000, 1000).ok());
}

}  // namespace
}  // namespace corral::outputs
