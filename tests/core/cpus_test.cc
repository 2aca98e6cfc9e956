#include "core/cpus.h"

#include <thread>

#include "gtest/gtest.h"

namespace corral::core {
namespace {

TEST(CpusTest, ReadsACgroupV2QuotaRoundedUp) {
  EXPECT_EQ(CpusFromCgroupCpuMax("200000 100000\n"), 2);
  EXPECT_EQ(CpusFromCgroupCpuMax("150000 100000"), 2);  // --cpus=1.5
  EXPECT_EQ(CpusFromCgroupCpuMax("50000 100000"), 1);   // --cpus=0.5
  EXPECT_EQ(CpusFromCgroupCpuMax("400000 50000"), 8);
}

TEST(CpusTest, NoCgroupV2LimitOrUnreadableTextIsNoLimit) {
  EXPECT_EQ(CpusFromCgroupCpuMax("max 100000\n"), std::nullopt);
  EXPECT_EQ(CpusFromCgroupCpuMax(""), std::nullopt);
  EXPECT_EQ(CpusFromCgroupCpuMax("100000"), std::nullopt);
  EXPECT_EQ(CpusFromCgroupCpuMax("0 100000"), std::nullopt);
  EXPECT_EQ(CpusFromCgroupCpuMax("100000 0"), std::nullopt);
  EXPECT_EQ(CpusFromCgroupCpuMax("x y"), std::nullopt);
}

TEST(CpusTest, ReadsACgroupV1Quota) {
  EXPECT_EQ(CpusFromCgroupV1("300000\n", "100000\n"), 3);
  EXPECT_EQ(CpusFromCgroupV1("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(CpusFromCgroupV1("", "100000"), std::nullopt);
}

TEST(CpusTest, UsableCpusIsBetweenOneAndTheMachinesCores) {
  const int cpus = UsableCpus();
  EXPECT_GE(cpus, 1);
  EXPECT_LE(cpus, static_cast<int>(
                      std::max(1u, std::thread::hardware_concurrency())));
}

}  // namespace
}  // namespace corral::core
