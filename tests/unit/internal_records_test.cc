#include "kafka/internal_records.h"

#include <gtest/gtest.h>

#include <vector>

namespace uniqd::kafka {
namespace {

TEST(InternalRecords, RepartitionBatchKeepsEntriesAndOrder) {
  RepartitionWriter w;
  w.frame(FrameEntry{{3, 41}, {1468244340, {7, 9}}, {}});
  w.marker(SourceMarker{3, 1468244341, false, false});
  w.frame(FrameEntry{{5, 2}, {1468244100, {1, 2}}, "{\"uid\":\"a\",\"ts\":1468244100}"});
  w.marker(SourceMarker{5, std::nullopt, true, true});
  const std::string record = w.take();
  EXPECT_TRUE(w.empty());
  std::vector<std::string> seen;
  ASSERT_TRUE(read_repartition(
      record, RepartitionVisitor{
                  [&](const FrameEntry& f) {
                    seen.push_back("F" + std::to_string(f.pos.partition) + "/" + std::to_string(f.pos.offset) + "/" +
                                   std::to_string(f.frame.ts) + "/" + std::to_string(f.frame.uid.lo) + "/" +
                                   std::to_string(f.frame.uid.hi) + "/" + std::string(f.bytes));
                  },
                  [&](const SourceMarker& m) {
                    seen.push_back("W" + std::to_string(m.partition) + "/" + (m.time ? std::to_string(*m.time) : "-") +
                                   (m.idle ? "/idle" : "") + (m.ended ? "/ended" : ""));
                  },
              }));
  EXPECT_EQ(seen,
            (std::vector<std::string>{"F3/41/1468244340/7/9/", "W3/1468244341",
                                      "F5/2/1468244100/1/2/{\"uid\":\"a\",\"ts\":1468244100}", "W5/-/idle/ended"}));
}

TEST(InternalRecords, PartialsBatchNamesItsShard) {
  PartialsWriter w(6);
  w.partial(processor::WindowResult{processor::Granularity::hour, 3600, 7200, 11, 13, false, 0});
  w.watermark(7'200'000);
  std::vector<std::string> seen;
  ASSERT_TRUE(read_partials(
      w.take(),
      PartialsVisitor{
          [&](int shard, const processor::WindowResult& r) {
            seen.push_back(std::to_string(shard) + ":" + std::to_string(r.start) + "/" +
                           std::to_string(r.unique_users) + "/" + std::to_string(r.frames) + (r.final ? "/final" : ""));
          },
          [&](int shard, std::int64_t wm) { seen.push_back(std::to_string(shard) + ":wm" + std::to_string(wm)); },
      }));
  EXPECT_EQ(seen, (std::vector<std::string>{"6:3600/11/13", "6:wm7200000"}));
}

TEST(InternalRecords, ForeignOrCutRecordsAreRefused) {
  RepartitionWriter w;
  w.frame(FrameEntry{{0, 1}, {60, {1, 1}}, "abc"});
  const std::string record = w.take();
  const RepartitionVisitor ignore{[](const FrameEntry&) {}, [](const SourceMarker&) {}};
  EXPECT_FALSE(read_repartition(record.substr(0, record.size() - 1), ignore));
  EXPECT_FALSE(read_repartition("{\"uid\":\"a\"}", ignore));
  EXPECT_FALSE(
      read_partials(record, PartialsVisitor{[](int, const processor::WindowResult&) {}, [](int, std::int64_t) {}}));
}

TEST(InternalRecords, PartialsPartitionIsAFunctionOfTheWindow) {
  for (int parts : {1, 4, 7}) {
    for (std::int64_t start = 0; start < 3600 * 24; start += 60) {
      const int p = partials_partition(processor::Granularity::minute, start, parts);
      ASSERT_GE(p, 0);
      ASSERT_LT(p, parts);
      ASSERT_EQ(p, partials_partition(processor::Granularity::minute, start, parts));
    }
  }
}

TEST(InternalRecords, PositionedSnapshotsCarryTheirOffsetAndOldOnesStillReadBack) {
  const std::string inner = std::string("\x01\x00\x00\x00", 4) + "state";
  std::int64_t next = 0;
  EXPECT_EQ(unposition_snapshot(positioned_snapshot(12345, inner), &next), inner);
  EXPECT_EQ(next, 12345);
  EXPECT_EQ(unposition_snapshot(positioned_snapshot(-1, ""), &next), "");
  EXPECT_EQ(next, -1);
  // Written before the offset was recorded: the task's own snapshot, whole.
  next = 7;
  EXPECT_EQ(unposition_snapshot(inner, &next), inner);
  EXPECT_EQ(next, -1);
  // Cut short after the marker: not taken for a positioned one.
  EXPECT_EQ(unposition_snapshot(std::string_view("POS\x01\x02", 5), &next), std::string_view("POS\x01\x02", 5));
  EXPECT_EQ(next, -1);
}

}  // namespace
}  // namespace uniqd::kafka
