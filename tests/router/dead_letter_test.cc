#include "router/dead_letter.h"

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace corral::router {
namespace {

class FixedClock : public core::Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixSeconds(1793615000); }
};

TEST(DeadLetterFileTest, WritesOneDurableJsonLinePerAlert) {
  const std::string dir = ::testing::TempDir() + "/dead_letter_test/nested";
  std::filesystem::remove_all(dir);
  FixedClock clock;
  DeadLetterFile file(dir + "/dead.jsonl", &clock);
  ASSERT_TRUE(file.Open().ok());  // creates the directory

  std::vector<core::AlertPtr> alerts;
  for (uint64_t seq : {5, 6}) {
    auto a = std::make_shared<core::Alert>();
    a->seq = seq;
    a->rule = "R";
    a->output_fields_json = R"({"n":null})";
    alerts.push_back(a);
  }
  ASSERT_TRUE(file.Write(alerts, "hook", "HTTP 400: \"bad\"", 3, 400).ok());
  ASSERT_TRUE(file.Write({alerts.data(), 1}, "other", "gave up", 9, 503).ok());

  std::ifstream in(dir + "/dead.jsonl");
  std::vector<boost::json::object> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(boost::json::parse(line).as_object());
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].at("time").as_string(), "2026-11-02T10:23:20Z");
  EXPECT_EQ(lines[0].at("output").as_string(), "hook");
  EXPECT_EQ(lines[0].at("reason").as_string(), "HTTP 400: \"bad\"");
  EXPECT_EQ(lines[0].at("attempts").as_int64(), 3);
  EXPECT_EQ(lines[0].at("last_status").as_int64(), 400);
  EXPECT_EQ(lines[0].at("alert").at("seq").as_int64(), 5);
  EXPECT_TRUE(lines[0].at("alert").at("output_fields").at("n").is_null());
  EXPECT_EQ(lines[1].at("alert").at("seq").as_int64(), 6);
  EXPECT_EQ(lines[2].at("output").as_string(), "other");
}

TEST(DeadLetterFileTest, ReportsAFullDiskAndAnUnopenedFile) {
  auto alert = std::make_shared<core::Alert>();
  std::vector<core::AlertPtr> alerts = {alert};
  // A directory cannot be made below a regular file, even by root.
  const std::string blocker = ::testing::TempDir() + "/dead_letter_blocker";
  std::ofstream(blocker) << "not a directory";
  DeadLetterFile closed(blocker + "/x/dead.jsonl", core::Clock::Real());
  EXPECT_FALSE(closed.Open().ok());
  EXPECT_EQ(closed.Write(alerts, "o", "r", 1, 0).code(),
            absl::StatusCode::kFailedPrecondition);

  DeadLetterFile full("/dev/full", core::Clock::Real());
  ASSERT_TRUE(full.Open().ok());
  absl::Status s = full.Write(alerts, "o", "r", 1, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("/dev/full"));
}

}  // namespace
}  // namespace corral::router
