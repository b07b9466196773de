// The records of uniqd's two internal topics (docs/SCALE_OUT.md). Each Kafka
// record is a batch of entries, in the order the producing replica made
// them, so that one record per shard per commit (not one per frame) crosses
// the broker and the order of frames and watermark markers is kept.
//
// <application_id>-repartition, partition = shard = uid hash mod shards:
//   frame   an accepted frame reduced to its input position, ts and uid hash
//           (the bytes too when its own partition's watermark says it may be
//           late, so that a late frame reaches the dead letters whole)
//   marker  an input partition's event-time state (time, idle, ended), sent
//           to every shard: a shard's watermark is the slowest input
//           partition's, whichever replica reads it
// <application_id>-partials, partition = window key hash mod shards:
//   partial a shard's count of one window (final or early)
//   marker  the shard's watermark (INT64_MAX once its input ended)
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "processor/counter.h"
#include "processor/frame.h"

namespace uniqd::kafka {

struct FrameEntry {
  processor::SourcePosition pos;
  processor::ParsedFrame frame;
  std::string_view bytes;  // empty unless the frame may be late
};

struct SourceMarker {
  std::int32_t partition{0};
  std::optional<std::int64_t> time;  // partition time, seconds
  bool idle{false};
  bool ended{false};
};

class RepartitionWriter {
 public:
  void frame(const FrameEntry& f);
  void marker(const SourceMarker& m);
  std::size_t size() const { return buf_.size(); }
  bool empty() const { return buf_.empty(); }
  std::string take();

 private:
  std::string buf_;
};

struct RepartitionVisitor {
  std::function<void(const FrameEntry&)> frame;
  std::function<void(const SourceMarker&)> marker;
};
// False when the record is not a repartition batch of this version or is cut
// short (what came before the fault was visited).
bool read_repartition(std::string_view record, const RepartitionVisitor& v);

class PartialsWriter {
 public:
  explicit PartialsWriter(int shard) : shard_(shard) {}
  void partial(const processor::WindowResult& r);
  void watermark(std::int64_t wm_ms);
  bool empty() const { return buf_.empty(); }
  std::string take();

 private:
  int shard_;
  std::string buf_;
};

struct PartialsVisitor {
  std::function<void(int shard, const processor::WindowResult&)> partial;
  std::function<void(int shard, std::int64_t wm_ms)> watermark;
};
bool read_partials(std::string_view record, const PartialsVisitor& v);

// The sum task (partials partition) that owns a window.
int partials_partition(processor::Granularity g, std::int64_t start, int partitions);

// A count or sum task's changelog snapshot with the offset of its input
// (repartition or partials partition) it covers. at_least_once writes the
// snapshots before the offsets, so after a refused offset commit (a
// rebalance) the snapshot is ahead of the group's offsets, and the records
// in between are in the state already: the task skips them instead of
// counting them again (or taking an old partial count for a new one).
std::string positioned_snapshot(std::int64_t next, std::string_view snapshot);
// The task's own snapshot, and *next its offset (-1: unknown, a snapshot of
// a version that did not record it).
std::string_view unposition_snapshot(std::string_view value, std::int64_t* next);

}  // namespace uniqd::kafka
