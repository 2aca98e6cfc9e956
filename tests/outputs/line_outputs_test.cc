// The stdout and file outputs, their line formats, and the output registry.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/alert_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "outputs/file/file_output.h"
#include "outputs/line_writer.h"
#include "outputs/registry.h"

namespace corral::outputs {
namespace {

using ::testing::HasSubstr;

core::AlertPtr MakeAlert(uint64_t seq, std::string output) {
  auto a = std::make_shared<core::Alert>();
  a->seq = seq;
  a->uuid = "u";
  a->rule = "Rule";
  a->priority = core::Priority::kError;
  a->time = absl::FromUnixSeconds(1793615000);
  a->output = std::move(output);
  a->output_fields_json = R"({"a":1})";
  return a;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

core::OutputConfig Common(std::string type, YAML::Node node) {
  core::OutputConfig c;
  c.name = "out";
  c.type = std::move(type);
  c.node = node;
  c.path = "outputs[0]";
  return c;
}

TEST(LineFormatTest, JsonAndTextLines) {
  std::string out;
  AppendLine(&out, *MakeAlert(1, "first\nsecond"), LineFormat::kText);
  AppendLine(&out, *MakeAlert(2, ""), LineFormat::kText);
  AppendLine(&out, *MakeAlert(3, "x"), LineFormat::kJson);
  EXPECT_EQ(out,
            "first\\nsecond\n"
            "2026-11-02T10:23:20Z Error Rule\n" +
                core::EncodeFalcoAlert(*MakeAlert(3, "x")) + "\n");
}

TEST(FileOutputTest, AppendsWholeLinesFromConcurrentWriters) {
  const std::string path =
      ::testing::TempDir() + "/file_output_test/sub/alerts.jsonl";
  std::filesystem::remove_all(::testing::TempDir() + "/file_output_test");
  Registry registry;
  RegisterBuiltinOutputs(registry);
  YAML::Node node = YAML::Load("{name: out, type: file, path: " + path + "}");
  absl::StatusOr<std::unique_ptr<Output>> output =
      registry.Create(Common("file", node), "test.yaml", OutputContext{});
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_TRUE((*output)->Start().ok());  // creates the directory

  // Long lines from several threads: each must land whole.
  std::string big(10000, 'x');
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::vector<core::AlertPtr> batch = {MakeAlert(t * 100 + i, big)};
        EXPECT_TRUE((*output)->Send(batch, absl::InfiniteFuture()).delivered());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::istringstream lines(Slurp(path));
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ASSERT_TRUE(core::DecodeFalcoAlert(line).ok()) << line.substr(0, 80);
    ++count;
  }
  EXPECT_EQ(count, 200);
}

TEST(FileOutputTest, FailsToStartOnAnUnwritablePathAndRetriesAFullDisk) {
  Registry registry;
  RegisterBuiltinOutputs(registry);
  const std::string blocker = ::testing::TempDir() + "/file_output_blocker";
  std::ofstream(blocker) << "a file, not a directory";
  auto bad = registry.Create(
      Common("file", YAML::Load("{path: " + blocker + "/alerts.jsonl}")),
      "test.yaml", OutputContext{});
  ASSERT_TRUE(bad.ok());
  absl::Status started = (*bad)->Start();
  EXPECT_FALSE(started.ok());
  EXPECT_THAT(std::string(started.message()), HasSubstr(blocker));

  auto full = registry.Create(Common("file", YAML::Load("{path: /dev/full}")),
                              "test.yaml", OutputContext{});
  ASSERT_TRUE(full.ok());
  ASSERT_TRUE((*full)->Start().ok());
  std::vector<core::AlertPtr> batch = {MakeAlert(1, "x")};
  SendResult result = (*full)->Send(batch, absl::InfiniteFuture());
  EXPECT_EQ(result.kind, SendResult::Kind::kRetry);
  EXPECT_THAT(result.reason, HasSubstr("No space left on device"));
}

TEST(RegistryTest, RefusesUnknownTypesUnknownKeysAndMissingKeys) {
  Registry registry;
  RegisterBuiltinOutputs(registry);
  EXPECT_FALSE(registry.Register("file", nullptr).ok());  // registered twice

  auto unknown = registry.Create(Common("pigeon", YAML::Load("{type: pigeon}")),
                                 "c.yaml", OutputContext{});
  EXPECT_THAT(
      std::string(unknown.status().message()),
      HasSubstr("unknown output type \"pigeon\" (known: chronicle, file, "
                "gcs, pubsub, s3, slack, stdout, webhook)"));

  auto extra = registry.Create(
      Common("stdout", YAML::Load("{type: stdout, colour: red}")), "c.yaml",
      OutputContext{});
  EXPECT_THAT(std::string(extra.status().message()),
              HasSubstr("c.yaml:1:16: outputs[0].colour: unknown key"));

  auto missing = registry.Create(Common("file", YAML::Load("{type: file}")),
                                 "c.yaml", OutputContext{});
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("outputs[0].path: is required"));

  auto format = registry.Create(
      Common("stdout", YAML::Load("{type: stdout, format: xml}")), "c.yaml",
      OutputContext{});
  EXPECT_THAT(std::string(format.status().message()),
              HasSubstr("\"xml\" is not one of: json, text"));
}

}  // namespace
}  // namespace corral::outputs
