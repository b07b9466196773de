// One task's whole hot path: bytes in → parsed frame → event-time checks →
// window counts → results and rejects out. Sources and sinks (stdin, files,
// Kafka) sit outside; the engine neither reads nor writes I/O itself, so
// every input mode gets exactly the same semantics.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "processor/counter.h"
#include "processor/frame.h"
#include "processor/frame_parser.h"
#include "processor/outlier_filter.h"
#include "processor/watermark.h"
#include "state/window_store.h"

namespace uniqd::processor {

class RejectSink {
 public:
  virtual ~RejectSink() = default;
  // bytes is the frame as received, or its first bytes when it was too large
  // (full_size then says how long it was).
  virtual void reject(RejectReason reason, std::string_view bytes, const SourcePosition& pos,
                      std::uint64_t full_size) = 0;
};

// Where accepted frames go when the engine only ingests: with several
// replicas (kafka/, docs/SCALE_OUT.md) a frame's uid decides which count task
// counts it, so the engine validates, checks event time and forwards, and
// reports each partition's event-time state for the watermark downstream.
class FrameForwarder {
 public:
  virtual ~FrameForwarder() = default;
  // An accepted frame (its bytes are valid only during the call).
  virtual void forward(const FrameRef& f) = 0;
  // Partition p's time, idleness or end changed; reported before the frame
  // that made a partition busy again and after the frame that moved its time.
  virtual void source_changed(std::int32_t p, std::optional<std::int64_t> time, bool idle, bool ended) = 0;
};

struct EngineOptions {
  CounterOptions counter;
  OutlierOptions outlier;
  // Watermark lag behind partition time, in ms. Default: 5000.
  std::int64_t lateness_ms{5000};
  // ts beyond wall clock + this (seconds) is future. Default: 3600.
  std::int64_t max_future_skew{3600};
  // Default: seconds.
  TsUnit ts_unit{TsUnit::seconds};
  // Default: 1 MiB.
  std::size_t max_frame_bytes{1 << 20};
  // Partitions active from the start: 1 for stdin/file mode (partition 0);
  // 0 for Kafka mode, where assign_partition() adds them. Default: 1.
  int partitions{1};
};

struct EngineStats {
  std::uint64_t frames{0};  // frames offered (blank lines excluded)
  std::uint64_t bytes{0};
  std::uint64_t blank{0};
  std::uint64_t accepted{0};
  std::uint64_t counted_partially{0};
  std::array<std::uint64_t, kRejectReasonCount> rejected{};
  std::uint64_t results_final{0};
  std::uint64_t results_early{0};
  // [granularity][final ? 1 : 0]
  std::array<std::array<std::uint64_t, 2>, kGranularityCount> results_by_window{};
  std::uint64_t rejected_total() const;
};

// Wall clock in unix seconds, injectable for tests.
using WallClock = std::function<std::int64_t()>;
WallClock system_wall_clock();

class Engine final : private FrameVerdicts, private ResultSink {
 public:
  Engine(EngineOptions opts, state::WindowStore& store, ResultSink& results, RejectSink& rejects,
         WallClock clock = system_wall_clock());

  // One frame. Precondition: data + size + kFramePadding is readable.
  void process(const char* data, std::size_t size, const SourcePosition& pos);
  // One frame parsed elsewhere (a parse thread; see parallel_parser.h): why
  // is the parser's verdict, f its result when there is none.
  void process_parsed(std::optional<RejectReason> why, const ParsedFrame& f, std::string_view bytes,
                      const SourcePosition& pos);
  // A frame over max_frame_bytes: only its first bytes were kept.
  void process_too_large(std::string_view prefix, std::uint64_t full_size, const SourcePosition& pos);
  void note_blank() { ++stats_.blank; }

  // Kafka partitions. An assigned partition holds the watermark back until it
  // has accepted a frame — a partition not read yet must not see its windows
  // closed by the others — unless it is marked idle (nothing to read for
  // idle_timeout, or at its end with --until-end).
  void assign_partition(std::int32_t p);
  void revoke_partition(std::int32_t p);
  void set_partition_idle(std::int32_t p, bool idle);
  // End of input: resolve suspects, emit every open window as final.
  void finish();

  // Ingest-only mode (see FrameForwarder): accepted frames go to f instead
  // of the counter, and partitions' event-time changes are reported to it.
  void set_forwarder(FrameForwarder* f) { forwarder_ = f; }
  // Partition p reached its end (--until-end): resolve its suspects, then
  // report it ended. Ingest-only mode.
  void finish_partition(std::int32_t p);
  // One partition's state (partition time, suspects without their bytes,
  // idleness, end), for an ingest task's changelog: a task moved to another
  // replica goes on from it.
  std::string partition_snapshot(std::int32_t p);
  bool restore_partition(std::int32_t p, std::string_view snapshot);

  const EngineStats& stats() const { return stats_; }
  // Counts on from these: an engine rebuilt after an aborted transaction
  // starts from the figures of the last commit, so that counters (and the
  // closing summary) stay whole across the rewind without counting twice
  // what is read again.
  void carry_stats(const EngineStats& s) { stats_ = s; }
  // The engine's state but the uid sets, for a commit: a restart that loads
  // the store of the same commit and then this continues exactly where it
  // left off. restore() returns false on a corrupt snapshot.
  std::string snapshot() const;
  bool restore(std::string_view snapshot);

  // (partition, partition time) of every active partition that has one.
  std::vector<std::pair<std::int32_t, std::int64_t>> partition_times() const;
  std::int64_t watermark_ms() const { return counter_.watermark_ms(); }
  const WindowCounter& counter() const { return counter_; }

 private:
  void accept(const FrameRef& f) override;
  void reject_outlier(const FrameRef& f) override;
  void emit(const WindowResult& r) override;
  void reject(RejectReason reason, std::string_view bytes, const SourcePosition& pos, std::uint64_t size);
  void update_watermark();
  struct Partition {
    explicit Partition(const OutlierOptions& o) : filter(o) {}
    OutlierFilter filter;
    bool active{false};
    bool idle{false};
    bool ended{false};
    // What the forwarder was last told; re-sent after a restore.
    bool reported{false};
    std::optional<std::int64_t> reported_time;
    bool reported_idle{false};
    bool reported_ended{false};
  };
  void report(std::int32_t p);
  Partition& partition(std::int32_t p);

  EngineOptions opts_;
  FrameParser parser_;
  WindowCounter counter_;
  ResultSink& results_;
  RejectSink& rejects_;
  WallClock clock_;
  std::int64_t now_{0};
  std::uint32_t frames_since_clock_{0};
  std::vector<Partition> partitions_;
  EngineStats stats_;
  FrameForwarder* forwarder_{nullptr};
};

}  // namespace uniqd::processor
