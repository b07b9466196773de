// The open windows and the rules for emitting them (docs/SEMANTICS.md §4):
// a window is final when the watermark reaches its end; lateness is judged per
// window, so a frame too late for its minute still counts for its hour; late
// updates revise a retained window; long windows report early, non-final
// counts each time a minute of event time closes.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "processor/frame.h"
#include "processor/snapshot_codec.h"
#include "processor/windows.h"
#include "state/window_store.h"

namespace uniqd::processor {

struct WindowResult {
  Granularity granularity{Granularity::minute};
  std::int64_t start{0};
  std::int64_t end{0};
  std::uint64_t unique_users{0};
  std::uint64_t frames{0};
  bool final{false};
  std::uint32_t revision{0};
};

class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual void emit(const WindowResult& r) = 0;
};

enum class LatePolicy : std::uint8_t { drop, update };

struct CounterOptions {
  // Default: all six.
  std::vector<Granularity> granularities{kAllGranularities.begin(), kAllGranularities.end()};
  // Default: drop.
  LatePolicy late_policy{LatePolicy::drop};
  // How long a final window stays for late updates, in ms. Default: 1h.
  std::int64_t retention_ms{3600 * 1000};
  // Default: true.
  bool early_results{true};
};

// Watermark before any frame: nothing is final.
inline constexpr std::int64_t kNoWatermark = INT64_MIN;

class WindowCounter {
 public:
  WindowCounter(CounterOptions opts, state::WindowStore& store, ResultSink& sink);

  // Counts an accepted frame in every configured granularity that can still
  // take it. Returns how many did; 0 means the frame is late everywhere.
  int count(const ParsedFrame& f);

  // Moves the watermark (ms) forward: emits what became final and the early
  // results, frees windows past retention. A smaller value is ignored.
  void advance(std::int64_t watermark_ms);

  // End of input: every open window is emitted as final.
  void flush();

  std::int64_t watermark_ms() const { return wm_; }
  std::size_t open_windows() const { return windows_.size(); }
  // Peak (window, uid) pairs held, and the store's bytes at that moment.
  std::uint64_t peak_pairs() const { return peak_pairs_; }
  std::size_t peak_bytes() const { return peak_bytes_; }
  std::uint64_t late_partial() const { return late_partial_; }

  // Everything but the uid sets (the store holds those): windows' frames,
  // revisions, early counts, the watermark. load() opens each window's set
  // in the store, which must hold the sets of the same commit.
  void save(SnapshotWriter& w) const;
  bool load(SnapshotReader& r);

 private:
  struct Slot {
    Window window;
    Granularity granularity;
    state::WindowStore::Handle set;
    std::uint64_t frames{0};
    bool final{false};
    std::uint32_t next_revision{0};
    std::uint64_t early_users{0};
    std::uint64_t early_frames{0};
  };
  struct Cached {
    Window window{0, 0};
    Slot* slot{nullptr};
  };

  Slot& slot_for(Granularity g, const Window& w);
  void emit(Slot& s, bool final);
  // Emits, in (end, granularity, start) order, the open windows whose end the
  // watermark reached, or every open window.
  void emit_finals(bool all_open);
  // Final results go out in (end, granularity, start) order.
  static void sort_for_emission(std::vector<Slot*>& slots);
  void emit_early();
  void free_expired();
  void sample_memory();
  void recompute_next_due();

  CounterOptions opts_;
  state::WindowStore& store_;
  ResultSink& sink_;
  std::map<state::WindowKey, Slot> windows_;
  Cached cache_[kGranularityCount];
  std::int64_t wm_{kNoWatermark};
  // Earliest watermark at which some window becomes final or expires.
  std::int64_t next_due_{INT64_MAX};
  std::uint64_t peak_pairs_{0};
  std::size_t peak_bytes_{0};
  std::uint64_t late_partial_{0};
  std::vector<Slot*> scratch_;
  std::vector<Slot*> revised_;
};

}  // namespace uniqd::processor
