#include "processor/frame_feed.h"

#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "processor/stop_signal.h"
#include "state/memory_store.h"
#include "support.h"

namespace uniqd::processor {
namespace {

using testing::RecordingRejects;
using testing::RecordingResults;

constexpr std::int64_t kB = 1468244340;  // a minute boundary

struct FeedRun {
  explicit FeedRun(int threads, std::size_t max_frame_bytes = 200) {
    EngineOptions o;
    o.counter.granularities = {Granularity::minute};
    o.counter.early_results = false;
    o.max_frame_bytes = max_frame_bytes;
    engine = std::make_unique<Engine>(o, store, results, rejects, [] { return 2'000'000'000; });
    feed =
        std::make_unique<FrameFeed>([this]() -> Engine& { return *engine; }, threads, max_frame_bytes, TsUnit::seconds);
  }
  state::MemoryStore store;
  RecordingResults results;
  RecordingRejects rejects;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<FrameFeed> feed;
};

std::string frame(const std::string& uid, std::int64_t ts) {
  return "{\"uid\":\"" + uid + "\",\"ts\":" + std::to_string(ts) + "}";
}

// Kafka-like values: unpadded bytes, blank ones, a too large one, a bad one.
std::vector<std::string> values() {
  std::vector<std::string> v;
  for (int t = 0; t < 300; ++t) {
    v.push_back(frame("u" + std::to_string(t % 7), kB + t));
    if (t % 50 == 3) v.push_back(" \r ");
    if (t % 50 == 4) v.push_back("");
    if (t % 50 == 5)
      v.push_back("{\"uid\":1,\"ts\":" + std::to_string(kB + t) + ",\"pad\":\"" + std::string(5000, 'x') + "\"}");
    if (t % 50 == 6) v.push_back("{bad");
  }
  return v;
}

void feed_all(FeedRun& r) {
  std::int64_t offset = 0;
  for (const std::string& v : values()) {
    // An exact-size heap copy: a parse that read past the value without
    // the feed's padded copy would show under ASan.
    auto bytes = std::make_unique<char[]>(v.size());
    std::copy(v.begin(), v.end(), bytes.get());
    r.feed->add(std::string_view(bytes.get(), v.size()), SourcePosition{0, offset++});
  }
  r.feed->apply_pending();
  r.engine->finish();
}

TEST(FrameFeed, ClassifiesWholeFramesSizeFirstThenBlank) {
  FeedRun r(0, 200);
  r.feed->add(std::string_view(), SourcePosition{0, 1});  // a tombstone
  r.feed->add(" \r\n\t", SourcePosition{0, 2});
  r.feed->add(std::string(201, ' '), SourcePosition{0, 3});  // blank, but too large first
  const std::string big = std::string(3000, 'y');
  r.feed->add(big, SourcePosition{0, 4});
  r.feed->add(frame("a", kB), SourcePosition{0, 5});
  r.feed->apply_pending();
  r.engine->finish();  // the lone frame is a suspect until the end
  EXPECT_EQ(r.engine->stats().blank, 2u);
  EXPECT_EQ(r.engine->stats().frames, 3u);
  EXPECT_EQ(r.engine->stats().accepted, 1u);
  ASSERT_EQ(r.rejects.all.size(), 2u);
  EXPECT_EQ(r.rejects.all[0].first, RejectReason::too_large);
  EXPECT_EQ(r.rejects.all[0].second, std::string(kRejectPrefixBytes < 201 ? kRejectPrefixBytes : 201, ' '));
  EXPECT_EQ(r.rejects.all[1].first, RejectReason::too_large);
  EXPECT_EQ(r.rejects.all[1].second.size(), kRejectPrefixBytes) << "only the first KiB of a too large frame is kept";
}

TEST(FrameFeed, ParseThreadsChangeNothing) {
  FeedRun inline_run(0), threaded(3);
  feed_all(inline_run);
  feed_all(threaded);
  EXPECT_FALSE(threaded.feed->holds_frames());
  EXPECT_TRUE(threaded.feed->parallel());
  EXPECT_EQ(inline_run.results.brief(false), threaded.results.brief(false));
  ASSERT_EQ(inline_run.rejects.all, threaded.rejects.all);
  EXPECT_EQ(inline_run.engine->stats().blank, 12u);
  EXPECT_EQ(inline_run.engine->stats().blank, threaded.engine->stats().blank);
  EXPECT_EQ(inline_run.engine->stats().accepted, 300u);
  EXPECT_EQ(inline_run.engine->stats().rejected_total(), 12u);
  EXPECT_EQ(
      inline_run.results.brief(),
      (std::vector<std::string>{"minute/1468244340:7/60/r0", "minute/1468244400:7/60/r0", "minute/1468244460:7/60/r0",
                                "minute/1468244520:7/60/r0", "minute/1468244580:7/60/r0"}));
}

TEST(FrameFeed, FramesGoToTheEngineOfTheMomentTheyAreApplied) {
  FeedRun r(2);
  r.feed->add(frame("a", kB), SourcePosition{0, 1});
  EXPECT_TRUE(r.feed->holds_frames());
  r.feed->apply_pending();
  EXPECT_FALSE(r.feed->holds_frames());
  EXPECT_EQ(r.engine->stats().frames, 1u);
  // A rewind replaces the engine: the feed finds the new one.
  r.engine = std::make_unique<Engine>(EngineOptions{}, r.store, r.results, r.rejects);
  r.feed->add(frame("b", kB), SourcePosition{0, 2});
  r.feed->add(" ", SourcePosition{0, 3});
  r.feed->apply_pending();
  EXPECT_EQ(r.engine->stats().frames, 1u);
  EXPECT_EQ(r.engine->stats().blank, 1u);
}

TEST(StopSignal, SigtermAndSigintSetTheOneFlag) {
  install_stop_signal_handlers();
  for (int sig : {SIGTERM, SIGINT}) {
    clear_stop_request();
    EXPECT_FALSE(stop_requested());
    ASSERT_EQ(std::raise(sig), 0);
    EXPECT_TRUE(stop_requested());
    EXPECT_NE(*stop_flag(), 0);
  }
  clear_stop_request();
  request_stop();
  EXPECT_TRUE(stop_requested());
  clear_stop_request();
}

}  // namespace
}  // namespace uniqd::processor
