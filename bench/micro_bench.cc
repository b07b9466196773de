// Micro-benchmarks of the hot path's parts: the frame parser on a
// challenge-like 2 KB frame, the uid hash, and a window-set insert.
#include <benchmark/benchmark.h>

#include <random>
#include <string>

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

}  // namespace

BENCHMARK_MAIN();
