#include "outputs/object_store.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "core/alert_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/outputs/fixed_alert.h"
#include "tests/outputs/parse_output_keys.h"

namespace corral::outputs {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

core::AlertPtr AlertAt(absl::Time time, uint64_t seq) {
  auto alert = std::make_shared<core::Alert>(*FixedAlert(seq));
  alert->time = time;
  return alert;
}

absl::Time Utc(int y, int mo, int d, int h, int mi, int s) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s),
                         absl::UTCTimeZone());
}

StoredObject Build(const ObjectLayout& layout,
                   std::vector<core::AlertPtr> batch) {
  absl::StatusOr<StoredObject> object = BuildStoredObject(layout, batch);
  EXPECT_TRUE(object.ok()) << object.status();
  return object.value_or(StoredObject{});
}

TEST(ObjectLayoutTest, JsonIsOneAlertUnderItsUtcDateAndRfc3339NanoTime) {
  StoredObject object = Build({"falco", ObjectFormat::kJson}, {FixedAlert(42)});
  EXPECT_EQ(object.key,
            "falco/2026-07-05/2026-07-05T18:50:59.430325374Z-42.json");
  EXPECT_EQ(object.body, kFixedAlertJson);
  EXPECT_EQ(object.content_type, "application/json");
}

TEST(ObjectLayoutTest, TimesKeepOnlyTheDigitsTheyNeed) {
  const ObjectLayout layout{"p", ObjectFormat::kJson};
  const absl::Time whole = Utc(2026, 1, 2, 3, 4, 5);
  EXPECT_EQ(Build(layout, {AlertAt(whole, 1)}).key,
            "p/2026-01-02/2026-01-02T03:04:05Z-1.json");
  EXPECT_EQ(Build(layout, {AlertAt(whole + absl::Milliseconds(500), 2)}).key,
            "p/2026-01-02/2026-01-02T03:04:05.5Z-2.json");
  EXPECT_EQ(Build(layout, {AlertAt(whole + absl::Nanoseconds(7), 3)}).key,
            "p/2026-01-02/2026-01-02T03:04:05.000000007Z-3.json");
}

TEST(ObjectLayoutTest, TheDateFolderIsTheUtcDate) {
  const ObjectLayout layout{"p", ObjectFormat::kJson};
  // 23:59:59.9 UTC on Dec 31 is still the old year; a second later the new.
  const absl::Time eve =
      Utc(2026, 12, 31, 23, 59, 59) + absl::Milliseconds(900);
  EXPECT_EQ(Build(layout, {AlertAt(eve, 1)}).key,
            "p/2026-12-31/2026-12-31T23:59:59.9Z-1.json");
  EXPECT_EQ(Build(layout, {AlertAt(eve + absl::Seconds(1), 2)}).key,
            "p/2027-01-01/2027-01-01T00:00:00.9Z-2.json");
}

TEST(ObjectLayoutTest, AlertsWithTheSameTimeGetTheirOwnObjects) {
  const ObjectLayout layout{"falco", ObjectFormat::kJson};
  const absl::Time t = FixedAlert()->time;
  const std::string a = Build(layout, {AlertAt(t, 7)}).key;
  const std::string b = Build(layout, {AlertAt(t, 8)}).key;
  EXPECT_NE(a, b);
  // The same alert (a retry) always gets the same name.
  EXPECT_EQ(a, Build(layout, {AlertAt(t, 7)}).key);
}

TEST(ObjectLayoutTest, NdjsonBatchIsOneObjectNamedByItsSeqs) {
  const absl::Time t = Utc(2026, 7, 5, 23, 59, 59);
  std::vector<core::AlertPtr> batch = {AlertAt(t, 100), AlertAt(t, 101),
                                       AlertAt(t + absl::Seconds(2), 102)};
  StoredObject object = Build({"falco", ObjectFormat::kNdjsonBatch}, batch);
  // The date of the first alert, even when the batch spans midnight.
  EXPECT_EQ(object.key, "falco/2026-07-05/100-102.ndjson");
  EXPECT_EQ(object.content_type, "application/x-ndjson");
  EXPECT_EQ(object.body, absl::StrCat(core::EncodeFalcoAlert(*batch[0]), "\n",
                                      core::EncodeFalcoAlert(*batch[1]), "\n",
                                      core::EncodeFalcoAlert(*batch[2]), "\n"));
  EXPECT_EQ(Build({"falco", ObjectFormat::kNdjsonBatch}, {batch[2]}).key,
            "falco/2026-07-06/102-102.ndjson");
}

TEST(ObjectLayoutTest, AnEmptyPrefixPutsDatesAtTheTop) {
  EXPECT_EQ(Build({"", ObjectFormat::kJson}, {FixedAlert(42)}).key,
            "2026-07-05/2026-07-05T18:50:59.430325374Z-42.json");
  EXPECT_EQ(Build({"", ObjectFormat::kNdjsonBatch}, {FixedAlert(42)}).key,
            "2026-07-05/42-42.ndjson");
}

TEST(ObjectLayoutTest, RefusesEmptyBatchesAndSeveralAlertsForJson) {
  const ObjectLayout json{"p", ObjectFormat::kJson};
  EXPECT_FALSE(BuildStoredObject(json, {}).ok());
  std::vector<core::AlertPtr> two = {FixedAlert(1), FixedAlert(2)};
  absl::StatusOr<StoredObject> r = BuildStoredObject(json, two);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("one alert per object, got 2"));
}

TEST(ObjectLayoutTest, OnlyNdjsonBatches) {
  core::BatchConfig batch;
  batch.max_items = 250;
  EXPECT_EQ((ObjectLayout{"", ObjectFormat::kJson}.MaxBatchItems(batch)), 1);
  EXPECT_EQ((ObjectLayout{"", ObjectFormat::kNdjsonBatch}.MaxBatchItems(batch)),
            250);
}

using Parsed = ParsedOutputKeys<ObjectStoreKeys>;

Parsed Parse(const std::string& yaml) {
  return ParseOutputKeys(&ParseObjectStoreKeys, yaml);
}

TEST(ObjectStoreKeysTest, PrefixLosesItsOuterSlashes) {
  for (const char* prefix :
       {"falco/prod", "/falco/prod", "falco/prod/", "//falco/prod//"}) {
    Parsed p = Parse(absl::StrCat("{prefix: '", prefix, "'}"));
    ASSERT_TRUE(p.config) << p.errors;
    EXPECT_EQ(p.config->layout.prefix, "falco/prod") << prefix;
  }
  Parsed slash = Parse("{prefix: /}");
  ASSERT_TRUE(slash.config) << slash.errors;
  EXPECT_EQ(slash.config->layout.prefix, "");
}

TEST(ObjectStoreKeysTest, Errors) {
  Parsed p = Parse(
      "prefix: \"a\\tb\"\n"
      "format: csv\n"
      "endpoint: 'https://store.example.com/#x'\n"
      "timeout: 0s\n");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(
      p.errors,
      AllOf(HasSubstr("test.yaml:1:9: outputs[0].prefix: has a control "
                      "character"),
            HasSubstr("test.yaml:2:9: outputs[0].format: \"csv\" is not one "
                      "of"),
            HasSubstr("test.yaml:3:11: outputs[0].endpoint: must not have a "
                      "query or a fragment"),
            HasSubstr("test.yaml:4:10: outputs[0].timeout: must be more than "
                      "0")));
}

}  // namespace
}  // namespace corral::outputs
