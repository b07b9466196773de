// processor/metrics: the one snapshot both modes publish.
#include "processor/metrics.h"

#include <gtest/gtest.h>

#include "state/memory_store.h"
#include "tests/unit/support.h"

namespace uniqd::processor {
namespace {

TEST(Metrics, CountingEnginesAddUpAndTheSlowestWatermarkIsTheReplicas) {
  state::MemoryStore store;
  testing::RecordingResults results;
  testing::RecordingRejects rejects;
  EngineOptions o;
  o.partitions = 0;
  Engine reader(o, store, results, rejects);
  EngineStats stats;
  stats.bytes = 1234;
  const MetricsSnapshot none = snapshot_of(stats, reader, {});
  EXPECT_EQ(none.watermark_ms, kNoWatermark);
  EXPECT_EQ(none.stats.bytes, 1234u);
  EXPECT_GT(none.wall_now, 1.7e9);

  const MetricsSnapshot two = snapshot_of(stats, reader, {{5000, 2, 10, 100, 7}, {3000, 1, 5, 50, 3}});
  EXPECT_EQ(two.watermark_ms, 3000);
  EXPECT_EQ(two.open_windows, 3u);
  EXPECT_EQ(two.open_pairs, 15u);
  EXPECT_EQ(two.state_bytes, 150u);
  EXPECT_EQ(two.state_disk_bytes, 10u);
  const MetricsSnapshot later_slower = snapshot_of(stats, reader, {{3000, 0, 0, 0, 0}, {1000, 0, 0, 0, 0}});
  EXPECT_EQ(later_slower.watermark_ms, 1000);
}

}  // namespace
}  // namespace uniqd::processor
