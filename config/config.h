// The effective configuration of one uniqd process: plain structs with
// documented defaults. Defaults make every field optional; the YAML loader
// (config/loader.h) and the command line only override them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace uniqd::config {

using Seconds = std::chrono::seconds;
using Millis = std::chrono::milliseconds;

enum class LatePolicy { drop, update };
enum class TsUnit { s, ms };
enum class InputKind { stdin_, file, kafka };
enum class Guarantee { exactly_once, at_least_once };
enum class LogFormat { text, json };
enum class InputPartitioning { none, uid };

// Bounds of the integer settings, shared by the YAML loader and the flags so
// that neither accepts what the other refuses.
inline constexpr int kMinConfirm = 1;
// More confirming frames than this only delays every jump for nothing.
inline constexpr int kMaxConfirm = 1000;
inline constexpr int kMinParseThreads = -1;
// Each parse thread holds buffers of max_frame_bytes; thousands exhaust
// memory long before they could add speed.
inline constexpr int kMaxParseThreads = 64;

// Event-time rules (docs/SEMANTICS.md).
struct EngineOptions {
  // Granularities to count, by name: minute hour day week month year.
  // Default: all six.
  std::vector<std::string> windows{"minute", "hour", "day", "week", "month", "year"};
  // How far behind the partition time the watermark trails. Default: 5s.
  Millis lateness{5000};
  // What to do with a frame whose window is already final. Default: drop.
  LatePolicy late_policy{LatePolicy::drop};
  // How long a final window is kept for late updates (late_policy update).
  // Default: 1h.
  Millis retention{3600 * 1000};
  // A ts further than this from its partition's time is a suspect. Default: 1h.
  Millis outlier_threshold{3600 * 1000};
  // Frames that confirm a suspect jump (or reject it). Default: 3.
  int outlier_confirm{3};
  // A step of the partition time larger than partition_time_step is taken
  // only when this many consecutive accepted frames make it (smaller steps
  // at once). 1: the partition time is the largest accepted ts. Default: 3.
  int partition_time_confirm{3};
  // Steps of the partition time up to this are taken at once. Default: 5s.
  Millis partition_time_step{5000};
  // ts beyond wall clock + this is rejected as future. Default: 1h.
  Millis max_future_skew{3600 * 1000};
  // Emit non-final updates of long windows each time a minute closes.
  // Default: true.
  bool early_results{true};
  // Unit of numeric ts values. Default: s.
  TsUnit ts_unit{TsUnit::s};
  // Frames longer than this are rejected as too_large. Default: 1 MiB.
  std::uint64_t max_frame_bytes{1 << 20};
  // A partition silent this long stops holding the watermark (Kafka). Default: 30s.
  Millis idle_timeout{30000};
};

struct KafkaOptions {
  // bootstrap.servers. Default: 127.0.0.1:9092.
  std::string brokers{"127.0.0.1:9092"};
  // Default: frames.
  std::string input_topic{"frames"};
  // Default: uniqd-results.
  std::string output_topic{"uniqd-results"};
  // Default: uniqd-dead-letter.
  std::string dead_letter_topic{"uniqd-dead-letter"};
  // Partitions for topics uniqd creates. Default: 4.
  int create_partitions{4};
  // Replication factor for topics uniqd creates. Default: 1.
  int replication_factor{1};
  // librdkafka properties for every connection uniqd makes (consumer,
  // producer, admin, changelog restore): security.protocol, sasl.*, ssl.*.
  // Default: none.
  std::map<std::string, std::string> client;
  // librdkafka properties passed through verbatim; they override client.
  // Default: none.
  std::map<std::string, std::string> consumer;
  std::map<std::string, std::string> producer;
};

// The durable state store: RocksDB plus the changelog topic.
struct StateStoreOptions {
  // Shards of the uid space: one count task, one partition of each internal
  // topic. Fixed for an application's life. Default: 4.
  int shards{4};
  // RocksDB's shared block cache. Default: 64MiB.
  std::uint64_t block_cache{64u << 20};
  // RocksDB memtables in total, charged to the block cache. Default: 64MiB.
  std::uint64_t write_buffer{64u << 20};
};

struct Config {
  // group.id, transactional.id prefix and changelog topic prefix.
  // Default: uniqd.
  std::string application_id{"uniqd"};
  // Default: stdin.
  InputKind input{InputKind::stdin_};
  // Path for input: file. Default: empty.
  std::string input_path;
  // Where rejected frames go in stdin/file mode (JSON lines); empty: nowhere
  // but the counters. Default: empty.
  std::string rejects_path;
  EngineOptions engine;
  KafkaOptions kafka;
  // RocksDB state directory (a shard's store lives in
  // <state_dir>/<application_id>/shard-N); one process per directory.
  // Default: /var/lib/uniqd.
  std::string state_dir{"/var/lib/uniqd"};
  StateStoreOptions state_store;
  // exactly_once: one Kafka transaction per commit and replica carries
  // results, dead letters, internal records, changelog and offsets.
  // at_least_once: the same records without a transaction, offsets committed
  // once everything they cover was acknowledged (docs/SCALE_OUT.md). Default:
  // exactly_once.
  Guarantee guarantee{Guarantee::exactly_once};
  // This replica's name within the application: its transactional.id is
  // <application_id>-<replica_id>, so a restarted replica fences (and aborts
  // the open transaction of) its previous self. Two live replicas must not
  // share one. Empty: the host name plus a hash of the state directory's
  // path (stable for a StatefulSet pod or a container restarted in place).
  // Default: empty.
  std::string replica_id;
  // uid: the input's producers key frames by uid, so input partition p
  // holds shard p's users and is counted where it is read, without the
  // repartition topic (needs state_store.shards = the input's partition
  // count). Default: none.
  InputPartitioning input_partitioned_by{InputPartitioning::none};
  // How often offsets and state are committed. Default: 1s.
  Millis commit_interval{1000};
  // host:port for /metrics, /healthz, /readyz; empty disables. Default: empty.
  std::string metrics_address;
  // trace debug info warn error critical off. Default: info.
  std::string log_level{"info"};
  // Default: text.
  LogFormat log_format{LogFormat::text};
  // Process up to the end offsets seen at start, emit all, exit. Default: false.
  bool until_end{false};
  // Show a progress line on a terminal. Default: true.
  bool progress{true};
  // Threads that parse frames (stdin/file and Kafka) while the main thread
  // reads and counts them; 0: one per core when there are two or more, else none; -1: none,
  // parse inline on the main thread. Results do not depend on it. Default: 0.
  int parse_threads{0};
  // How secret values (config::is_secret_property) were written when they
  // came from ${env:NAME} or ${file:/path}, by key path
  // ("kafka.client.sasl.password"): --print-config shows these, never the
  // value. Default: none.
  std::map<std::string, std::string> secret_references;
  // Where each librdkafka property was written ("uniqd.yaml:12:5"), by key
  // path ("kafka.consumer.fetch.max.bytes"), so that what librdkafka
  // refuses later names the line as the loader's own errors do. Not a
  // setting: never printed.
  std::map<std::string, std::string> property_origins;
};

}  // namespace uniqd::config
