#include "processor/windows.h"

#include <gtest/gtest.h>

namespace uniqd::processor {
namespace {

std::int64_t at(int y, unsigned m, unsigned d, int hh = 0, int mm = 0, int ss = 0) {
  return days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

TEST(Windows, MinuteHourDayAreAligned) {
  const std::int64_t t = at(2016, 7, 11, 13, 39, 27);
  EXPECT_EQ(window_of(Granularity::minute, t).start, at(2016, 7, 11, 13, 39));
  EXPECT_EQ(window_of(Granularity::minute, t).end, at(2016, 7, 11, 13, 40));
  EXPECT_EQ(window_of(Granularity::hour, t).start, at(2016, 7, 11, 13));
  EXPECT_EQ(window_of(Granularity::day, t).start, at(2016, 7, 11));
  EXPECT_EQ(window_of(Granularity::day, t).end, at(2016, 7, 12));
  // The last second of a window is in it; the end is not.
  EXPECT_EQ(window_of(Granularity::minute, at(2016, 7, 11, 13, 39, 59)).start, at(2016, 7, 11, 13, 39));
  EXPECT_EQ(window_of(Granularity::minute, at(2016, 7, 11, 13, 40)).start, at(2016, 7, 11, 13, 40));
}

TEST(Windows, IsoWeekStartsMonday) {
  // 2020-12-31 is a Thursday in the ISO week that starts Monday 2020-12-28
  // and spans the year end.
  EXPECT_EQ(window_of(Granularity::week, at(2020, 12, 31, 12)).start, at(2020, 12, 28));
  EXPECT_EQ(window_of(Granularity::week, at(2021, 1, 3, 23, 59, 59)).start, at(2020, 12, 28));
  EXPECT_EQ(window_of(Granularity::week, at(2021, 1, 3, 23, 59, 59)).end, at(2021, 1, 4));
  EXPECT_EQ(window_of(Granularity::week, at(2021, 1, 4)).start, at(2021, 1, 4));
  // 1970-01-01 was a Thursday: its week starts Monday 1969-12-29.
  EXPECT_EQ(window_of(Granularity::week, 0).start, at(1969, 12, 29));
  // A year with ISO week 53: 2015-12-28 .. 2016-01-03.
  EXPECT_EQ(window_of(Granularity::week, at(2016, 1, 1)).start, at(2015, 12, 28));
  for (std::int64_t t = at(2016, 1, 1); t < at(2016, 3, 1); t += 86400 / 3) {
    const Window w = window_of(Granularity::week, t);
    EXPECT_EQ((w.start / 86400 + 3) % 7, 0) << "week must start on a Monday, t=" << t;
    EXPECT_EQ(w.end - w.start, 7 * 86400);
    EXPECT_LE(w.start, t);
    EXPECT_LT(t, w.end);
  }
}

TEST(Windows, CalendarMonthsAndLeapYears) {
  EXPECT_EQ(window_of(Granularity::month, at(2020, 2, 29, 23, 59, 59)).start, at(2020, 2, 1));
  EXPECT_EQ(window_of(Granularity::month, at(2020, 2, 29, 23, 59, 59)).end, at(2020, 3, 1));
  EXPECT_EQ(window_of(Granularity::month, at(2019, 2, 15)).end - at(2019, 2, 1), 28 * 86400);
  EXPECT_EQ(window_of(Granularity::month, at(2020, 2, 15)).end - at(2020, 2, 1), 29 * 86400);
  EXPECT_EQ(window_of(Granularity::month, at(1900, 2, 15)).end - at(1900, 2, 1), 28 * 86400);  // not leap
  EXPECT_EQ(window_of(Granularity::month, at(2000, 2, 15)).end - at(2000, 2, 1), 29 * 86400);  // leap
  EXPECT_EQ(window_of(Granularity::month, at(2016, 12, 31, 23, 59, 59)).end, at(2017, 1, 1));
  EXPECT_EQ(window_of(Granularity::year, at(2016, 12, 31, 23, 59, 59)).start, at(2016, 1, 1));
  EXPECT_EQ(window_of(Granularity::year, at(2017, 1, 1)).start, at(2017, 1, 1));
  EXPECT_EQ(window_of(Granularity::year, at(2016, 6, 1)).end - at(2016, 1, 1), 366 * 86400);
  EXPECT_EQ(window_of(Granularity::year, at(2017, 6, 1)).end - at(2017, 1, 1), 365 * 86400);
}

TEST(Windows, CivilRoundTrip) {
  for (std::int64_t z = -800000; z < 3000000; z += 97) {
    std::int64_t y;
    unsigned m, d;
    civil_from_days(z, y, m, d);
    ASSERT_EQ(days_from_civil(y, m, d), z);
  }
  EXPECT_EQ(at(2016, 7, 11, 13, 39), 1468244340);
}

TEST(Windows, FormatsUtc) {
  EXPECT_EQ(format_utc(1468244340), "2016-07-11T13:39:00Z");
  EXPECT_EQ(format_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_utc(253402300799), "9999-12-31T23:59:59Z");
}

TEST(Windows, Names) {
  for (Granularity g : kAllGranularities) EXPECT_EQ(parse_granularity(granularity_name(g)), g);
  EXPECT_FALSE(parse_granularity("fortnight"));
}

}  // namespace
}  // namespace uniqd::processor
