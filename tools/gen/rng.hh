// Small, fast, fully specified random number generators for uniqd-gen.
//
// The output of the generator must be a pure function of its options on every
// platform, so nothing here uses <random> distributions (their algorithms are
// implementation-defined). Every frame gets its own independent streams,
// seeded from (seed, frame index, stream id): turning one fault on or off only
// changes the frames that fault touches.
#pragma once

#include <cstdint>

namespace uniqd::gen {

// SplitMix64 step; a bijection on 64-bit values.
constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Seed of stream `stream` for frame `index`.
constexpr uint64_t stream_seed(uint64_t seed, uint64_t index, uint64_t stream) {
  return splitmix64(splitmix64(seed ^ (stream * 0x9e6c63d0676a9a99ULL)) ^ index);
}

// wyrand: one 64-bit word of state, passes BigCrush, ~1 ns per draw.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}

  uint64_t next() {
    s_ += 0xa0761d6478bd642fULL;
    const unsigned __int128 m =
        static_cast<unsigned __int128>(s_) * (s_ ^ 0xe7037ed1a0b428dbULL);
    return static_cast<uint64_t>(m >> 64) ^ static_cast<uint64_t>(m);
  }
  // Uniform in [0, n) (multiply-shift; bias < n / 2^64, irrelevant here). n > 0.
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  // Uniform in [lo, hi], lo <= hi.
  int64_t range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
  }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // True with probability p (p <= 0: never, p >= 1: always).
  bool chance(double p) { return unit() < p; }
  // Percent roll: uniform in [0, 100).
  unsigned pct() { return static_cast<unsigned>(below(100)); }

 private:
  uint64_t s_;
};

}  // namespace uniqd::gen
