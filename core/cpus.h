#ifndef CORRAL_CORE_CPUS_H_
#define CORRAL_CORE_CPUS_H_

#include <optional>

#include "absl/strings/string_view.h"

namespace corral::core {

// The CPUs this process may use, for "one thread per core" defaults: the CPUs
// it may run on (its affinity mask, e.g. `docker run --cpuset-cpus`), capped
// by a cgroup CPU quota (`docker run --cpus`, a Kubernetes CPU limit) rounded
// up. At least 1. A container on a large host otherwise sees every core of the
// host and starts a thread for each.
int UsableCpus();

// The CPUs a cgroup v2 `cpu.max` ("$MAX $PERIOD", MAX "max" for no limit)
// allows, rounded up; nullopt for no limit or unreadable text.
std::optional<int> CpusFromCgroupCpuMax(absl::string_view cpu_max);

// The same for cgroup v1's cpu.cfs_quota_us and cpu.cfs_period_us (a quota
// of -1: no limit).
std::optional<int> CpusFromCgroupV1(absl::string_view quota_us,
                                    absl::string_view period_us);

}  // namespace corral::core

#endif  // CORRAL_CORE_CPUS_H_
