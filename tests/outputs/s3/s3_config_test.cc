#include "outputs/s3/s3_config.h"

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/outputs/parse_output_keys.h"

namespace corral::outputs {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

using Parsed = ParsedOutputKeys<S3Config>;

// Parses with `env` as the environment (the process's is not touched).
Parsed Parse(const std::string& yaml,
             std::map<std::string, std::string> env = {}) {
  core::EnvLookup lookup = [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  return ParseOutputKeys(
      [&](core::ConfigMap& map) { return ParseS3Config(map, lookup); }, yaml);
}

constexpr char kKeys[] =
    "access_key_id: AKIAIOSFODNN7EXAMPLE, secret_access_key: s3cr3t";

TEST(S3ConfigTest, Defaults) {
  Parsed p = Parse(absl::StrCat("{bucket: falco-alerts, ", kKeys, "}"));
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->bucket, "falco-alerts");
  EXPECT_EQ(p.config->region, "us-east-1");
  EXPECT_EQ(p.config->store.endpoint, "");
  EXPECT_FALSE(p.config->path_style);
  EXPECT_EQ(p.config->store.layout.prefix, "");
  EXPECT_EQ(p.config->store.layout.format, ObjectFormat::kJson);
  EXPECT_EQ(p.config->credentials.access_key_id, "AKIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(p.config->credentials.secret_access_key, "s3cr3t");
  EXPECT_EQ(p.config->credentials.session_token, "");
  EXPECT_EQ(p.config->store.timeout, absl::Seconds(30));
  EXPECT_EQ(p.config->store.connect_timeout, absl::Seconds(5));
}

TEST(S3ConfigTest, EveryKey) {
  Parsed p = Parse(
      "{bucket: my.bucket-1, prefix: /falco/prod/, region: eu-west-3, "
      "endpoint: 'http://minio:9000/', path_style: false, access_key_id: K, "
      "secret_access_key: S, session_token: T, format: ndjson_batch, "
      "timeout: 5s, connect_timeout: 1s}");
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->store.layout.prefix, "falco/prod");
  EXPECT_EQ(p.config->region, "eu-west-3");
  EXPECT_EQ(p.config->store.endpoint, "http://minio:9000");
  EXPECT_FALSE(p.config->path_style);
  EXPECT_EQ(p.config->credentials.session_token, "T");
  EXPECT_EQ(p.config->store.layout.format, ObjectFormat::kNdjsonBatch);
  EXPECT_EQ(p.config->store.timeout, absl::Seconds(5));
  EXPECT_EQ(p.config->store.connect_timeout, absl::Seconds(1));
}

TEST(S3ConfigTest, AnEndpointMeansPathStyleUnlessSaidOtherwise) {
  Parsed p = Parse(absl::StrCat(
      "{bucket: alerts, endpoint: 'http://127.0.0.1:9000', ", kKeys, "}"));
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_TRUE(p.config->path_style);
}

TEST(S3ConfigTest, CredentialsFromTheEnvironmentWhenTheConfigHasNone) {
  Parsed p = Parse("{bucket: alerts}", {{"AWS_ACCESS_KEY_ID", "ASIAENVKEY"},
                                        {"AWS_SECRET_ACCESS_KEY", "env-secret"},
                                        {"AWS_SESSION_TOKEN", "env-token"}});
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->credentials.access_key_id, "ASIAENVKEY");
  EXPECT_EQ(p.config->credentials.secret_access_key, "env-secret");
  EXPECT_EQ(p.config->credentials.session_token, "env-token");
}

TEST(S3ConfigTest, ConfigKeysWinAndNeverMixWithTheEnvironment) {
  Parsed p = Parse(absl::StrCat("{bucket: alerts, ", kKeys, "}"),
                   {{"AWS_ACCESS_KEY_ID", "ASIAENVKEY"},
                    {"AWS_SECRET_ACCESS_KEY", "env-secret"},
                    {"AWS_SESSION_TOKEN", "env-token"}});
  ASSERT_TRUE(p.config) << p.errors;
  EXPECT_EQ(p.config->credentials.access_key_id, "AKIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(p.config->credentials.session_token, "");  // not the env's

  Parsed half = Parse("{bucket: alerts, access_key_id: K}",
                      {{"AWS_SECRET_ACCESS_KEY", "env-secret"}});
  EXPECT_FALSE(half.config);
  EXPECT_THAT(half.errors,
              HasSubstr("test.yaml:1:1: outputs[0].secret_access_key: is "
                        "required when access_key_id or session_token is "
                        "set"));
}

TEST(S3ConfigTest, NoCredentialsAnywhereIsAnError) {
  Parsed p = Parse("{bucket: alerts}", {{"AWS_ACCESS_KEY_ID", "only-id"}});
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors, AllOf(HasSubstr("outputs[0].access_key_id: no AWS "
                                        "credentials"),
                              HasSubstr("AWS_SECRET_ACCESS_KEY")));
}

TEST(S3ConfigTest, AllErrorsAtOnceWithPositions) {
  Parsed p = Parse(
      "bucket: Bad_Bucket\n"
      "region: 'us east'\n"
      "endpoint: ftp://minio\n"
      "format: csv\n"
      "path_style: maybe\n"
      "timeout: 0s\n"
      "access_key_id: K\n"
      "secret_access_key: S\n"
      "colour: red\n");
  EXPECT_FALSE(p.config);
  EXPECT_THAT(
      p.errors,
      AllOf(HasSubstr("test.yaml:1:9: outputs[0].bucket: \"Bad_Bucket\" is "
                      "not a bucket name"),
            HasSubstr("test.yaml:2:9: outputs[0].region:"),
            HasSubstr("test.yaml:3:11: outputs[0].endpoint: must start with "
                      "http:// or https://"),
            HasSubstr("test.yaml:4:9: outputs[0].format:"),
            HasSubstr("test.yaml:5:13: outputs[0].path_style:"),
            HasSubstr("test.yaml:6:10: outputs[0].timeout: must be more "
                      "than 0"),
            HasSubstr("test.yaml:9:1: outputs[0].colour: unknown key")));
  EXPECT_THAT(p.errors, Not(HasSubstr("outputs[0].access_key_id")));
}

TEST(S3ConfigTest, BucketIsRequiredAndEndpointTakesNoQuery) {
  Parsed p = Parse(
      absl::StrCat("{endpoint: 'https://s3.example.com/?x=1', ", kKeys, "}"));
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors,
              AllOf(HasSubstr("outputs[0].bucket: is required"),
                    HasSubstr("outputs[0].endpoint: must not have a query")));
}

TEST(S3ConfigTest, SecretsWithLineBreaksAreRefused) {
  Parsed p =
      Parse("{bucket: alerts}", {{"AWS_ACCESS_KEY_ID", "K"},
                                 {"AWS_SECRET_ACCESS_KEY", "S"},
                                 {"AWS_SESSION_TOKEN", "a\r\nX-Evil: 1"}});
  EXPECT_FALSE(p.config);
  EXPECT_THAT(p.errors, HasSubstr("outputs[0].session_token: (from "
                                  "AWS_SESSION_TOKEN) has a line break"));
  EXPECT_THAT(p.errors, Not(HasSubstr("X-Evil")));
}

}  // namespace
}  // namespace corral::outputs
