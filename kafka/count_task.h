// A count task: one shard of the uid space (repartition partition = changelog
// partition = RocksDB store). It counts the frames routed to its shard with
// the same WindowCounter as file mode, closes windows by the slowest input
// partition's marker (processor/watermark.h), and sends its partial counts
// and its watermark on to the sum tasks (processor/window_sum.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/internal_records.h"
#include "processor/counter.h"
#include "processor/engine.h"
#include "state/rocksdb_store.h"

namespace uniqd::kafka {

// Where a count task's partial results and watermark go (the partials topic).
class PartialsSink {
 public:
  virtual ~PartialsSink() = default;
  virtual void partial(int shard, const processor::WindowResult& r) = 0;
  virtual void shard_watermark(int shard, std::int64_t wm_ms) = 0;
};

class CountTask final : private processor::ResultSink {
 public:
  // sources: how many input partitions feed the shard (all of them; 1 when
  // the input is partitioned by uid and partition = shard).
  CountTask(int shard, int sources, const processor::EngineOptions& opts, std::unique_ptr<state::RocksDbStore> store,
            PartialsSink& partials, processor::RejectSink& late);

  int shard() const { return shard_; }
  // One accepted frame: counted, or rejected as late when every window it
  // belongs to is final.
  void frame(const FrameEntry& f);
  // An input partition's event-time state (source index: its partition, or
  // 0 with partitioned input).
  void marker(int source, const SourceMarker& m);
  // After a batch of entries: tell the sum tasks how far the shard got.
  void publish_watermark();

  // Every input partition reached its end and every window was published.
  bool ended() const { return flushed_; }
  std::int64_t watermark_ms() const { return counter_.watermark_ms(); }
  const processor::WindowCounter& counter() const { return counter_; }
  state::RocksDbStore& store() { return *store_; }
  std::uint64_t late() const { return late_; }
  std::uint64_t counted() const { return counted_; }
  // Something changed since the last commit.
  bool dirty() const { return dirty_; }
  void clean() { dirty_ = false; }

  // The counter's figures and the input partitions' markers: with the
  // store's pairs of the same commit, all a restart needs.
  std::string snapshot() const;
  bool restore(std::string_view snapshot);

 private:
  struct Source {
    std::optional<std::int64_t> time;
    bool idle{false};
    bool ended{false};
  };
  void emit(const processor::WindowResult& r) override;
  void update_watermark();

  int shard_;
  processor::EngineOptions opts_;
  std::unique_ptr<state::RocksDbStore> store_;
  PartialsSink& partials_;
  processor::RejectSink& late_sink_;
  processor::WindowCounter counter_;
  std::vector<Source> sources_;
  bool flushed_{false};
  std::int64_t published_wm_{processor::kNoWatermark};
  std::uint64_t late_{0};
  std::uint64_t counted_{0};
  bool dirty_{false};
};

}  // namespace uniqd::kafka
