// How many cores this process may really use, for `parse_threads: 0`.
//
// std::thread::hardware_concurrency() counts the host's cores. In a
// container limited to 2 CPUs on a 64-core node that would start 8 parse
// threads fighting over 2 CPUs' worth of quota, so the affinity mask
// (cpusets, taskset) and the cgroup CPU quota (v2 cpu.max, v1
// cpu.cfs_quota_us) are taken into account too.
#pragma once

#include <string_view>

namespace uniqd::processor {

// The CPUs the quota allows, rounded up (1.5 CPUs -> 2); 0 when there is no
// limit or the text does not read. `cpu_max` is cgroup v2's "QUOTA PERIOD"
// or "max PERIOD".
unsigned cpu_limit_from_cpu_max(std::string_view cpu_max);
// The same from cgroup v1's two files (quota -1: no limit).
unsigned cpu_limit_from_cfs(std::string_view quota_us, std::string_view period_us);

// min(affinity mask, cgroup quota), at least 1.
unsigned available_cores();

}  // namespace uniqd::processor
