// Micro-benchmarks of the hot path's parts: the frame parser on a
// challenge-like 2 KB frame, the uid hash, one frame's six-window count, and
// the window store's insert (new uid / uid already in the window).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "processor/counter.h"
#include "processor/frame_parser.h"
#include "state/memory_store.h"

namespace {

std::string challenge_like_frame() {
  std::string f = R"({"ts":1468244384,"meta":{"uid":"decoy","ts":5,"tags":["a","b","\u0442\u0435\u0441\u0442"]},)";
  for (int i = 0; f.size() < 1900; ++i) {
    f += "\"key" + std::to_string(i) + "\":{\"name\":\"значение \\\"quoted\\\" \\n\",\"n\":" + std::to_string(i * 37) +
         ",\"f\":" + std::to_string(i) + ".25,\"ok\":true,\"list\":[1,2,3,null]},";
  }
  f += R"("uid":"2a7c8e4bf3f0d1c9a51"})";
  return f;
}

void BM_ParseFrame(benchmark::State& state) {
  const std::string frame = challenge_like_frame();
  std::string padded = frame + std::string(uniqd::processor::kFramePadding, ' ');
  uniqd::processor::FrameParser parser(1 << 20);
  uniqd::processor::ParsedFrame out;
  for (auto _ : state) {
    auto r = parser.parse(padded.data(), frame.size(), out);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frame.size()));
}
BENCHMARK(BM_ParseFrame);

// The frame parser on real frames: the first 20 000 lines of the file named
// by UNIQD_BENCH_FRAMES (bench/file.sh's cached data, say), each padded, so
// that the branch predictors see the data's variety rather than one frame.
void BM_ParseFileFrames(benchmark::State& state) {
  const char* path = std::getenv("UNIQD_BENCH_FRAMES");
  if (path == nullptr) {
    state.SkipWithError("UNIQD_BENCH_FRAMES is not set");
    return;
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> frames;
  std::size_t bytes = 0;
  for (std::string line; frames.size() < 20000 && std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    bytes += line.size();
    frames.push_back(line + std::string(uniqd::processor::kFramePadding, ' '));
  }
  if (frames.empty()) {
    state.SkipWithError("UNIQD_BENCH_FRAMES names no readable lines");
    return;
  }
  uniqd::processor::FrameParser parser(1 << 20);
  uniqd::processor::ParsedFrame out;
  for (auto _ : state) {
    for (const std::string& f : frames) {
      auto r = parser.parse(f.data(), f.size() - uniqd::processor::kFramePadding, out);
      benchmark::DoNotOptimize(r);
      benchmark::DoNotOptimize(out);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * frames.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_ParseFileFrames)->Unit(benchmark::kMillisecond);

void BM_HashUid(benchmark::State& state) {
  const std::string uid = "2a7c8e4bf3f0d1c9a51";
  for (auto _ : state) benchmark::DoNotOptimize(uniqd::processor::hash_uid(uid));
}
BENCHMARK(BM_HashUid);

// One frame's counting work: six windows, 100 000 users.
void BM_CountSixWindows(benchmark::State& state) {
  struct Null : uniqd::processor::ResultSink {
    void emit(const uniqd::processor::WindowResult&) override {}
  } sink;
  uniqd::state::MemoryStore store;
  uniqd::processor::WindowCounter counter({}, store, sink);
  std::vector<uniqd::processor::UidHash> users;
  for (int i = 0; i < 100000; ++i) users.push_back(uniqd::processor::hash_uid(std::to_string(i)));
  std::mt19937_64 rng(1);
  std::int64_t ts = 1468244340;
  std::uint64_t n = 0;
  for (auto _ : state) {
    if ((++n % 1000) == 0) {
      ++ts;
      counter.advance(ts * 1000 - 5000);
    }
    benchmark::DoNotOptimize(counter.count({ts, users[rng() % users.size()]}));
  }
}
BENCHMARK(BM_CountSixWindows);

// The window state alone: MemoryStore::insert of a uid not yet in the window
// (the set grows; reset every 1M inserts so it stays challenge-sized) ...
void BM_StoreInsertNew(benchmark::State& state) {
  std::vector<uniqd::processor::UidHash> users;
  for (int i = 0; i < (1 << 20); ++i) users.push_back(uniqd::processor::hash_uid(std::to_string(i)));
  auto store = std::make_unique<uniqd::state::MemoryStore>();
  std::int64_t start = 0;
  auto h = store->open({0, start});
  std::size_t i = 0;
  for (auto _ : state) {
    if (i == users.size()) {
      state.PauseTiming();
      store->erase({0, start});
      h = store->open({0, ++start});
      i = 0;
      state.ResumeTiming();
    }
    benchmark::DoNotOptimize(store->insert(h, users[i++]));
  }
}
BENCHMARK(BM_StoreInsertNew);

// ... and of a uid already there (the common case: 100 000 users, a window
// sees each one many times). Random order, so the probes miss the cache as
// they do in uniqd.
void BM_StoreInsertExisting(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::vector<uniqd::processor::UidHash> users;
  for (std::size_t i = 0; i < n; ++i) users.push_back(uniqd::processor::hash_uid(std::to_string(i)));
  uniqd::state::MemoryStore store;
  auto h = store.open({0, 0});
  for (const auto& u : users) store.insert(h, u);
  std::mt19937_64 rng(1);
  std::vector<std::uint32_t> order(1 << 16);
  for (auto& o : order) o = static_cast<std::uint32_t>(rng() % n);
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(store.insert(h, users[order[i++ & 0xffff]]));
}
BENCHMARK(BM_StoreInsertExisting)->Arg(100000)->Arg(10000000);

}  // namespace

BENCHMARK_MAIN();
