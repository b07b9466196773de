// Guards one partition's event time against bit-flipped timestamps.
//
// A single frame must never move the watermark far or land in a far-away
// window, yet a real gap in the data must be followed. So a frame far from the
// partition time is held as a suspect until the partition's next frames
// confirm the jump (K suspects close together) or refute it (K other frames
// arrive first). The rules are docs/SEMANTICS.md §3, word for word.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "processor/frame.h"
#include "processor/snapshot_codec.h"

namespace uniqd::processor {

// Receives the filter's verdicts, in the order frames are to be applied.
class FrameVerdicts {
 public:
  virtual ~FrameVerdicts() = default;
  virtual void accept(const FrameRef& f) = 0;
  virtual void reject_outlier(const FrameRef& f) = 0;
};

struct OutlierOptions {
  // Distance from the partition time that makes a frame a suspect, in
  // seconds. Default: 3600.
  std::int64_t threshold{3600};
  // Members that confirm a cluster, and frames against that reject it.
  // Default: 3.
  int confirm{3};
  // Pending clusters at most; a new one past this rejects the oldest.
  // Default: 4.
  std::size_t max_clusters{4};
  // N: a step of the partition time larger than immediate_step_ms is taken
  // only when N consecutive accepted frames make it. 1 makes the partition
  // time the largest accepted ts (DESIGN.md §3's words); the default 3 keeps
  // a bit flip that stays within `threshold` from moving the watermark more
  // than a lateness ahead, which a literal largest ts would let one frame do.
  // Default: 3.
  int partition_time_confirm{3};
  // Steps up to this are taken at once: dense data (a second per step) and
  // out-of-order data then follow the largest accepted ts exactly, and a flip
  // moves the watermark by at most this. Default: 5000 (ms).
  std::int64_t immediate_step_ms{5000};
};

class OutlierFilter {
 public:
  explicit OutlierFilter(OutlierOptions opts) : opts_(opts) {}

  // One parsed, non-future frame of this partition.
  void offer(const FrameRef& f, FrameVerdicts& out);
  // End of input: resolve every pending suspect.
  void finish(FrameVerdicts& out);

  // The partition time: the largest of (a) every accepted ts that was at
  // most immediate_step_ms ahead of the partition time when it came (the
  // first accepted ts too) and (b) every value taken by the smallest ts of
  // the last N = partition_time_confirm accepted frames (of all of them
  // before N were accepted). With N = 1 that is the largest accepted ts. With
  // N > 1, a bit flip that stays within the threshold is accepted and
  // counted where its ts says, but flips scattered over a stream never line
  // up N in a row, so they never move the partition time more than one
  // immediate step. nullopt until a frame is accepted.
  std::optional<std::int64_t> partition_time() const { return ptime_; }
  std::size_t pending() const;

  // The whole filter: partition time, recent ts, held suspects. Without
  // bytes the suspects keep their ts, uid hash and source position only (no
  // raw uid in the state): one rejected after a restore reaches the dead
  // letters by its position, without its bytes.
  void save(SnapshotWriter& w, bool with_bytes = true) const;
  bool load(SnapshotReader& r);

 private:
  struct Held {
    ParsedFrame frame;
    std::string bytes;
    SourcePosition pos;
    std::uint64_t arrival;  // orders members across clusters
  };
  struct Cluster {
    std::int64_t anchor;
    std::vector<Held> members;
    int against{0};
  };

  bool near(std::int64_t a, std::int64_t b) const;
  void accept(const FrameRef& f, FrameVerdicts& out);
  void reject(Cluster& c, FrameVerdicts& out);
  // Takes the members matching pred out of every cluster and hands them to
  // fn in arrival order; drops clusters left empty.
  template <class Pred, class Fn>
  void drain(Pred pred, Fn fn);
  void confirm(std::size_t index, FrameVerdicts& out);

  OutlierOptions opts_;
  std::optional<std::int64_t> ptime_;
  std::vector<std::int64_t> recent_;  // the last N accepted ts, a ring
  std::size_t next_slot_{0};
  std::deque<Cluster> clusters_;  // oldest first
  std::uint64_t arrivals_{0};
  std::vector<Held> scratch_;
};

}  // namespace uniqd::processor
