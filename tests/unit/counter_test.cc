#include "processor/counter.h"

#include <gtest/gtest.h>

#include "state/memory_store.h"
#include "support.h"

namespace uniqd::processor {
namespace {

using testing::RecordingResults;
using V = std::vector<std::string>;

ParsedFrame frame(std::int64_t ts, const char* uid) {
  return ParsedFrame{ts, hash_uid(uid)};
}

TEST(WindowCounter, CountsDistinctUsersAndFrames) {
  state::MemoryStore store;
  RecordingResults out;
  WindowCounter c({{Granularity::minute}, LatePolicy::drop, 0, false}, store, out);
  EXPECT_EQ(c.count(frame(60, "a")), 1);
  c.count(frame(61, "b"));
  c.count(frame(62, "a"));
  c.advance(119'000);
  EXPECT_TRUE(out.all.empty()) << "minute [60,120) is not final before the watermark reaches 120";
  c.advance(120'000);
  EXPECT_EQ(out.brief(), (V{"minute/60:2/3/r0"}));
  EXPECT_EQ(c.open_windows(), 0u) << "with drop, a final window is freed at once";
}

// A uid already in a shorter window is not inserted again into the longer
// windows around it, but a week lies inside no month or year: here the week
// of 2016-06-27 (Monday) holds "a" from June 30 when "a" comes on July 1,
// and July must still count it.
TEST(WindowCounter, AUidInTheWeekIsStillNewToTheNextMonthAndYear) {
  state::MemoryStore store;
  RecordingResults out;
  WindowCounter c(
      {{Granularity::day, Granularity::week, Granularity::month, Granularity::year}, LatePolicy::drop, 0, false}, store,
      out);
  constexpr std::int64_t kJune30 = 1467244800, kJuly1 = 1467331200, kDec31 = 1483142400, kJan1 = 1483228800;
  c.count(frame(kJune30 + 10, "a"));
  c.count(frame(kJuly1 + 10, "a"));  // new day, same week, new month
  c.count(frame(kJuly1 + 20, "a"));  // all four already hold it
  c.count(frame(kDec31 + 10, "b"));  // Saturday
  c.count(frame(kJan1 + 10, "b"));   // Sunday: same ISO week, new year
  c.flush();
  // Final results in (end, granularity, start) order; July and 2017 hold one
  // user each, which a skipped insert would have left at 0.
  EXPECT_EQ(out.brief(), (V{"day/1467244800:1/1/r0", "month/1464739200:1/1/r0", "day/1467331200:1/2/r0",
                            "week/1466985600:1/3/r0", "month/1467331200:1/2/r0", "day/1483142400:1/1/r0",
                            "month/1480550400:1/1/r0", "year/1451606400:2/4/r0", "day/1483228800:1/1/r0",
                            "week/1482710400:1/2/r0", "month/1483228800:1/1/r0", "year/1483228800:1/1/r0"}));
}

TEST(WindowCounter, LatenessIsPerWindow) {
  state::MemoryStore store;
  RecordingResults out;
  WindowCounter c({{Granularity::minute, Granularity::hour}, LatePolicy::drop, 0, false}, store, out);
  c.count(frame(3600 + 10, "a"));
  c.advance((3600 + 60) * 1000);  // minute [3600, 3660) is final
  // Late for its minute, on time for its hour.
  EXPECT_EQ(c.count(frame(3600 + 20, "b")), 1);
  EXPECT_EQ(c.late_partial(), 1u);
  c.flush();
  EXPECT_EQ(out.brief(), (V{"minute/3600:1/1/r0", "hour/3600:2/2/r0"}));
  // Late everywhere: counted nowhere.
  EXPECT_EQ(c.count(frame(3600 + 20, "c")), 0) << "after the end of input every window is final";
  EXPECT_EQ(c.open_windows(), 0u);
}

TEST(WindowCounter, LateUpdatesReviseWithinRetention) {
  state::MemoryStore store;
  RecordingResults out;
  WindowCounter c({{Granularity::minute}, LatePolicy::update, 120'000, false}, store, out);
  c.count(frame(0, "a"));
  c.advance(60'000);
  EXPECT_EQ(out.brief(), (V{"minute/0:1/1/r0"}));
  EXPECT_EQ(c.count(frame(5, "a")), 1);  // same user: frames change, no emission
  EXPECT_EQ(out.all.size(), 1u);
  EXPECT_EQ(c.count(frame(6, "b")), 1);  // new user: revision 1
  EXPECT_EQ(out.brief(), (V{"minute/0:1/1/r0", "minute/0:2/3/r1"}));
  c.advance(179'999);
  EXPECT_EQ(c.count(frame(7, "c")), 1);
  c.advance(180'000);  // end 60 + retention 120 reached: freed
  EXPECT_EQ(c.count(frame(8, "d")), 0);
  EXPECT_EQ(out.brief(), (V{"minute/0:1/1/r0", "minute/0:2/3/r1", "minute/0:3/4/r2"}));
}

TEST(WindowCounter, LateUpdateOfANeverEmittedWindowIsRevisionZero) {
  state::MemoryStore store;
  RecordingResults out;
  WindowCounter c({{Granularity::minute}, LatePolicy::update, 600'000, false}, store, out);
  c.count(frame(200, "a"));
  c.advance(200'000);
  EXPECT_EQ(c.count(frame(10, "z")), 1);
  EXPECT_EQ(out.brief(), (V{"minute/0:1/1/r0"}));
}

TEST(WindowCounter, FinalsComeInEndThenGranularityOrder) {
  state::MemoryStore store;
  RecordingResults out;
  WindowCounter c({{Granularity::hour, Granularity::minute, Granularity::day}, LatePolicy::drop, 0, false}, store, out);
  c.count(frame(86400 - 30, "a"));
  c.count(frame(86400 - 90, "b"));
  c.advance(86400'000);
  EXPECT_EQ(out.brief(), (V{"minute/86280:1/1/r0", "minute/86340:1/1/r0", "hour/82800:2/2/r0", "day/0:2/2/r0"}));
}

TEST(WindowCounter, EarlyResultsEachMinuteForLongWindowsOnlyWhenChanged) {
  state::MemoryStore store;
  RecordingResults out;
  WindowCounter c({{Granularity::minute, Granularity::hour}, LatePolicy::drop, 0, true}, store, out);
  c.count(frame(10, "a"));
  c.advance(5'000);
  c.count(frame(70, "b"));
  c.advance(65'000);  // minute 1 closes
  EXPECT_EQ(out.brief(false), (V{"minute/0:1/1/r0", "hour/0:2/2/early"}));
  c.advance(125'000);  // another minute closes, nothing changed in the hour
  EXPECT_EQ(out.brief(false), (V{"minute/0:1/1/r0", "hour/0:2/2/early", "minute/60:1/1/r0"}));
}

}  // namespace
}  // namespace uniqd::processor
