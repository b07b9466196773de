// Kafka-mode engine behaviour: several partitions in one watermark, idle
// partitions.
#include <gtest/gtest.h>

#include "processor/engine.h"
#include "processor/parallel_parser.h"
#include "state/memory_store.h"
#include "support.h"

namespace uniqd::processor {
namespace {

using testing::RecordingRejects;
using testing::RecordingResults;
using V = std::vector<std::string>;

struct Kafka {
  Kafka() : engine(opts(), store, results, rejects, [] { return 2'000'000'000; }) {}
  static EngineOptions opts() {
    EngineOptions o;
    o.counter.granularities = {Granularity::minute};
    o.counter.early_results = false;
    o.partitions = 0;
    return o;
  }
  void frame(std::int32_t p, std::int64_t offset, std::int64_t ts, const std::string& uid) {
    const std::string f = "{\"uid\":\"" + uid + "\",\"ts\":" + std::to_string(ts) + "}";
    const std::string padded = f + std::string(kFramePadding, ' ');
    engine.process(padded.data(), f.size(), SourcePosition{p, offset});
  }
  state::MemoryStore store;
  RecordingResults results;
  RecordingRejects rejects;
  Engine engine;
};

constexpr std::int64_t T0 = 1468244340;

TEST(Partitions, SilentAssignedPartitionHoldsTheWatermarkUntilIdle) {
  Kafka k;
  k.engine.assign_partition(0);
  k.engine.assign_partition(1);
  for (int i = 0; i < 3; ++i) k.frame(0, i, T0 + 1, "a");
  for (int i = 3; i < 6; ++i) k.frame(0, i, T0 + 70 + i, "b");  // partition 0 at T0+73: minute T0 is due
  EXPECT_TRUE(k.results.all.empty()) << "partition 1 has sent nothing yet";
  k.engine.set_partition_idle(1, true);
  EXPECT_EQ(k.results.brief(), (V{"minute/1468244340:1/3/r0"})) << "idle: it no longer holds the watermark";
}

TEST(Partitions, WatermarkIsTheSlowestPartitions) {
  Kafka k;
  k.engine.assign_partition(0);
  k.engine.assign_partition(1);
  for (int i = 0; i < 3; ++i) k.frame(1, i, T0 + 10, "b");
  for (int i = 0; i < 5; ++i) k.frame(0, i, T0 + 100 + i, "a");
  EXPECT_TRUE(k.results.all.empty()) << "partition 1 is at T0+10";
  for (int i = 3; i < 6; ++i) k.frame(1, i, T0 + 70, "c");
  // min(T0+102, T0+70) - 5 s passes T0+60: minute T0 (partition 1's b) is final.
  EXPECT_EQ(k.results.brief(), (V{"minute/1468244340:1/3/r0"}));
  k.engine.revoke_partition(1);
  EXPECT_EQ(k.engine.partition_times().size(), 1u);
}

TEST(ParallelParser, AppliesEveryLineInOrderWhateverTheThreads) {
  std::vector<std::string> lines;
  for (int i = 0; i < 20000; ++i) {
    lines.push_back(i % 7 == 0 ? "{broken"
                               : "{\"uid\":\"u" + std::to_string(i) + "\",\"ts\":" + std::to_string(i) + "}");
  }
  for (int threads : {1, 2, 5}) {
    ParallelParser pp(threads, 1 << 10, TsUnit::seconds, 3);
    std::vector<std::uint64_t> seen;
    std::uint64_t bad = 0;
    const ParallelParser::Apply apply = [&](const ParsedLine& l) {
      seen.push_back(static_cast<std::uint64_t>(l.pos.offset));
      EXPECT_EQ(l.pos.partition, static_cast<std::int32_t>(l.pos.offset % 3));
      if (l.why) {
        ++bad;
      } else {
        EXPECT_EQ(l.frame.ts, l.pos.offset);
      }
    };
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const auto n = static_cast<std::int64_t>(i);
      pp.add_line(lines[i].data(), lines[i].size(), {static_cast<std::int32_t>(n % 3), n}, apply);
      if (i == 100) {
        EXPECT_TRUE(pp.holds_lines());
      }
    }
    const auto last = static_cast<std::int64_t>(lines.size());
    pp.add_too_large("{\"uid\"", 5000, {static_cast<std::int32_t>(last % 3), last}, apply);
    pp.finish(apply);
    EXPECT_FALSE(pp.holds_lines());
    ASSERT_EQ(seen.size(), lines.size() + 1);
    for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], i);
    EXPECT_EQ(bad, 20000u / 7 + 1 + 1);
  }
}

}  // namespace
}  // namespace uniqd::processor
