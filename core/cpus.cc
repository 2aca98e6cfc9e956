#include "core/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/file_util.h"

namespace corral::core {
namespace {

std::optional<int> CpusFromQuota(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  const int64_t cpus = (quota + period - 1) / period;
  return static_cast<int>(std::min<int64_t>(cpus, 1 << 16));
}

// The cgroup v2 directory of this process ("0::/path" in /proc/self/cgroup),
// where its cpu.max is; /sys/fs/cgroup when not found (in a container with
// its own cgroup namespace the path is "/", the same place).
std::string CgroupV2Dir() {
  absl::StatusOr<std::string> self = ReadFileToString("/proc/self/cgroup");
  if (self.ok()) {
    for (absl::string_view line : absl::StrSplit(*self, '\n')) {
      if (absl::ConsumePrefix(&line, "0::")) {
        return absl::StrCat("/sys/fs/cgroup", line == "/" ? "" : line);
      }
    }
  }
  return "/sys/fs/cgroup";
}

std::optional<int> CgroupLimit() {
  for (const std::string& dir :
       {CgroupV2Dir(), std::string("/sys/fs/cgroup")}) {
    absl::StatusOr<std::string> cpu_max = ReadFileToString(dir + "/cpu.max");
    if (cpu_max.ok()) return CpusFromCgroupCpuMax(*cpu_max);
  }
  absl::StatusOr<std::string> quota =
      ReadFileToString("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  absl::StatusOr<std::string> period =
      ReadFileToString("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  if (quota.ok() && period.ok()) return CpusFromCgroupV1(*quota, *period);
  return std::nullopt;
}

}  // namespace

std::optional<int> CpusFromCgroupCpuMax(absl::string_view cpu_max) {
  std::vector<absl::string_view> parts = absl::StrSplit(
      absl::StripAsciiWhitespace(cpu_max), ' ', absl::SkipEmpty());
  int64_t quota = 0;
  int64_t period = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &quota) ||
      !absl::SimpleAtoi(parts[1], &period)) {
    return std::nullopt;  // "max ..." (no limit), or not cpu.max
  }
  return CpusFromQuota(quota, period);
}

std::optional<int> CpusFromCgroupV1(absl::string_view quota_us,
                                    absl::string_view period_us) {
  int64_t quota = 0;
  int64_t period = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(quota_us), &quota) ||
      !absl::SimpleAtoi(absl::StripAsciiWhitespace(period_us), &period)) {
    return std::nullopt;
  }
  return CpusFromQuota(quota, period);
}

int UsableCpus() {
  int cpus = static_cast<int>(std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
  if (std::optional<int> limit = CgroupLimit()) cpus = std::min(cpus, *limit);
  return std::max(1, cpus);
}

}  // namespace corral::core
