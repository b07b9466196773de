// One test per boundary of docs/SEMANTICS.md that no other test pins down
// exactly: each fails when its `<`/`<=` is flipped (tests/mutation/run.sh
// applies those flips and names the test that catches each).
#include <gtest/gtest.h>

#include "processor/engine.h"
#include "state/memory_store.h"
#include "support.h"

namespace uniqd::processor {
namespace {

using testing::RecordingRejects;
using testing::RecordingResults;
using V = std::vector<std::string>;

constexpr std::int64_t kNow = 2'000'000'000;  // the injected wall clock
constexpr std::int64_t T0 = 1468244340;       // a minute boundary

struct Rig {
  explicit Rig(EngineOptions o) : engine(std::move(o), store, results, rejects, [] { return kNow; }) {}
  void frame(std::int64_t ts, const std::string& uid, std::int32_t partition = 0) {
    const std::string f = "{\"uid\":\"" + uid + "\",\"ts\":" + std::to_string(ts) + "}";
    const std::string padded = f + std::string(kFramePadding, ' ');
    engine.process(padded.data(), f.size(), SourcePosition{partition, ++offset});
  }
  V reasons() const {
    V out;
    for (const auto& [r, bytes] : rejects.all) out.emplace_back(reject_reason_name(r));
    return out;
  }
  state::MemoryStore store;
  RecordingResults results;
  RecordingRejects rejects;
  Engine engine;
  std::int64_t offset{0};
};

EngineOptions minutes(int partitions = 1) {
  EngineOptions o;
  o.counter.granularities = {Granularity::minute};
  o.counter.early_results = false;
  o.partitions = partitions;
  return o;
}

// §1.8: future is ts > now + max_future_skew; exactly at the skew is not.
TEST(Boundaries, FutureIsStrictlyPastTheSkew) {
  Rig r(minutes());
  r.frame(kNow + 3600, "at-the-skew");
  r.frame(kNow + 3601, "one-second-past");
  r.engine.finish();
  EXPECT_EQ(r.reasons(), (V{"future"}));
  EXPECT_EQ(r.engine.stats().accepted, 1u) << "the frame at now + skew is counted (confirmed at end of input)";
}

// §3: normal is |ts - ptime| <= T (default 1 h); one second more is a suspect.
TEST(Boundaries, OutlierThresholdIsInclusive) {
  Rig r(minutes());
  for (const char* u : {"a", "b", "c"}) r.frame(T0, u);      // confirm each other: ptime T0
  r.frame(T0 + 3600, "x-at-threshold");                      // normal: accepted at once
  r.frame(T0 + 3601, "y-past-threshold");                    // suspect, its own cluster
  for (const char* u : {"d", "e", "f"}) r.frame(T0 + 1, u);  // three against y's cluster
  EXPECT_EQ(r.reasons(), (V{"outlier"})) << "only y: x was within the threshold";
  EXPECT_EQ(r.rejects.all.at(0).second, "{\"uid\":\"y-past-threshold\",\"ts\":1468247941}");
}

// §3: a step of at most S (default 5 s) is taken at once, a bigger one is not.
TEST(Boundaries, PartitionTimeStepOfExactlySIsTakenAtOnce) {
  Rig r(minutes());
  for (const char* u : {"a", "b", "c"}) r.frame(T0, u);
  EXPECT_EQ(r.engine.watermark_ms(), (T0 - 5) * 1000);
  r.frame(T0 + 5, "d");  // step = S: ptime T0+5
  EXPECT_EQ(r.engine.watermark_ms(), T0 * 1000);
  r.frame(T0 + 11, "e");  // step 6 s > S: ptime stays until 3 in a row confirm it
  EXPECT_EQ(r.engine.watermark_ms(), T0 * 1000);
}

// §4 with Kafka partitions: when every assigned partition is idle, the
// watermark is the slowest idle partition's (not held at nothing, not the
// fastest).
TEST(Boundaries, AllPartitionsIdleAdvanceToTheSlowest) {
  Rig r(minutes(0));
  r.engine.assign_partition(0);
  r.engine.assign_partition(1);
  for (const char* u : {"a", "b", "c"}) r.frame(T0 + 100, u, 0);
  r.engine.set_partition_idle(0, true);
  EXPECT_TRUE(r.results.all.empty()) << "partition 1 is busy and has no partition time: it holds everything";
  r.engine.set_partition_idle(1, true);
  EXPECT_EQ(r.engine.watermark_ms(), (T0 + 95) * 1000) << "all idle: partition 0's time counts";
  EXPECT_TRUE(r.results.all.empty()) << "minute T0+60 (a b c) ends at T0+120: still open";

  Rig s(minutes(0));
  for (std::int32_t p : {0, 1, 2}) s.engine.assign_partition(p);
  for (const char* u : {"a", "b", "c"}) s.frame(T0 + 100, u, 0);
  for (const char* u : {"d", "e", "f"}) s.frame(T0 + 10, u, 1);
  for (std::int32_t p : {0, 1, 2}) s.engine.set_partition_idle(p, true);
  EXPECT_EQ(s.engine.watermark_ms(), (T0 + 5) * 1000) << "the slowest idle partition (1, at T0+10)";
  EXPECT_TRUE(s.results.all.empty()) << "minute T0 (d e f) is not final at T0+5";
  // Partition 1 is busy again; three frames in a row take it to T0+70 (a
  // 60 s step needs them), and as the only busy partition it sets W.
  for (const char* u : {"g", "h", "i"}) s.frame(T0 + 70, u, 1);
  EXPECT_EQ(s.results.brief(), (V{"minute/1468244340:3/3/r0"}));
}

}  // namespace
}  // namespace uniqd::processor
