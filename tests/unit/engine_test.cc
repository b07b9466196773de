#include "processor/engine.h"

#include <gtest/gtest.h>

#include "state/memory_store.h"
#include "support.h"

namespace uniqd::processor {
namespace {

using testing::RecordingRejects;
using testing::RecordingResults;
using V = std::vector<std::string>;

struct Harness {
  explicit Harness(EngineOptions o) : engine(std::move(o), store, results, rejects, [] { return 2'000'000'000; }) {}
  void feed(const std::string& frame) {
    std::string padded = frame + std::string(kFramePadding, ' ');
    engine.process(padded.data(), frame.size(), SourcePosition{0, ++line});
  }
  void frame(std::int64_t ts, const std::string& uid) {
    feed("{\"uid\":\"" + uid + "\",\"ts\":" + std::to_string(ts) + "}");
  }
  std::vector<std::string> reject_reasons() const {
    std::vector<std::string> out;
    for (const auto& [r, bytes] : rejects.all) out.emplace_back(reject_reason_name(r));
    return out;
  }
  state::MemoryStore store;
  RecordingResults results;
  RecordingRejects rejects;
  Engine engine;
  std::int64_t line{0};
};

EngineOptions minute_only() {
  EngineOptions o;
  o.counter.granularities = {Granularity::minute};
  o.counter.early_results = false;
  return o;
}

TEST(Engine, MinuteIsFinalLatenessAfterItsEnd) {
  // The watermark is the partition time minus 5 s; in steps of up to 5 s the
  // partition time is the largest accepted ts.
  Harness h(minute_only());
  for (int t : {1000, 1001, 1002}) h.frame(1468244395 + t % 3, "u" + std::to_string(t));
  h.frame(1468244399, "a");
  h.frame(1468244404, "b");  // watermark 1468244399: one second short
  EXPECT_TRUE(h.results.all.empty());
  h.frame(1468244405, "c");  // watermark reaches the end, 1468244400
  EXPECT_EQ(h.results.brief(), (V{"minute/1468244340:4/4/r0"}));
  h.frame(1468244395, "d");  // late: its minute is final
  EXPECT_EQ(h.rejects.all.size(), 1u);
  h.engine.finish();
  EXPECT_EQ(h.results.brief(), (V{"minute/1468244340:4/4/r0", "minute/1468244400:2/2/r0"}));
}

TEST(Engine, CarriedStatsAreCountedOn) {
  Harness h(minute_only());
  EngineStats s;
  s.frames = 10;
  s.accepted = 9;
  s.rejected[static_cast<std::size_t>(RejectReason::malformed_json)] = 1;
  h.engine.carry_stats(s);
  h.frame(1468244340, "a");
  h.feed("{broken");
  h.engine.finish();  // the first frames of a partition wait to be confirmed
  EXPECT_EQ(h.engine.stats().frames, 12u);
  EXPECT_EQ(h.engine.stats().accepted, 10u);
  EXPECT_EQ(h.engine.stats().rejected_total(), 2u);
}

TEST(Engine, BigStepsOfPartitionTimeWaitForThreeFramesInARow) {
  EngineOptions o = minute_only();
  o.outlier.partition_time_confirm = 3;
  Harness h(o);
  for (int i = 0; i < 3; ++i) h.frame(1468244340 + i, "a");
  h.frame(1468244405, "b");
  h.frame(1468244406, "c");
  EXPECT_TRUE(h.results.all.empty()) << "two frames past the minute are not enough";
  h.frame(1468244407, "d");
  EXPECT_EQ(h.results.brief(), (V{"minute/1468244340:1/3/r0"}));
}

TEST(Engine, LateFrameIsRejectedOnlyWhenLateEverywhere) {
  EngineOptions o = minute_only();
  o.counter.granularities = {Granularity::minute, Granularity::hour};
  Harness h(o);
  for (int i = 0; i < 3; ++i) h.frame(3600 * 400000 + 10, "a");
  for (int i = 0; i < 3; ++i) h.frame(3600 * 400000 + 70, "b");  // minute 0 final
  h.frame(3600 * 400000 + 20, "late-for-minute");
  EXPECT_TRUE(h.rejects.all.empty());
  EXPECT_EQ(h.engine.stats().counted_partially, 1u);
  h.engine.finish();
  const auto finals = h.results.brief();
  EXPECT_EQ(finals.back(), "hour/1440000000:3/7/r0");
}

TEST(Engine, ClassifiesAndKeepsEveryReject) {
  EngineOptions o = minute_only();
  o.max_frame_bytes = 100;
  Harness h(o);
  for (int i = 0; i < 3; ++i) h.frame(1468244340, "a");
  h.feed(R"({"uid":"a","ts":1468244340)");
  h.feed(R"({"uid":"a","uid":"b","ts":1468244340})");
  h.feed(R"({"ts":1468244340})");
  h.feed(R"({"uid":"a"})");
  h.feed(R"({"uid":false,"ts":1468244340})");
  h.feed(R"({"uid":"a","ts":"soon"})");
  h.feed(R"({"uid":"a","ts":9999999999})");  // far in the future
  h.feed("{\"uid\":\"" + std::string(200, 'x') + "\",\"ts\":1468244340}");
  h.frame(1468244340 + 100000, "flip");
  for (int i = 0; i < 3; ++i) h.frame(1468244341 + 70, "b");
  h.frame(1468244341, "late");
  h.engine.finish();
  EXPECT_EQ(h.reject_reasons(), (V{"malformed_json", "duplicate_key", "missing_uid", "missing_ts", "bad_uid_type",
                                   "bad_ts", "future", "too_large", "outlier", "late"}));
  EXPECT_EQ(h.rejects.all[0].second, R"({"uid":"a","ts":1468244340)") << "the original bytes are kept";
  EXPECT_EQ(h.engine.stats().rejected_total(), 10u);
  EXPECT_EQ(h.engine.stats().accepted, 6u);
}

TEST(Engine, FlipNeverOpensAFarWindow) {
  Harness h(minute_only());
  for (int i = 0; i < 10; ++i) h.frame(1468244340 + i, "u" + std::to_string(i));
  h.frame(1468244340 + (1 << 24), "flipped");
  for (int i = 10; i < 20; ++i) h.frame(1468244340 + i, "u" + std::to_string(i));
  h.engine.finish();
  EXPECT_EQ(h.results.brief(), (V{"minute/1468244340:20/20/r0"}));
  EXPECT_EQ(h.reject_reasons(), (V{"outlier"}));
}

TEST(Engine, MillisecondSources) {
  EngineOptions o = minute_only();
  o.ts_unit = TsUnit::milliseconds;
  Harness h(o);
  for (int i = 0; i < 3; ++i) h.frame(1468244340123LL + i * 1000, "a" + std::to_string(i));
  h.engine.finish();
  EXPECT_EQ(h.results.brief(), (V{"minute/1468244340:3/3/r0"}));
}

}  // namespace
}  // namespace uniqd::processor
