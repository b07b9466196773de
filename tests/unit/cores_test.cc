#include "processor/cores.h"

#include <gtest/gtest.h>

#include <thread>

namespace uniqd::processor {
namespace {

TEST(Cores, CgroupV2CpuMax) {
  EXPECT_EQ(cpu_limit_from_cpu_max("max 100000\n"), 0u) << "no limit";
  EXPECT_EQ(cpu_limit_from_cpu_max("200000 100000\n"), 2u);
  EXPECT_EQ(cpu_limit_from_cpu_max("150000 100000"), 2u) << "1.5 CPUs: two threads can use them";
  EXPECT_EQ(cpu_limit_from_cpu_max("50000 100000\n"), 1u);
  EXPECT_EQ(cpu_limit_from_cpu_max(""), 0u) << "no file";
  EXPECT_EQ(cpu_limit_from_cpu_max("garbage"), 0u);
  EXPECT_EQ(cpu_limit_from_cpu_max("12 x"), 0u);
  EXPECT_EQ(cpu_limit_from_cpu_max("-5 100000"), 0u);
}

TEST(Cores, CgroupV1Cfs) {
  EXPECT_EQ(cpu_limit_from_cfs("-1\n", "100000\n"), 0u) << "no limit";
  EXPECT_EQ(cpu_limit_from_cfs("400000\n", "100000\n"), 4u);
  EXPECT_EQ(cpu_limit_from_cfs("", ""), 0u);
}

TEST(Cores, AvailableIsBetweenOneAndTheHost) {
  const unsigned n = available_cores();
  EXPECT_GE(n, 1u);
  if (std::thread::hardware_concurrency() > 0) {
    EXPECT_LE(n, std::thread::hardware_concurrency());
  }
}

}  // namespace
}  // namespace uniqd::processor
