#include "outputs/google_error.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace corral::outputs {
namespace {

TEST(GoogleErrorTest, StatusReasonAndMessageWhicheverAreThere) {
  EXPECT_EQ(DescribeGoogleError(
                R"({"error":{"code":403,"message":"Permission denied",)"
                R"("status":"PERMISSION_DENIED"}})"),
            "PERMISSION_DENIED: Permission denied");
  EXPECT_EQ(DescribeGoogleError(
                R"({"error":{"code":403,"message":"no access","errors":)"
                R"([{"message":"no access","domain":"global",)"
                R"("reason":"forbidden"}]}})"),
            "forbidden: no access");
  EXPECT_EQ(DescribeGoogleError(
                R"({"error":{"code":429,"message":"slow down","status":)"
                R"("RESOURCE_EXHAUSTED","errors":[{"reason":)"
                R"("rateLimitExceeded"}]}})"),
            "RESOURCE_EXHAUSTED: rateLimitExceeded: slow down");
}

TEST(GoogleErrorTest, AnythingElseIsEmpty) {
  EXPECT_EQ(DescribeGoogleError(""), "");
  EXPECT_EQ(DescribeGoogleError("<html>Bad Gateway</html>"), "");
  EXPECT_EQ(DescribeGoogleError(R"({"error":"invalid_grant"})"), "");
  EXPECT_EQ(DescribeGoogleError(R"([1,2])"), "");
  EXPECT_EQ(DescribeGoogleError(R"({"error":{"errors":[7]}})"), "");
}

TEST(GoogleErrorTest, LongMessagesAreCut) {
  const std::string body = absl::StrCat(R"({"error":{"message":")",
                                        std::string(1000, 'm'), R"("}})");
  EXPECT_EQ(DescribeGoogleError(body), std::string(300, 'm'));
}

}  // namespace
}  // namespace corral::outputs
