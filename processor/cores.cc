#include "processor/cores.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace uniqd::processor {
namespace {

bool read_long(std::string_view s, long* out) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

unsigned limit(long quota, long period) {
  if (quota <= 0 || period <= 0) return 0;
  return static_cast<unsigned>((quota + period - 1) / period);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// This process's cgroup v2 path ("0::/kubepods/..."), or "" at the root.
std::string cgroup_v2_path() {
  std::istringstream in(slurp("/proc/self/cgroup"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  return "";
}

}  // namespace

unsigned cpu_limit_from_cpu_max(std::string_view cpu_max) {
  const std::size_t space = cpu_max.find(' ');
  if (space == std::string_view::npos) return 0;
  long quota = 0, period = 0;
  if (!read_long(cpu_max.substr(space + 1), &period)) return 0;
  if (!read_long(cpu_max.substr(0, space), &quota)) return 0;  // "max": no limit
  return limit(quota, period);
}

unsigned cpu_limit_from_cfs(std::string_view quota_us, std::string_view period_us) {
  long quota = 0, period = 0;
  if (!read_long(quota_us, &quota) || !read_long(period_us, &period)) return 0;
  return limit(quota, period);
}

unsigned available_cores() {
  unsigned n = std::thread::hardware_concurrency();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) n = static_cast<unsigned>(CPU_COUNT(&set));
  unsigned quota = 0;
  // cgroup v2: the process's own cgroup (a container usually sees it as the
  // root of its namespace), then the root.
  for (const std::string& dir : {"/sys/fs/cgroup" + cgroup_v2_path(), std::string("/sys/fs/cgroup")}) {
    quota = cpu_limit_from_cpu_max(slurp(dir + "/cpu.max"));
    if (quota != 0) break;
  }
  if (quota == 0) {
    quota =
        cpu_limit_from_cfs(slurp("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), slurp("/sys/fs/cgroup/cpu/cpu.cfs_period_us"));
  }
  if (quota != 0) n = std::min(n, quota);
  return std::max(n, 1u);
}

}  // namespace uniqd::processor
