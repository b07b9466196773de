#include "processor/metrics.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "config/loader.h"

namespace uniqd::processor {
namespace {

void line(std::string& out, const char* name, const std::string& labels, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += ' ';
  out += buf;
  out += '\n';
}

void head(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void histogram(std::string& o, const char* name, const char* help, const LatencyHistogram& h) {
  head(o, name, "histogram", help);
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    cumulative += h.counts[i];
    char le[32];
    std::snprintf(le, sizeof le, "%g", kLatencyBuckets[i]);
    line(o, bucket.c_str(), std::string("le=\"") + le + "\"", static_cast<double>(cumulative));
  }
  line(o, bucket.c_str(), "le=\"+Inf\"", static_cast<double>(h.count));
  line(o, (std::string(name) + "_sum").c_str(), "", h.sum);
  line(o, (std::string(name) + "_count").c_str(), "", static_cast<double>(h.count));
}

}  // namespace

void LatencyHistogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < kLatencyBuckets.size() && seconds > kLatencyBuckets[i]) ++i;
  ++counts[i];
  sum += seconds;
  if (seconds > max) max = seconds;
  ++count;
}

std::string render_prometheus(const MetricsSnapshot& s) {
  std::string o;
  const EngineStats& st = s.stats;
  head(o, "uniqd_frames_total", "counter", "Frames consumed, by outcome (rejected ones by reason).");
  line(o, "uniqd_frames_total", "result=\"accepted\"", static_cast<double>(st.accepted));
  line(o, "uniqd_frames_total", "result=\"blank\"", static_cast<double>(st.blank));
  for (int i = 0; i < kRejectReasonCount; ++i) {
    line(o, "uniqd_frames_total",
         "result=\"rejected\",reason=\"" + std::string(reject_reason_name(static_cast<RejectReason>(i))) + "\"",
         static_cast<double>(st.rejected[static_cast<std::size_t>(i)]));
  }
  head(o, "uniqd_frames_counted_partially_total", "counter",
       "Accepted frames too late for some of their windows but counted in others.");
  line(o, "uniqd_frames_counted_partially_total", "", static_cast<double>(st.counted_partially));
  head(o, "uniqd_consumed_bytes_total", "counter", "Bytes of frames consumed.");
  line(o, "uniqd_consumed_bytes_total", "", static_cast<double>(st.bytes));
  head(o, "uniqd_results_total", "counter", "Results emitted, by window and finality.");
  for (Granularity g : kAllGranularities) {
    for (int f = 0; f < 2; ++f) {
      line(o, "uniqd_results_total",
           "window=\"" + std::string(granularity_name(g)) + "\",final=\"" + (f ? "true" : "false") + "\"",
           static_cast<double>(st.results_by_window[static_cast<std::size_t>(g)][static_cast<std::size_t>(f)]));
    }
  }
  if (s.watermark_ms != kNoWatermark && s.watermark_ms < INT64_MAX / 2) {
    head(o, "uniqd_watermark_seconds", "gauge", "Event-time watermark of the task (unix seconds).");
    line(o, "uniqd_watermark_seconds", "", static_cast<double>(s.watermark_ms) / 1000.0);
    head(o, "uniqd_event_time_lag_seconds", "gauge", "Wall clock minus the watermark.");
    line(o, "uniqd_event_time_lag_seconds", "", s.wall_now - static_cast<double>(s.watermark_ms) / 1000.0);
  }
  head(o, "uniqd_partition_time_seconds", "gauge", "Event time reached per input partition (unix seconds).");
  for (const auto& [p, t] : s.partition_time) {
    line(o, "uniqd_partition_time_seconds", "partition=\"" + std::to_string(p) + "\"", static_cast<double>(t));
  }
  if (!s.consumer_lag.empty()) {
    head(o, "uniqd_consumer_lag_messages", "gauge", "Messages behind the end of each input partition.");
    for (const auto& [p, lag] : s.consumer_lag) {
      line(o, "uniqd_consumer_lag_messages", "partition=\"" + std::to_string(p) + "\"", static_cast<double>(lag));
    }
  }
  histogram(o, "uniqd_commit_latency_seconds", "Time to flush results and commit offsets.", s.commits);
  histogram(o, "uniqd_result_publish_latency_seconds",
            "From a result's emission (watermark past the window's end) to the broker's acknowledgement.",
            s.result_publish);
  head(o, "uniqd_open_windows", "gauge", "Windows held in memory (open or retained).");
  line(o, "uniqd_open_windows", "", static_cast<double>(s.open_windows));
  head(o, "uniqd_state_pairs", "gauge", "(window, uid) pairs held in memory.");
  line(o, "uniqd_state_pairs", "", static_cast<double>(s.open_pairs));
  head(o, "uniqd_state_bytes", "gauge", "Bytes of uid sets held in memory.");
  line(o, "uniqd_state_bytes", "", static_cast<double>(s.state_bytes));
  if (s.has_state) {
    head(o, "uniqd_restore_pairs_total", "counter", "(window, uid) pairs restored from RocksDB and the changelog.");
    line(o, "uniqd_restore_pairs_total", "", static_cast<double>(s.restored_pairs));
    head(o, "uniqd_restore_changelog_records_total", "counter", "Changelog records replayed by restores.");
    line(o, "uniqd_restore_changelog_records_total", "", static_cast<double>(s.restored_records));
    head(o, "uniqd_restore_seconds", "gauge", "Duration of the last restore (so far, while one runs).");
    line(o, "uniqd_restore_seconds", "", s.restore_seconds);
    head(o, "uniqd_state_disk_bytes", "gauge", "Bytes RocksDB holds in SST files and memtables.");
    line(o, "uniqd_state_disk_bytes", "", static_cast<double>(s.state_disk_bytes));
    head(o, "uniqd_transactions_total", "counter", "Kafka transactions, by outcome.");
    line(o, "uniqd_transactions_total", "outcome=\"committed\"", static_cast<double>(s.transactions_committed));
    line(o, "uniqd_transactions_total", "outcome=\"aborted\"", static_cast<double>(s.transactions_aborted));
  }
  if (s.has_tasks) {
    head(o, "uniqd_tasks", "gauge", "Tasks this replica runs, by kind (ingest: input partitions; count: shards; sum).");
    line(o, "uniqd_tasks", "kind=\"ingest\"", static_cast<double>(s.tasks_ingest));
    line(o, "uniqd_tasks", "kind=\"count\"", static_cast<double>(s.tasks_count));
    line(o, "uniqd_tasks", "kind=\"sum\"", static_cast<double>(s.tasks_sum));
    head(o, "uniqd_sum_waiting_windows", "gauge",
         "Windows this replica's sum tasks hold until every shard passed their end.");
    line(o, "uniqd_sum_waiting_windows", "", static_cast<double>(s.sum_waiting));
    head(o, "uniqd_internal_bytes_total", "counter",
         "Bytes written to the repartition, partials and changelog topics.");
    line(o, "uniqd_internal_bytes_total", "", static_cast<double>(s.internal_bytes));
    head(o, "uniqd_internal_lag_messages", "gauge",
         "Messages of the repartition and partials partitions this replica reads, not read yet.");
    line(o, "uniqd_internal_lag_messages", "", static_cast<double>(s.internal_lag));
  }
  head(o, "uniqd_ready", "gauge", "1 when assigned and restored, ready to process.");
  line(o, "uniqd_ready", "", s.ready ? 1 : 0);
  return o;
}

MetricsSnapshot snapshot_of(const EngineStats& stats, const Engine& reader,
                            const std::vector<CountingFigures>& counting) {
  MetricsSnapshot s;
  s.stats = stats;
  s.partition_time = reader.partition_times();
  for (std::size_t i = 0; i < counting.size(); ++i) {
    const CountingFigures& c = counting[i];
    s.watermark_ms = i == 0 ? c.watermark_ms : std::min(s.watermark_ms, c.watermark_ms);
    s.open_windows += c.open_windows;
    s.open_pairs += c.pairs;
    s.state_bytes += c.memory_bytes;
    s.state_disk_bytes += c.disk_bytes;
  }
  s.wall_now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  return s;
}

MetricsSnapshot snapshot_of(const Engine& engine, const state::WindowStore& store) {
  return snapshot_of(engine.stats(), engine,
                     {CountingFigures{engine.watermark_ms(), engine.counter().open_windows(), store.pairs(),
                                      store.memory_bytes(), 0}});
}

struct MetricsServer::Impl {
  httplib::Server server;
};

MetricsServer::MetricsServer(const std::string& address) : impl_(std::make_unique<Impl>()) {
  // The loader's reading, so that what it accepted binds exactly that port.
  const auto parsed = config::parse_host_port(address);
  if (!parsed) throw std::runtime_error("metrics_address: '" + address + "' " + std::string(config::kHostPortForm));
  const std::string& host = parsed->host;
  const int port = parsed->port;
  impl_->server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::string body;
    {
      std::lock_guard lock(mu_);
      body = render_prometheus(latest_);
    }
    res.set_content(body, "text/plain; version=0.0.4");
  });
  impl_->server.Get("/healthz",
                    [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  impl_->server.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    bool ready;
    {
      std::lock_guard lock(mu_);
      ready = latest_.ready;
    }
    res.status = ready ? 200 : 503;
    res.set_content(ready ? "ready\n" : "not ready\n", "text/plain");
  });
  if (port == 0) {
    port_ = impl_->server.bind_to_any_port(host);
    if (port_ < 0) throw std::runtime_error("metrics_address: cannot listen on " + address);
  } else {
    if (!impl_->server.bind_to_port(host, port)) {
      throw std::runtime_error("metrics_address: cannot listen on " + address + " (in use, or not a local address)");
    }
    port_ = port;
  }
  thread_ = std::thread([this] {
    impl_->server.listen_after_bind();
    listen_returned_ = true;
  });
}

MetricsServer::~MetricsServer() {
  // httplib's stop() does nothing until listening has begun, and listening
  // that begins after it never ends: a run that stops right after start
  // (a write error, an empty input) would hang here. Wait for it first.
  for (int i = 0; i < 10000 && !impl_->server.is_running() && !listen_returned_; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->server.stop();
  if (thread_.joinable()) thread_.join();
}

void MetricsServer::publish(MetricsSnapshot s) {
  std::lock_guard lock(mu_);
  latest_ = std::move(s);
}

}  // namespace uniqd::processor
