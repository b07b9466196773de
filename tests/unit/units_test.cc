#include "config/units.h"

#include <gtest/gtest.h>

namespace uniqd::config {
namespace {

using std::chrono::milliseconds;

TEST(Units, Durations) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("5s"), milliseconds(5000));
  EXPECT_EQ(parse_duration("5"), milliseconds(5000));
  EXPECT_EQ(parse_duration("10m"), milliseconds(600000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3600000));
  EXPECT_EQ(parse_duration("7d"), milliseconds(7 * 86400000LL));
  for (const char* bad : {"", "s", "5 s", "-5s", "5x", "1.5s", "99999999999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  EXPECT_EQ(format_duration(milliseconds(3600000)), "1h");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
}

TEST(Units, Sizes) {
  EXPECT_EQ(parse_size("1MiB"), 1u << 20);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("100"), 100u);
  EXPECT_EQ(parse_size("2MB"), 2000000u);
  EXPECT_FALSE(parse_size("1 MiB"));
  EXPECT_FALSE(parse_size("1mib"));
  EXPECT_EQ(format_size(1 << 20), "1MiB");
}

}  // namespace
}  // namespace uniqd::config
