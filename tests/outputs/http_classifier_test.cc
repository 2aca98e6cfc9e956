#include "outputs/http_classifier.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/outputs/canned_response.h"

namespace corral::outputs {
namespace {

using Kind = SendResult::Kind;
using ::testing::Optional;

// 2026-07-05T18:50:00Z, a Sunday.
const absl::Time kNow = absl::FromUnixSeconds(1783277400);

struct StatusCase {
  int status;
  Kind kind;
};

class ClassifyStatusTest : public ::testing::TestWithParam<StatusCase> {};

TEST_P(ClassifyStatusTest, FollowsTheSharedRules) {
  const StatusCase& c = GetParam();
  SendResult result = ClassifyHttp(Response(c.status, "body"), kNow);
  EXPECT_EQ(result.kind, c.kind) << c.status;
  EXPECT_EQ(result.status, c.status);
  EXPECT_EQ(result.retry_after, absl::ZeroDuration());
  if (c.kind == Kind::kDelivered) {
    EXPECT_EQ(result.reason, "");
  } else {
    EXPECT_EQ(result.reason, "HTTP " + std::to_string(c.status) + ": body");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, ClassifyStatusTest,
    ::testing::Values(
        StatusCase{200, Kind::kDelivered}, StatusCase{201, Kind::kDelivered},
        StatusCase{204, Kind::kDelivered}, StatusCase{299, Kind::kDelivered},
        StatusCase{301, Kind::kPermanent}, StatusCase{400, Kind::kPermanent},
        StatusCase{401, Kind::kPermanent}, StatusCase{403, Kind::kPermanent},
        StatusCase{404, Kind::kPermanent}, StatusCase{408, Kind::kRetry},
        StatusCase{410, Kind::kPermanent}, StatusCase{413, Kind::kPermanent},
        StatusCase{429, Kind::kRetry}, StatusCase{500, Kind::kRetry},
        StatusCase{501, Kind::kPermanent}, StatusCase{502, Kind::kRetry},
        StatusCase{503, Kind::kRetry}, StatusCase{504, Kind::kRetry},
        StatusCase{599, Kind::kRetry}),
    [](const auto& info) { return std::to_string(info.param.status); });

TEST(ClassifyHttpTest, ReasonIsTheStatusAndOneLineOfTheBodyStart) {
  SendResult result =
      ClassifyHttp(Response(503, "upstream down\r\n\tretry  later\n"), kNow);
  EXPECT_EQ(result.reason, "HTTP 503: upstream down retry later");
  EXPECT_EQ(ClassifyHttp(Response(400), kNow).reason, "HTTP 400");
  EXPECT_EQ(ClassifyHttp(Response(400, " \n "), kNow).reason, "HTTP 400");

  std::string long_body(150, 'a');
  long_body += std::string(150, 'b');
  EXPECT_EQ(ClassifyHttp(Response(500, long_body), kNow).reason,
            "HTTP 500: " + std::string(150, 'a') + std::string(50, 'b'));

  // A multi-byte character straddling byte 200 is dropped whole, not cut.
  std::string utf8(199, 'x');
  utf8 += "\xC3\xA9tail";  // é at bytes 199..200
  EXPECT_EQ(ClassifyHttp(Response(500, utf8), kNow).reason,
            "HTTP 500: " + std::string(199, 'x'));
}

TEST(ClassifyHttpTest, RetryAfterSecondsOnRetryableStatuses) {
  SendResult result =
      ClassifyHttp(Response(429, "slow down", {{"retry-after", "7"}}), kNow);
  EXPECT_EQ(result.kind, Kind::kRetry);
  EXPECT_EQ(result.retry_after, absl::Seconds(7));
  EXPECT_EQ(result.status, 429);
  EXPECT_EQ(result.reason, "HTTP 429: slow down");

  EXPECT_EQ(ClassifyHttp(Response(503, "", {{"retry-after", " 120 "}}), kNow)
                .retry_after,
            absl::Seconds(120));
  // Garbage is ignored; the retry policy chooses.
  result = ClassifyHttp(Response(503, "", {{"retry-after", "soon"}}), kNow);
  EXPECT_EQ(result.kind, Kind::kRetry);
  EXPECT_EQ(result.retry_after, absl::ZeroDuration());
  // A permanent failure has nothing to wait for.
  result = ClassifyHttp(Response(400, "", {{"retry-after", "7"}}), kNow);
  EXPECT_EQ(result.kind, Kind::kPermanent);
  EXPECT_EQ(result.retry_after, absl::ZeroDuration());
}

TEST(ClassifyHttpTest, RetryAfterHttpDateIsRelativeToNow) {
  SendResult result = ClassifyHttp(
      Response(503, "", {{"retry-after", "Sun, 05 Jul 2026 18:51:30 GMT"}}),
      kNow);
  EXPECT_EQ(result.kind, Kind::kRetry);
  EXPECT_EQ(result.retry_after, absl::Seconds(90));
  result = ClassifyHttp(
      Response(429, "", {{"retry-after", "Sun, 05 Jul 2026 18:00:00 GMT"}}),
      kNow);
  EXPECT_EQ(result.retry_after, absl::ZeroDuration());  // in the past
}

TEST(ClassifyHttpTest, TransportErrorsRetryWithTheirMessage) {
  for (const absl::Status& error :
       {absl::UnavailableError("POST http://127.0.0.1:1/***: Couldn't connect"),
        absl::DeadlineExceededError("POST http://h/***: Operation timed out"),
        absl::FailedPreconditionError(
            "POST https://h/***: SSL certificate problem")}) {
    SendResult result = ClassifyHttp(error, kNow);
    EXPECT_EQ(result.kind, Kind::kRetry);
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.retry_after, absl::ZeroDuration());
    EXPECT_EQ(result.reason, error.message());
  }
}

TEST(ParseRetryAfterTest, Forms) {
  EXPECT_THAT(ParseRetryAfter("0", kNow), Optional(absl::ZeroDuration()));
  EXPECT_THAT(ParseRetryAfter("30", kNow), Optional(absl::Seconds(30)));
  EXPECT_THAT(ParseRetryAfter("-5", kNow), Optional(absl::ZeroDuration()));
  // IMF-fixdate, RFC 850 and asctime, all 18:51:00Z = now + 60 s.
  EXPECT_THAT(ParseRetryAfter("Sun, 05 Jul 2026 18:51:00 GMT", kNow),
              Optional(absl::Seconds(60)));
  EXPECT_THAT(ParseRetryAfter("Sunday, 05-Jul-26 18:51:00 GMT", kNow),
              Optional(absl::Seconds(60)));
  EXPECT_THAT(ParseRetryAfter("Sun Jul  5 18:51:00 2026", kNow),
              Optional(absl::Seconds(60)));
  EXPECT_THAT(ParseRetryAfter("Sun, 05 Jul 2026 18:49:00 GMT", kNow),
              Optional(absl::ZeroDuration()));
  EXPECT_THAT(ParseRetryAfter("99999999999999999999999", kNow),
              Optional(::testing::Gt(absl::Hours(24 * 365))));
  EXPECT_EQ(ParseRetryAfter("", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("1.5", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("tomorrow", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("Sun, 05 Jul 2026", kNow), std::nullopt);
}

}  // namespace
}  // namespace corral::outputs
