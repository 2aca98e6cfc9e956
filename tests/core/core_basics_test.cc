#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>

#include "absl/strings/str_format.h"
#include "core/alert.h"
#include "core/bearer_auth.h"
#include "core/enrichment.h"
#include "core/json_util.h"
#include "core/log.h"
#include "core/priority.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::core {
namespace {

TEST(PriorityTest, ParsesEveryNameInAnyCaseAndOrdersUpward) {
  EXPECT_EQ(*ParsePriority("EMERGENCY"), Priority::kEmergency);
  EXPECT_EQ(*ParsePriority("alert"), Priority::kAlert);
  EXPECT_EQ(*ParsePriority("Critical"), Priority::kCritical);
  EXPECT_EQ(*ParsePriority("error"), Priority::kError);
  EXPECT_EQ(*ParsePriority("wArNiNg"), Priority::kWarning);
  EXPECT_EQ(*ParsePriority("notice"), Priority::kNotice);
  EXPECT_EQ(*ParsePriority("informational"), Priority::kInformational);
  EXPECT_EQ(*ParsePriority("INFO"), Priority::kInformational);
  EXPECT_EQ(*ParsePriority("debug"), Priority::kDebug);
  EXPECT_FALSE(ParsePriority("warn").ok());
  EXPECT_FALSE(ParsePriority("").ok());
  EXPECT_LT(Priority::kDebug, Priority::kWarning);
  EXPECT_LT(Priority::kCritical, Priority::kEmergency);
  EXPECT_EQ(PriorityName(Priority::kInformational), "Informational");
}

TEST(BearerAuthTest, MatchesOnlyTheWholeTokenUnderTheBearerScheme) {
  EXPECT_TRUE(BearerTokenMatches("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(BearerTokenMatches("bearer s3cret", "s3cret"));  // any case
  EXPECT_TRUE(BearerTokenMatches("BEARER s3cret", "s3cret"));
  for (absl::string_view wrong :
       {"", "s3cret", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cretx",
        "Bearer S3CRET", "Bearer  s3cret", "Basic s3cret", "Bearers3cret",
        "Bearer s3cret "}) {
    EXPECT_FALSE(BearerTokenMatches(wrong, "s3cret")) << wrong;
  }
  // No token configured never matches (callers skip the check instead).
  EXPECT_FALSE(BearerTokenMatches("Bearer ", ""));
}

TEST(UuidTest, IsVersion4AndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewUuid();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '4');
    EXPECT_TRUE(id[19] == '8' || id[19] == '9' || id[19] == 'a' ||
                id[19] == 'b')
        << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(JsonUtilTest, EscapesControlsAndReplacesInvalidUtf8) {
  EXPECT_EQ(JsonQuote("a\"b\\c\n\t\x01"), R"("a\"b\\c\n\t\u0001")");
  EXPECT_EQ(JsonQuote("caf\xC3\xA9"), "\"caf\xC3\xA9\"");
  EXPECT_EQ(JsonQuote("bad\xFFz"), "\"bad\xEF\xBF\xBDz\"");
  EXPECT_EQ(JsonQuote("\xE2\x82"),
            "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // truncated sequence
}

// JSON escaping of one ASCII character, spelt out, to check the fast path
// (which looks at 8 bytes at once) against.
std::string EscapedAscii(char c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
  }
  if (static_cast<unsigned char>(c) < 0x20) {
    return absl::StrFormat("\\u%04x", static_cast<int>(c));
  }
  return std::string(1, c);
}

TEST(JsonUtilTest, EveryCharacterAtEveryPositionOfALongString) {
  const std::string plain = "0123456789abcdefghijklmnopqrstuv";  // 32 bytes
  for (int c = 0; c < 0x80; ++c) {
    for (size_t at = 0; at < plain.size(); ++at) {
      std::string value = plain;
      value[at] = static_cast<char>(c);
      std::string want = "\"" + plain.substr(0, at) +
                         EscapedAscii(static_cast<char>(c)) +
                         plain.substr(at + 1) + "\"";
      ASSERT_EQ(JsonQuote(value), want) << "char " << c << " at " << at;
    }
  }
  for (size_t at = 0; at < plain.size(); ++at) {
    std::string value = plain;
    value.insert(at, "\xC3\xA9");  // é: kept
    EXPECT_EQ(JsonQuote(value), "\"" + value + "\"") << at;
    value = plain;
    value[at] = '\xFF';  // never valid UTF-8: replaced
    EXPECT_EQ(JsonQuote(value), "\"" + plain.substr(0, at) + "\xEF\xBF\xBD" +
                                    plain.substr(at + 1) + "\"")
        << at;
  }
}

TEST(JsonUtilTest, TextDenseWithEscapesAtEveryLength) {
  // Compact JSON, as an object-valued field holds it: an escape every few
  // bytes, runs of every length against the 16-byte blocks.
  const std::string pattern = R"({"k":"v\1","list":[1,"two"],"n":null}	)";
  std::string text;
  for (size_t n = 0; n <= 3 * pattern.size(); ++n) {
    text = pattern.substr(n % pattern.size()) + text;
    text.resize(n);
    std::string want = "\"";
    for (char c : text) want += EscapedAscii(c);
    want += "\"";
    ASSERT_EQ(JsonQuote(text), want) << n;
  }
}

TEST(JsonUtilTest, AStringOfNothingButEscapesGrowsTheOutputAsItGoes) {
  for (size_t n : {1, 7, 8, 9, 100, 1000}) {
    std::string want_quotes = "\"", want_controls = "\"";
    for (size_t i = 0; i < n; ++i) {
      want_quotes += "\\\"";
      want_controls += "\\u0001";
    }
    EXPECT_EQ(JsonQuote(std::string(n, '"')), want_quotes + "\"") << n;
    EXPECT_EQ(JsonQuote(std::string(n, '\x01')), want_controls + "\"") << n;
    std::string out = "prefix";  // appends after what is there
    AppendJsonString(&out, std::string(n, '\x01'));
    EXPECT_EQ(out, "prefix" + want_controls + "\"") << n;
  }
}

TEST(EnrichmentTest, SetsCustomFieldsAndAppendsMissingTags) {
  Enrichment enrichment;
  enrichment.custom_fields = {{"env", "prod"}, {"a", "replaced"}};
  enrichment.custom_tags = {"gcp", "t1"};
  Alert alert;
  alert.output_fields_json = R"({"a":1,"n":null})";
  alert.tags = {"t1"};
  enrichment.Apply(alert);
  EXPECT_EQ(alert.output_fields_json,
            R"({"a":"replaced","n":null,"env":"prod"})");
  EXPECT_THAT(alert.tags, ::testing::ElementsAre("t1", "gcp"));
}

// Templates run on the fields after customfields, and all on the same
// fields: one templated field never sees another.
TEST(EnrichmentTest, TemplatedFieldsSeeCustomFieldsButNotEachOther) {
  Enrichment enrichment;
  enrichment.custom_fields = {{"env", "prod"}};
  auto add = [&](const std::string& key, const std::string& text) {
    absl::StatusOr<FieldTemplate> t = FieldTemplate::Parse(text);
    ASSERT_TRUE(t.ok()) << t.status();
    enrichment.templated_fields.insert_or_assign(key, *t);
  };
  add("Dkey", R"({{ or (index . "k8s.ns.labels.foo") "bar" }})");
  add("a_where", R"({{ .env }}/{{ index . "k8s.ns.name" }}/{{ .z_late }})");
  add("z_late", "late");
  Alert alert;
  alert.output_fields_json = R"({"k8s.ns.name":"payments","pid":7})";
  enrichment.Apply(alert);
  EXPECT_EQ(
      alert.output_fields_json,
      R"({"k8s.ns.name":"payments","pid":7,"env":"prod","Dkey":"bar","a_where":"prod/payments/<no value>","z_late":"late"})");
}

TEST(EnrichmentTest, EnrichingIntakeEnrichesThenForwards) {
  struct Recorder : Intake {
    void Submit(Alert alert, IntakeDone done) override {
      got = alert;
      std::move(done)(uint64_t{7});
    }
    Alert got;
  } recorder;
  EnrichingIntake intake(Enrichment{{}, {"extra"}}, &recorder);
  uint64_t seq = 0;
  intake.Submit(Alert{}, [&](absl::StatusOr<uint64_t> s) { seq = *s; });
  EXPECT_EQ(seq, 7u);
  EXPECT_THAT(recorder.got.tags, ::testing::ElementsAre("extra"));

  intake.SetEnrichment(Enrichment{{{"env", "prod"}}, {"reloaded"}});
  intake.Submit(Alert{}, [](absl::StatusOr<uint64_t>) {});
  EXPECT_THAT(recorder.got.tags, ::testing::ElementsAre("reloaded"));
  EXPECT_EQ(recorder.got.output_fields_json, R"({"env":"prod"})");
}

TEST(LogTest, RedactUrlKeepsOnlySchemeAndHost) {
  EXPECT_EQ(RedactUrl("https://hooks.slack.com/services/T0/B0/SECRET"),
            "https://hooks.slack.com/***");
  EXPECT_EQ(RedactUrl("http://user:pw@127.0.0.1:9000/a?token=x"),
            "http://127.0.0.1:9000/***");
  EXPECT_EQ(RedactUrl("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
  EXPECT_EQ(RedactUrl("not a url"), "***");
}

// Runs `fn` with stderr going to a file and returns what it wrote.
std::string CaptureStderr(const std::function<void()>& fn) {
  std::string path = ::testing::TempDir() + "/log_capture.txt";
  int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int saved = ::dup(STDERR_FILENO);
  ::dup2(file, STDERR_FILENO);
  fn();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(file);
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(LogTest, WritesOneLogfmtLineWithQuotingWhereNeeded) {
  std::string line = CaptureStderr([] {
    LogWarn("delivery failed", {{"output", "hook"},
                                {"reason", "HTTP 503: \"busy\"\n"},
                                {"empty", ""}});
  });
  EXPECT_THAT(line, ::testing::StartsWith("ts=20"));
  EXPECT_THAT(line, ::testing::EndsWith(
                        R"(Z level=warn msg="delivery failed" output=hook )"
                        R"(reason="HTTP 503: \"busy\"\n" empty=""
)"));
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  SetLogLevel(LogLevel::kError);
  EXPECT_EQ(CaptureStderr([] { LogWarn("hidden"); }), "");
  SetLogLevel(LogLevel::kInfo);
}

TEST(LogTest, ParsesLevels) {
  LogLevel level;
  EXPECT_TRUE(ParseLogLevel("DEBUG", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("warning", &level));
  EXPECT_EQ(level, LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("loud", &level));
}

}  // namespace
}  // namespace corral::core
