#include "processor/outlier_filter.h"

#include <gtest/gtest.h>

#include <vector>

namespace uniqd::processor {
namespace {

struct Recorder : FrameVerdicts {
  std::vector<std::pair<char, std::int64_t>> seen;  // 'a' accept / 'o' outlier, ts
  void accept(const FrameRef& f) override { seen.emplace_back('a', f.frame.ts); }
  void reject_outlier(const FrameRef& f) override { seen.emplace_back('o', f.frame.ts); }
};

using Seen = std::vector<std::pair<char, std::int64_t>>;

void offer(OutlierFilter& o, Recorder& r, std::int64_t ts) {
  o.offer(FrameRef{ParsedFrame{ts, {}}, "x", {}}, r);
}

TEST(OutlierFilter, FirstFramesConfirmEachOther) {
  OutlierFilter o({3600, 3, 4});
  Recorder r;
  offer(o, r, 1000);
  offer(o, r, 1001);
  EXPECT_TRUE(r.seen.empty()) << "held until K frames agree";
  offer(o, r, 999);
  EXPECT_EQ(r.seen, (Seen{{'a', 1000}, {'a', 1001}, {'a', 999}}));
  EXPECT_EQ(o.partition_time(), 1001) << "the largest accepted ts (DESIGN.md §3)";
  offer(o, r, 1000);
  EXPECT_EQ(o.partition_time(), 1001) << "never goes back";
  offer(o, r, 1005);
  EXPECT_EQ(o.partition_time(), 1005);
}

TEST(OutlierFilter, PartitionTimeConfirm3TakesTheSmallestOfTheLastThree) {
  OutlierFilter o({3600, 3, 4, 3, 0});  // no immediate steps
  Recorder r;
  offer(o, r, 1000);
  offer(o, r, 1001);
  offer(o, r, 999);
  EXPECT_EQ(r.seen, (Seen{{'a', 1000}, {'a', 1001}, {'a', 999}}));
  EXPECT_EQ(o.partition_time(), 1000) << "never goes back: 1000 was the smallest of the first one";
  offer(o, r, 1002);
  EXPECT_EQ(r.seen.back(), std::make_pair('a', std::int64_t{1002}));
  offer(o, r, 1003);
  EXPECT_EQ(o.partition_time(), 1000) << "999 is still among the last three";
  offer(o, r, 1004);
  EXPECT_EQ(o.partition_time(), 1002);
}

TEST(OutlierFilter, IsolatedFlipIsRejectedAfterKOthers) {
  OutlierFilter o({3600, 3, 4});
  Recorder r;
  for (int i = 0; i < 3; ++i) offer(o, r, 100000 + i);
  r.seen.clear();
  offer(o, r, 100000 + (1 << 20));  // a high bit flipped
  offer(o, r, 100004);
  offer(o, r, 100005);
  EXPECT_EQ(r.seen, (Seen{{'a', 100004}, {'a', 100005}}));
  offer(o, r, 100006);
  EXPECT_EQ(r.seen, (Seen{{'a', 100004}, {'a', 100005}, {'a', 100006}, {'o', 100000 + (1 << 20)}}));
  EXPECT_EQ(o.partition_time(), 100006) << "the flip never moved partition time";
}

TEST(OutlierFilter, BackwardFlipIsRejectedToo) {
  OutlierFilter o({3600, 3, 4});
  Recorder r;
  for (int i = 0; i < 3; ++i) offer(o, r, 100000 + i);
  offer(o, r, 100000 - 8192);
  for (int i = 3; i < 6; ++i) offer(o, r, 100000 + i);
  EXPECT_EQ(r.seen.back(), std::make_pair('o', std::int64_t{100000 - 8192}));
}

TEST(OutlierFilter, RealGapIsFollowed) {
  OutlierFilter o({3600, 3, 4});
  Recorder r;
  for (int i = 0; i < 3; ++i) offer(o, r, 100000 + i);
  r.seen.clear();
  offer(o, r, 107200);
  offer(o, r, 100003);  // a straggler from before the gap: counts against
  offer(o, r, 107201);
  offer(o, r, 107202);  // third member: confirmed
  EXPECT_EQ(r.seen, (Seen{{'a', 100003}, {'a', 107200}, {'a', 107201}, {'a', 107202}}));
  EXPECT_EQ(o.partition_time(), 107200) << "the smallest of the three that made the step";
}

TEST(OutlierFilter, FlippedFirstFrameDoesNotWin) {
  OutlierFilter o({3600, 3, 4});
  Recorder r;
  offer(o, r, 9'000'000'000 / 10);  // flipped first frame
  for (int i = 0; i < 3; ++i) offer(o, r, 100000 + i);
  for (int i = 3; i < 6; ++i) offer(o, r, 100000 + i);
  // The three good frames confirm each other; the flip has three frames
  // against it by then and goes.
  EXPECT_EQ(r.seen, (Seen{{'a', 100000},
                          {'a', 100001},
                          {'a', 100002},
                          {'o', 900'000'000},
                          {'a', 100003},
                          {'a', 100004},
                          {'a', 100005}}));
  EXPECT_EQ(o.partition_time(), 100005);
}

TEST(OutlierFilter, ForwardFlipWithinThresholdMovesPartitionTimeWithConfirm1) {
  // partition_time_confirm 1: the partition time is the largest accepted ts,
  // and a flip within the threshold is accepted.
  OutlierFilter o({3600, 3, 4, 1});
  Recorder r;
  for (int i = 0; i < 3; ++i) offer(o, r, 100000 + i);
  offer(o, r, 100000 + 2048);
  EXPECT_EQ(o.partition_time(), 100000 + 2048);
}

TEST(OutlierFilter, ForwardFlipWithinThresholdDoesNotMovePartitionTimeByDefault) {
  OutlierFilter o({3600, 3, 4});
  Recorder r;
  for (int i = 0; i < 3; ++i) offer(o, r, 100000 + i);
  EXPECT_EQ(o.partition_time(), 100002) << "steps of a second are taken at once";
  offer(o, r, 100000 + 2048);  // bit 11 flipped: 34 min ahead, within the threshold
  EXPECT_EQ(r.seen.back(), std::make_pair('a', std::int64_t{100000 + 2048})) << "accepted: it is not far";
  EXPECT_EQ(o.partition_time(), 100002) << "but one frame cannot make a step of more than 5 s";
  offer(o, r, 100003);
  EXPECT_EQ(o.partition_time(), 100003);
  // Another flip much later still does not line up with the first one.
  for (int i = 4; i < 50; ++i) offer(o, r, 100000 + i);
  offer(o, r, 100000 + 2049);
  EXPECT_EQ(o.partition_time(), 100049);
  // A flip of 4 s is a step the partition time takes (as in-order data).
  offer(o, r, 100053);
  EXPECT_EQ(o.partition_time(), 100053);
}

TEST(OutlierFilter, WithoutImmediateStepsOnlyThreeInARowMoveIt) {
  OutlierFilter o({3600, 3, 4, 3, 0});
  Recorder r;
  for (int i = 0; i < 3; ++i) offer(o, r, 100000 + i);
  offer(o, r, 100000 + 2048);
  EXPECT_EQ(o.partition_time(), 100001);
  offer(o, r, 100003);
  EXPECT_EQ(o.partition_time(), 100002);
  for (int i = 4; i < 50; ++i) offer(o, r, 100000 + i);
  offer(o, r, 100000 + 2049);
  EXPECT_EQ(o.partition_time(), 100048) << "only as far as the frames before it";
}

TEST(OutlierFilter, EndOfInputConfirmsTheLargestClusterWhenNothingIsKnown) {
  OutlierFilter o({3600, 3, 4});
  Recorder r;
  offer(o, r, 5'000'000);
  offer(o, r, 100);
  offer(o, r, 101);
  o.finish(r);
  EXPECT_EQ(r.seen, (Seen{{'a', 100}, {'a', 101}, {'o', 5'000'000}}));
}

TEST(OutlierFilter, EndOfInputRejectsPendingSuspects) {
  OutlierFilter o({3600, 3, 4});
  Recorder r;
  for (int i = 0; i < 3; ++i) offer(o, r, 100000 + i);
  offer(o, r, 900000);
  o.finish(r);
  EXPECT_EQ(r.seen.back(), std::make_pair('o', std::int64_t{900000}));
  EXPECT_EQ(o.pending(), 0u);
}

TEST(OutlierFilter, TooManyClustersRejectOldest) {
  OutlierFilter o({10, 30, 2});
  Recorder r;
  for (int i = 0; i < 30; ++i) offer(o, r, 1000);
  r.seen.clear();
  offer(o, r, 5000);
  offer(o, r, 6000);
  offer(o, r, 7000);  // third cluster, max 2: the oldest goes
  EXPECT_EQ(r.seen, (Seen{{'o', 5000}}));
}

}  // namespace
}  // namespace uniqd::processor
