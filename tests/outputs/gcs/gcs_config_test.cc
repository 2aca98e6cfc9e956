#include "outputs/gcs/gcs_config.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/outputs/parse_output_keys.h"

namespace corral::outputs {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

using Parsed = ParsedOutputKeys<GcsConfig>;

Parsed Parse(const std::string& yaml) {
  return ParseOutputKeys(&ParseGcsConfig, yaml);
}

TEST(GcsConfigTest, Defaults) {
  Parsed p = Parse("{bucket: falco-alerts}");
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->bucket, "falco-alerts");
  EXPECT_EQ(p.config->store.endpoint, "https://storage.googleapis.com");
  EXPECT_EQ(p.config->credentials_file, "");
  EXPECT_EQ(p.config->store.layout.prefix, "");
  EXPECT_EQ(p.config->store.layout.format, ObjectFormat::kJson);
  EXPECT_EQ(p.config->store.timeout, absl::Seconds(30));
}

TEST(GcsConfigTest, EveryKey) {
  Parsed p = Parse(
      "{bucket: my_bucket.example.com, prefix: falco/, endpoint: "
      "'http://127.0.0.1:4443/', credentials_file: /etc/corral/sa.json, "
      "format: ndjson_batch, timeout: 10s, connect_timeout: 2s}");
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->store.layout.prefix, "falco");
  EXPECT_EQ(p.config->store.endpoint, "http://127.0.0.1:4443");
  EXPECT_EQ(p.config->credentials_file, "/etc/corral/sa.json");
  EXPECT_EQ(p.config->store.layout.format, ObjectFormat::kNdjsonBatch);
  EXPECT_EQ(p.config->store.timeout, absl::Seconds(10));
  EXPECT_EQ(p.config->store.connect_timeout, absl::Seconds(2));
}

TEST(GcsConfigTest, AllErrorsAtOnceWithPositions) {
  Parsed p = Parse(
      "bucket: UPPER\n"
      "endpoint: storage.googleapis.com\n"
      "format: parquet\n"
      "connect_timeout: -1s\n"
      "region: us\n");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(
      p.errors,
      AllOf(HasSubstr("test.yaml:1:9: outputs[0].bucket: \"UPPER\" is not a "
                      "bucket name"),
            HasSubstr("test.yaml:2:11: outputs[0].endpoint: must start with "
                      "http:// or https://"),
            HasSubstr("test.yaml:3:9: outputs[0].format:"),
            HasSubstr("test.yaml:4:18: outputs[0].connect_timeout:"),
            HasSubstr("test.yaml:5:1: outputs[0].region: unknown key")));
  EXPECT_THAT(Parse("{prefix: x}").errors,
              HasSubstr("outputs[0].bucket: is required"));
}

TEST(GcsConfigTest, BucketNameRules) {
  for (const char* good : {"abc", "a-b_c", "a.b.c", "0bucket9"}) {
    EXPECT_TRUE(Parse(absl::StrCat("{bucket: '", good, "'}")).config) << good;
  }
  const std::string long_part(64, 'a');
  for (const std::string& bad :
       {std::string("ab"), std::string("-ab"), std::string("ab-"),
        std::string("a b"), std::string("a/b"), long_part,
        absl::StrCat(long_part, ".com")}) {
    EXPECT_FALSE(Parse(absl::StrCat("{bucket: '", bad, "'}")).config) << bad;
  }
}

}  // namespace
}  // namespace corral::outputs
