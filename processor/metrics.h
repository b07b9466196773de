// What an operator watches: a snapshot of the task's figures, rendered in the
// Prometheus text format, and the HTTP endpoints /metrics, /healthz and
// /readyz. The processing thread publishes snapshots; the HTTP thread only
// reads the latest one, so the hot path takes no lock per frame.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "processor/engine.h"

namespace uniqd::processor {

// Latency buckets (seconds), Prometheus-style cumulative on render.
inline constexpr std::array<double, 11> kLatencyBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct LatencyHistogram {
  std::array<std::uint64_t, kLatencyBuckets.size() + 1> counts{};  // last: +Inf
  double sum{0};
  double max{0};
  std::uint64_t count{0};
  void observe(double seconds);
};

struct MetricsSnapshot {
  EngineStats stats;
  std::int64_t watermark_ms{kNoWatermark};
  std::vector<std::pair<std::int32_t, std::int64_t>> partition_time;  // unix seconds
  std::map<std::int32_t, std::int64_t> consumer_lag;                  // messages, Kafka only
  LatencyHistogram commits;
  // From a result's emission (the watermark passed its window's end) to the
  // broker's acknowledgement: when a consumer can read it. Kafka only.
  LatencyHistogram result_publish;
  std::size_t open_windows{0};
  std::uint64_t open_pairs{0};
  std::size_t state_bytes{0};
  bool ready{false};
  double wall_now{0};  // unix seconds, for the event-time lag
  // Durable state (exactly_once only; has_state false otherwise).
  bool has_state{false};
  std::uint64_t restored_pairs{0};    // pairs restored so far (RocksDB + changelog)
  std::uint64_t restored_records{0};  // changelog records replayed
  double restore_seconds{0};          // time the last restore took (so far, while restoring)
  std::uint64_t state_disk_bytes{0};
  std::uint64_t transactions_committed{0};
  std::uint64_t transactions_aborted{0};
  // Kafka scale-out (docs/SCALE_OUT.md): this replica's tasks by kind, the
  // windows its sum tasks hold for a shard's watermark, bytes written to the
  // internal topics.
  bool has_tasks{false};
  std::size_t tasks_ingest{0};
  std::size_t tasks_count{0};
  std::size_t tasks_sum{0};
  std::uint64_t sum_waiting{0};
  std::uint64_t internal_bytes{0};
  // Messages of the repartition and partials partitions this replica reads
  // that it has not read yet.
  std::int64_t internal_lag{0};
};

std::string render_prometheus(const MetricsSnapshot& s);
// What one counting engine holds (file mode has one, a Kafka replica one per
// count task).
struct CountingFigures {
  std::int64_t watermark_ms{kNoWatermark};
  std::size_t open_windows{0};
  std::uint64_t pairs{0};
  std::size_t memory_bytes{0};
  std::uint64_t disk_bytes{0};
};

// The engine's figures now, made in one place for both modes: the counts of
// `stats`, the partition times of the engine that reads the input, and the
// counting engines' state (the watermark is the slowest one's; none: no
// watermark). ready and the Kafka-only fields are left for the caller.
MetricsSnapshot snapshot_of(const EngineStats& stats, const Engine& reader,
                            const std::vector<CountingFigures>& counting);
// File mode's one engine and its store.
MetricsSnapshot snapshot_of(const Engine& engine, const state::WindowStore& store);

class MetricsServer {
 public:
  // Binds host:port; throws std::runtime_error naming the address when it
  // cannot (bad form, port in use).
  explicit MetricsServer(const std::string& address);
  ~MetricsServer();
  void publish(MetricsSnapshot s);
  int port() const { return port_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_{0};
  std::mutex mu_;
  MetricsSnapshot latest_;
  std::atomic<bool> listen_returned_{false};
  std::thread thread_;
};

}  // namespace uniqd::processor
