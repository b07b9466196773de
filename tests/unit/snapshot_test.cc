// A commit's snapshot plus the store of the same commit must let a new engine
// continue exactly where the old one stopped: same results, same rejects.
#include <gtest/gtest.h>

#include <random>

#include "processor/engine.h"
#include "state/memory_store.h"
#include "support.h"

namespace uniqd::processor {
namespace {

using testing::RecordingRejects;
using testing::RecordingResults;

std::vector<std::string> stream(int n) {
  std::mt19937_64 rng(7);
  std::vector<std::string> out;
  std::int64_t t = 1468244340;
  for (int i = 0; i < n; ++i) {
    if (i % 10 == 0) ++t;
    std::int64_t ts = t - static_cast<std::int64_t>(rng() % 12);  // out of order, some late
    if (rng() % 100 == 0) ts ^= std::int64_t{1} << (rng() % 30);  // bit flips
    if (rng() % 500 == 0) t += 7200;                              // real gaps
    out.push_back("{\"uid\":\"u" + std::to_string(rng() % 300) + "\",\"ts\":" + std::to_string(ts) + "}");
    if (rng() % 200 == 0) out.back().pop_back();  // malformed
  }
  return out;
}

EngineOptions options(LatePolicy policy) {
  EngineOptions o;
  o.counter.late_policy = policy;
  o.counter.retention_ms = 600'000;
  return o;
}

void feed(Engine& e, const std::string& f, std::int64_t offset) {
  const std::string padded = f + std::string(kFramePadding, ' ');
  e.process(padded.data(), f.size(), SourcePosition{0, offset});
}

class SnapshotTest : public ::testing::TestWithParam<LatePolicy> {};

TEST_P(SnapshotTest, RestartAtAnyCommitChangesNothing) {
  const auto frames = stream(6000);
  const auto clock = [] { return std::int64_t{2'000'000'000}; };

  state::MemoryStore store_a;
  RecordingResults results_a;
  RecordingRejects rejects_a;
  Engine whole(options(GetParam()), store_a, results_a, rejects_a, clock);
  for (std::size_t i = 0; i < frames.size(); ++i) feed(whole, frames[i], static_cast<std::int64_t>(i));
  whole.finish();

  for (std::size_t cut : {1ul, 5ul, 777ul, 3000ul, 5999ul}) {
    state::MemoryStore store;  // outlives both engines, as the durable store does
    RecordingResults results;
    RecordingRejects rejects;
    std::string snap;
    {
      Engine first(options(GetParam()), store, results, rejects, clock);
      for (std::size_t i = 0; i < cut; ++i) feed(first, frames[i], static_cast<std::int64_t>(i));
      snap = first.snapshot();
    }
    Engine second(options(GetParam()), store, results, rejects, clock);
    ASSERT_TRUE(second.restore(snap)) << "cut " << cut;
    for (std::size_t i = cut; i < frames.size(); ++i) feed(second, frames[i], static_cast<std::int64_t>(i));
    second.finish();
    EXPECT_EQ(results.brief(false), results_a.brief(false)) << "cut " << cut;
    ASSERT_EQ(rejects.all.size(), rejects_a.all.size()) << "cut " << cut;
    EXPECT_EQ(rejects.all, rejects_a.all) << "cut " << cut;
  }
  EXPECT_GT(rejects_a.all.size(), 10u) << "the stream must exercise the rejects";
}

INSTANTIATE_TEST_SUITE_P(Policies, SnapshotTest, ::testing::Values(LatePolicy::drop, LatePolicy::update));

TEST(Snapshot, CorruptSnapshotsAreRefusedNotTrusted) {
  state::MemoryStore store;
  RecordingResults results;
  RecordingRejects rejects;
  Engine e(EngineOptions{}, store, results, rejects, [] { return std::int64_t{2'000'000'000}; });
  for (int i = 0; i < 50; ++i) feed(e, "{\"uid\":\"a\",\"ts\":" + std::to_string(1468244340 + i) + "}", i);
  const std::string snap = e.snapshot();
  for (std::size_t cut = 0; cut < snap.size(); cut += 7) {
    Engine f(EngineOptions{}, store, results, rejects, [] { return std::int64_t{2'000'000'000}; });
    EXPECT_FALSE(f.restore(snap.substr(0, cut))) << "truncated at " << cut;
  }
  std::string garbage = snap;
  garbage[0] ^= 0x55;
  Engine g(EngineOptions{}, store, results, rejects, [] { return std::int64_t{2'000'000'000}; });
  EXPECT_FALSE(g.restore(garbage));
}

}  // namespace
}  // namespace uniqd::processor
