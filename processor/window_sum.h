// The sum step of scale-out (docs/SCALE_OUT.md): each count task counts the
// users of one shard of the uid space, and shards are disjoint in users, so
// a window's global count is the sum of its shards' partial counts. A
// WindowSum receives the partial results and the watermarks of every shard
// and publishes the global results by the counter's own rules
// (processor/counter.h): a window is final when every shard's watermark
// passed its end (each shard sends its final partial before the watermark
// that closed it), long windows report early at each minute the merged
// watermark closes, and a partial that changes a window already published
// (late_policy: update) publishes it again with the next revision.
//
// The final is the sum of each shard's count as its own watermark passed the
// window's end; a shard's later (late) revisions follow it, one global
// revision each, in the order that shard made them. So the users of every
// revision are those a single process would publish; with several shards
// the frames of a revision may not yet include late frames of other shards
// that added no user (no shard revision was sent for those).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "processor/counter.h"
#include "state/window_store.h"

namespace uniqd::processor {

class WindowSum {
 public:
  // opts: late_policy, retention_ms and early_results are used.
  WindowSum(CounterOptions opts, int shards, ResultSink& sink);

  // Shard `shard`'s latest result for a window (final or early).
  void partial(int shard, const WindowResult& r);
  // Shard `shard`'s watermark in ms (INT64_MAX once its input ended).
  void shard_watermark(int shard, std::int64_t wm_ms);

  // Every shard's input ended and every window was published.
  bool done() const { return wm_ == INT64_MAX; }
  std::int64_t watermark_ms() const { return wm_; }
  std::size_t open_windows() const { return windows_.size(); }
  // Windows some shard reported that wait for a shard's watermark.
  std::size_t waiting() const;
  int shards() const { return static_cast<int>(shard_wm_.size()); }

  std::string snapshot() const;
  bool restore(std::string_view snapshot);

 private:
  struct Part {
    std::uint64_t users{0};
    std::uint64_t frames{0};
  };
  struct Slot {
    Granularity granularity{Granularity::minute};
    std::int64_t start{0};
    std::int64_t end{0};
    std::vector<Part> parts;  // by shard
    bool final{false};
    std::uint32_t next_revision{0};
    std::uint64_t emitted_users{0};
    std::uint64_t emitted_frames{0};
    // Late revisions of fast shards that came before the window was final
    // everywhere: published, in order, right after the final.
    std::vector<std::pair<int, Part>> pending;
  };
  Part total(const Slot& s) const;
  void emit(Slot& s, bool final);
  void advance(std::int64_t wm_ms);

  CounterOptions opts_;
  ResultSink& sink_;
  std::vector<std::int64_t> shard_wm_;
  std::int64_t wm_{kNoWatermark};
  std::map<state::WindowKey, Slot> windows_;
};

}  // namespace uniqd::processor
