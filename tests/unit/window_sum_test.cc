#include "processor/window_sum.h"

#include <gtest/gtest.h>

#include "support.h"

namespace uniqd::processor {
namespace {

using testing::RecordingResults;
using V = std::vector<std::string>;

WindowResult part(Granularity g, std::int64_t start, std::int64_t end, std::uint64_t users, std::uint64_t frames,
                  bool final = true, std::uint32_t revision = 0) {
  return WindowResult{g, start, end, users, frames, final, revision};
}

CounterOptions opts(LatePolicy late = LatePolicy::drop, bool early = false) {
  return CounterOptions{{Granularity::minute, Granularity::hour}, late, 3600 * 1000, early};
}

TEST(WindowSum, FinalOnlyOnceEveryShardPassedTheEnd) {
  RecordingResults out;
  WindowSum sum(opts(), 2, out);
  sum.partial(0, part(Granularity::minute, 60, 120, 3, 5));
  sum.shard_watermark(0, 125'000);
  EXPECT_TRUE(out.all.empty()) << "shard 1 may still count frames of [60,120)";
  sum.partial(1, part(Granularity::minute, 60, 120, 2, 4));
  sum.shard_watermark(1, 119'999);
  EXPECT_TRUE(out.all.empty());
  sum.shard_watermark(1, 120'000);
  EXPECT_EQ(out.brief(), (V{"minute/60:5/9/r0"})) << "users of disjoint shards add up";
  EXPECT_EQ(sum.open_windows(), 0u) << "with drop, a published window is forgotten";
}

TEST(WindowSum, AShardWithoutTheWindowCountsZero) {
  RecordingResults out;
  WindowSum sum(opts(), 3, out);
  sum.partial(2, part(Granularity::minute, 0, 60, 7, 7));
  for (int s = 0; s < 3; ++s) sum.shard_watermark(s, 60'000);
  EXPECT_EQ(out.brief(), (V{"minute/0:7/7/r0"}));
}

TEST(WindowSum, NothingBeforeEveryShardReported) {
  RecordingResults out;
  WindowSum sum(opts(), 2, out);
  sum.partial(0, part(Granularity::minute, 0, 60, 1, 1));
  sum.shard_watermark(0, INT64_MAX);
  EXPECT_TRUE(out.all.empty()) << "a shard that never reported holds every window";
  EXPECT_FALSE(sum.done());
  sum.shard_watermark(1, INT64_MAX);
  EXPECT_EQ(out.brief(), (V{"minute/0:1/1/r0"}));
  EXPECT_TRUE(sum.done());
}

TEST(WindowSum, FinalsInEndGranularityStartOrder) {
  RecordingResults out;
  WindowSum sum(opts(), 1, out);
  sum.partial(0, part(Granularity::hour, 0, 3600, 9, 9));
  sum.partial(0, part(Granularity::minute, 3540, 3600, 2, 2));
  sum.partial(0, part(Granularity::minute, 0, 60, 1, 1));
  sum.shard_watermark(0, 3600'000);
  EXPECT_EQ(out.brief(), (V{"minute/0:1/1/r0", "minute/3540:2/2/r0", "hour/0:9/9/r0"}));
}

TEST(WindowSum, LateRevisionOfAFastShardFollowsTheFinal) {
  RecordingResults out;
  WindowSum sum(opts(LatePolicy::update), 2, out);
  sum.partial(0, part(Granularity::minute, 0, 60, 2, 2));
  sum.shard_watermark(0, 60'000);
  // Shard 0 took a late frame of a new user before shard 1 closed the minute.
  sum.partial(0, part(Granularity::minute, 0, 60, 3, 3, true, 1));
  sum.partial(1, part(Granularity::minute, 0, 60, 4, 4));
  EXPECT_TRUE(out.all.empty());
  sum.shard_watermark(1, 60'000);
  EXPECT_EQ(out.brief(), (V{"minute/0:6/6/r0", "minute/0:7/7/r1"}))
      << "the final as each shard closed it, then the revision";
  sum.partial(1, part(Granularity::minute, 0, 60, 5, 6, true, 1));
  EXPECT_EQ(out.brief().back(), "minute/0:8/9/r2");
}

TEST(WindowSum, AWindowOpenedOnlyByALateFrameIsFinalAtRevisionZero) {
  RecordingResults out;
  WindowSum sum(opts(LatePolicy::update), 2, out);
  sum.shard_watermark(0, 120'000);
  sum.partial(0, part(Granularity::minute, 0, 60, 1, 1));  // after shard 0 passed 60: late
  EXPECT_TRUE(out.all.empty());
  sum.shard_watermark(1, 120'000);
  EXPECT_EQ(out.brief(), (V{"minute/0:1/1/r0"})) << "no empty final before it";
}

TEST(WindowSum, EarlyResultsWhenTheMergedWatermarkClosesAMinute) {
  RecordingResults out;
  WindowSum sum(opts(LatePolicy::drop, true), 2, out);
  sum.shard_watermark(0, 0);
  sum.shard_watermark(1, 0);
  sum.partial(0, part(Granularity::hour, 0, 3600, 2, 3, false));
  sum.partial(1, part(Granularity::hour, 0, 3600, 1, 1, false));
  sum.shard_watermark(0, 60'000);
  EXPECT_TRUE(out.all.empty()) << "the merged watermark has not closed a minute yet";
  sum.shard_watermark(1, 60'000);
  EXPECT_EQ(out.brief(false), (V{"hour/0:3/4/early"}));
  sum.shard_watermark(0, 120'000);
  sum.shard_watermark(1, 120'000);
  EXPECT_EQ(out.all.size(), 1u) << "no early result when nothing changed";
}

TEST(WindowSum, WithDropAPartialOfAPublishedWindowIsNotPublishedAgain) {
  RecordingResults out;
  WindowSum sum(opts(), 2, out);
  sum.partial(0, part(Granularity::minute, 0, 60, 2, 2));
  sum.partial(1, part(Granularity::minute, 0, 60, 3, 3));
  sum.shard_watermark(0, 60'000);
  sum.shard_watermark(1, 60'000);
  ASSERT_EQ(out.brief(), (V{"minute/0:5/5/r0"}));
  sum.partial(0, part(Granularity::minute, 0, 60, 2, 2));  // the same record delivered again
  EXPECT_EQ(out.brief(), (V{"minute/0:5/5/r0"})) << "no second final with one shard's count";
}

TEST(WindowSum, SnapshotRestoresTheSameFuture) {
  RecordingResults a_out, b_out;
  WindowSum a(opts(LatePolicy::update, true), 2, a_out);
  a.shard_watermark(0, 60'000);
  a.partial(0, part(Granularity::minute, 0, 60, 1, 1, true, 1));
  a.partial(1, part(Granularity::minute, 0, 60, 2, 2));
  a.partial(1, part(Granularity::hour, 0, 3600, 2, 2, false));
  WindowSum b(opts(LatePolicy::update, true), 2, b_out);
  ASSERT_TRUE(b.restore(a.snapshot()));
  for (WindowSum* s : {&a, &b}) {
    s->shard_watermark(1, 120'000);
    s->shard_watermark(0, 3600'000);
    s->shard_watermark(1, INT64_MAX);
  }
  EXPECT_EQ(a_out.brief(false), b_out.brief(false));
  EXPECT_FALSE(a_out.all.empty());
  WindowSum wrong(opts(), 3, b_out);
  EXPECT_FALSE(wrong.restore(a.snapshot())) << "a snapshot of another shard count is refused";
  EXPECT_FALSE(b.restore(a.snapshot().substr(0, 20)));
}

}  // namespace
}  // namespace uniqd::processor
