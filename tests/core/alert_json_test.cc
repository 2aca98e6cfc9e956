#include "core/alert_json.h"

#include <boost/json.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::core {
namespace {

using ::testing::HasSubstr;

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(CORRAL_FIXTURES_DIR) + "/" + name);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(AlertJsonTest, DecodesEveryFalcoFixtureWithFieldTypesIntact) {
  for (const auto& entry : std::filesystem::directory_iterator(
           std::string(CORRAL_FIXTURES_DIR) + "/falco")) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    std::string text = ReadFixture("falco/" + entry.path().filename().string());
    absl::StatusOr<Alert> alert = DecodeFalcoAlert(text);
    ASSERT_TRUE(alert.ok()) << alert.status();

    boost::json::value original = boost::json::parse(text);
    boost::json::value encoded = boost::json::parse(EncodeFalcoAlert(*alert));
    // Every field Falco sent comes back with the same value and JSON type.
    for (const auto& [key, value] : original.as_object()) {
      EXPECT_EQ(encoded.as_object().at(key), value) << key;
    }
  }
}

TEST(AlertJsonTest, KeepsNullsNumbersAndNegativeValues) {
  absl::StatusOr<Alert> alert =
      DecodeFalcoAlert(ReadFixture("falco/syscall_read_sensitive_file.json"));
  ASSERT_TRUE(alert.ok()) << alert.status();
  boost::json::object fields = ParseOutputFields(*alert);
  EXPECT_TRUE(fields.at("k8s.ns.name").is_null());
  EXPECT_EQ(fields.at("user.loginuid").as_int64(), -1);
  EXPECT_EQ(fields.at("proc.tty").as_int64(), 34816);
  EXPECT_EQ(fields.at("evt.time").as_int64(), 1783277459430325374);
  EXPECT_EQ(alert->priority, Priority::kWarning);
  EXPECT_EQ(FormatAlertTime(alert->time), "2026-07-05T18:50:59.430325374Z");
}

TEST(AlertJsonTest, RejectsEveryInvalidExampleWithAReason) {
  std::istringstream lines(ReadFixture("falco/invalid_examples.ndjson"));
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    ++count;
    absl::StatusOr<Alert> alert = DecodeFalcoAlert(line);
    EXPECT_FALSE(alert.ok()) << line;
    EXPECT_EQ(alert.status().code(), absl::StatusCode::kInvalidArgument)
        << line;
    EXPECT_FALSE(alert.status().message().empty()) << line;
  }
  EXPECT_GE(count, 6);
}

TEST(AlertJsonTest, NamesTheBrokenRule) {
  const std::string base =
      R"("output":"x","priority":"Warning","time":"2026-11-02T10:15:31Z")";
  EXPECT_EQ(DecodeFalcoAlert("{" + base + R"(,"output_fields":{"a":1}})")
                .status()
                .message(),
            "missing rule");
  EXPECT_EQ(DecodeFalcoAlert(
                R"({"rule":"R","priority":"Warning","output_fields":{"a":1}})")
                .status()
                .message(),
            "missing time");
  EXPECT_EQ(
      DecodeFalcoAlert(
          R"({"rule":"R","priority":"Warning","time":"2026-11-02T10:15:31Z"})")
          .status()
          .message(),
      "missing output_fields");
  EXPECT_EQ(
      DecodeFalcoAlert(
          R"({"rule":"R","priority":"Warning","time":"2026-11-02T10:15:31Z","output_fields":{}})")
          .status()
          .message(),
      "empty output_fields");
  EXPECT_THAT(
      DecodeFalcoAlert(
          R"({"rule":"R","priority":"Urgent","time":"2026-11-02T10:15:31Z","output_fields":{"a":1}})")
          .status()
          .message(),
      HasSubstr("unknown priority \"Urgent\""));
  EXPECT_THAT(
      DecodeFalcoAlert(
          R"({"rule":"R","priority":"Warning","time":"0001-01-01T00:00:00Z","output_fields":{"a":1}})")
          .status()
          .message(),
      HasSubstr("zero"));
  EXPECT_THAT(
      DecodeFalcoAlert(
          R"({"rule":"R","priority":"Warning","time":"yesterday","output_fields":{"a":1}})")
          .status()
          .message(),
      HasSubstr("RFC 3339"));
  EXPECT_THAT(
      DecodeFalcoAlert(
          R"({"rule":5,"priority":"Warning","time":"2026-11-02T10:15:31Z","output_fields":{"a":1}})")
          .status()
          .message(),
      HasSubstr("\"rule\" must be a string"));
  EXPECT_THAT(
      DecodeFalcoAlert(
          R"({"rule":"R","priority":"Warning","time":"2026-11-02T10:15:31Z","output_fields":{"a":1},"tags":[1]})")
          .status()
          .message(),
      HasSubstr("tags"));
  EXPECT_THAT(DecodeFalcoAlert("[1,2,3]").status().message(),
              HasSubstr("JSON object"));
  EXPECT_THAT(DecodeFalcoAlert("{\"rule\":").status().message(),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(DecodeFalcoAlert("").status().message(),
              HasSubstr("not valid JSON"));
}

TEST(AlertJsonTest, AcceptsAnyPriorityCaseAndEmptyOutputAndIgnoresUnknownKeys) {
  absl::StatusOr<Alert> alert = DecodeFalcoAlert(
      R"({"rule":"R","priority":"info","time":"2026-11-02T10:15:31+02:00","output":"",)"
      R"("output_fields":{"a":"b"},"extra":{"nested":true}})");
  ASSERT_TRUE(alert.ok()) << alert.status();
  EXPECT_EQ(alert->priority, Priority::kInformational);
  EXPECT_EQ(FormatAlertTime(alert->time), "2026-11-02T08:15:31Z");
  EXPECT_EQ(alert->output, "");
}

TEST(AlertJsonTest, EncodesAlphabeticallyWithIdentity) {
  Alert alert;
  alert.uuid = "u-1";
  alert.seq = 42;
  alert.time = absl::FromUnixNanos(1793615000123000000);
  alert.priority = Priority::kCritical;
  alert.rule = "Rule \"q\"";
  alert.output = "line\nbreak";
  alert.source = "syscall";
  alert.hostname = "h";
  alert.tags = {"a", "b"};
  alert.output_fields_json = R"({"x":1})";
  EXPECT_EQ(
      EncodeFalcoAlert(alert),
      R"({"hostname":"h","output":"line\nbreak","output_fields":{"x":1},)"
      R"("priority":"Critical","rule":"Rule \"q\"","seq":42,"source":"syscall",)"
      R"("tags":["a","b"],"time":"2026-11-02T10:23:20.123Z","uuid":"u-1"})");
}

// Found by fuzzing: a number too large for a double parsed as infinity and was
// forwarded as "-Infinity", which is not JSON; absl::ParseTime's
// "infinite-future" passed as a time; a time past 2262 is one the spool cannot
// keep (it stores nanoseconds since 1970 in 64 bits).
TEST(AlertJsonTest, RefusesWhatCannotBeWrittenOrKept) {
  EXPECT_THAT(
      DecodeFalcoAlert(
          R"({"rule":"R","priority":"Warning","time":"2026-11-02T10:15:31Z","output_fields":{"n":-1.5e766}})")
          .status()
          .message(),
      HasSubstr("\"output_fields\" holds a number out of range"));
  EXPECT_THAT(
      DecodeFalcoAlert(
          R"({"rule":"R","priority":"Warning","time":"2026-11-02T10:15:31Z","output_fields":{"o":{"a":[1,2e400]}}})")
          .status()
          .message(),
      HasSubstr("number out of range"));
  for (const char* time : {"infinite-future", "infinite-past"}) {
    EXPECT_THAT(DecodeFalcoAlert(
                    absl::StrCat(R"({"rule":"R","priority":"Warning","time":")",
                                 time, R"(","output_fields":{"a":1}})"))
                    .status()
                    .message(),
                HasSubstr("not an RFC 3339 timestamp"))
        << time;
  }
  EXPECT_THAT(
      DecodeFalcoAlert(
          R"({"rule":"R","priority":"Warning","time":"2300-01-01T00:00:00Z","output_fields":{"a":1}})")
          .status()
          .message(),
      HasSubstr("\"time\" is out of range"));
  // The bounds themselves are kept.
  for (int64_t nanos : {std::numeric_limits<int64_t>::min(),
                        std::numeric_limits<int64_t>::max()}) {
    const absl::Time t = absl::FromUnixNanos(nanos);
    EXPECT_TRUE(AlertTimeInRange(t));
    absl::StatusOr<absl::Time> parsed = ParseAlertTime(FormatAlertTime(t));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_FALSE(AlertTimeInRange(
      absl::FromUnixNanos(std::numeric_limits<int64_t>::max()) +
      absl::Nanoseconds(1)));
}

// The direct reader of "YYYY-MM-DDTHH:MM:SS[.F]Z" must agree with
// absl::ParseTime wherever it answers, and leave every other form to it.
TEST(AlertJsonTest, TheTimestampFastPathAgreesWithAbslAndLeavesTheRestToIt) {
  auto absl_parse = [](absl::string_view text) -> std::optional<absl::Time> {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
      return std::nullopt;
    }
    return t;
  };
  std::mt19937_64 rng(20261201);
  auto pick = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  for (int i = 0; i < 20000; ++i) {
    // Every field across its range, days past a month's end included.
    const int year = i % 4 == 0 ? pick(0, 9999) : pick(1960, 2400);
    std::string text =
        absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d", year, pick(1, 12),
                        pick(1, 31), pick(0, 23), pick(0, 59), pick(0, 59));
    const int digits = pick(0, 9);
    if (digits > 0) {
      text += '.';
      for (int d = 0; d < digits; ++d)
        text += static_cast<char>('0' + pick(0, 9));
    }
    text += 'Z';
    const std::optional<absl::Time> want = absl_parse(text);
    const std::optional<absl::Time> fast = ParseUtcTimestamp(text);
    // Only an impossible day (30 February, 31 April) is absl's to refuse.
    if (fast.has_value()) {
      ASSERT_TRUE(want.has_value()) << text;
      EXPECT_EQ(*fast, *want) << text;
    } else {
      EXPECT_FALSE(want.has_value()) << text;
    }
    absl::StatusOr<absl::Time> parsed = ParseAlertTime(text);
    EXPECT_EQ(parsed.ok(), want.has_value()) << text;
    if (parsed.ok() && want.has_value()) EXPECT_EQ(*parsed, *want) << text;
  }
  for (absl::string_view text :
       {"2024-02-29T23:59:59.999999999Z", "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59.5Z", "0000-03-01T00:00:00Z",
        "9999-12-31T23:59:59.000000001Z", "2000-02-29T12:00:00Z"}) {
    std::optional<absl::Time> fast = ParseUtcTimestamp(text);
    ASSERT_TRUE(fast.has_value()) << text;
    EXPECT_EQ(fast, absl_parse(text)) << text;
  }
  // Left to absl::ParseTime, which takes some and refuses others; either way
  // ParseAlertTime answers as absl does.
  for (absl::string_view text :
       {"2026-12-01t10:00:00Z", "2026-12-01T10:00:00z",
        "2026-12-01T10:00:00+02:00", "2026-12-01T10:00:00.5-07:30",
        "2026-12-31T23:59:60Z", "2026-12-01T10:00:00.1234567891Z",
        "2026-12-01T10:00:00.Z", "2026-12-01T10:00Z", "2026-12-01 10:00:00Z",
        "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-12-01T24:00:00Z", "+2026-12-01T10:00:00Z", "2026-12-01T10:00:00",
        "infinite-future", ""}) {
    EXPECT_EQ(ParseUtcTimestamp(text), std::nullopt) << text;
    const std::optional<absl::Time> want = absl_parse(text);
    absl::StatusOr<absl::Time> parsed = ParseAlertTime(text);
    if (want.has_value() && *want != absl::InfiniteFuture() &&
        *want != absl::InfinitePast()) {
      ASSERT_TRUE(parsed.ok()) << text;
      EXPECT_EQ(*parsed, *want) << text;
    } else {
      EXPECT_FALSE(parsed.ok()) << text;
    }
  }
}
}  // namespace
}  // namespace corral::core
