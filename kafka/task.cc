#include "kafka/task.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "kafka/client.h"
#include "processor/application.h"
#include "processor/logging.h"
#include "processor/metrics.h"
#include "processor/parallel_parser.h"
#include "processor/result_json.h"
#include "state/key_codec.h"
#include "state/memory_store.h"
#include "state/rocksdb_store.h"

namespace uniqd::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

volatile std::sig_atomic_t g_stop = 0;

spdlog::logger& klog() {
  static auto l = processor::component_logger("kafka");
  return *l;
}
extern "C" void on_stop(int) { g_stop = 1; }

// Results, rejects and (exactly_once) changelog records go out through one
// producer: idempotent, and transactional with exactly_once so that one
// transaction per commit carries all of them with the consumed offsets. A
// delivery that finally fails stops at-least-once commits (what it covers
// was not emitted); in a transaction it makes the commit fail and abort.
class Publisher final : public processor::ResultSink, public processor::RejectSink, public RdKafka::DeliveryReportCb {
 public:
  Publisher(const config::Config& c, const std::string& input_topic, const std::string& transactional_id)
      : c_(c), input_topic_(input_topic), changelog_topic_(changelog_topic_name(c)) {
    Properties defaults{{"bootstrap.servers", c.kafka.brokers},
                        {"enable.idempotence", "true"},
                        {"acks", "all"},
                        {"linger.ms", "5"},
                        {"compression.type", "lz4"},
                        {"client.id", c.application_id + "-publisher"}};
    if (!transactional_id.empty()) {
      transactional_ = true;
      defaults["transactional.id"] = transactional_id;
      // A broker restart must fit in a transaction; the default (60 s) does.
      defaults["transaction.timeout.ms"] = "60000";
    }
    auto conf = make_conf(defaults, c.kafka.producer, "kafka.producer");
    std::string err;
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), err) != RdKafka::Conf::CONF_OK) {
      throw KafkaError("dr_cb: " + err);
    }
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer_) throw KafkaError("producer: " + err);
  }

  static std::string changelog_topic_name(const config::Config& c) { return c.application_id + "-changelog"; }

  // Looks up the topics it writes to, so that the first records go out as
  // they are produced: a producer learns a new topic's leaders lazily, and
  // meanwhile (measured: 1.2 s) holds its records, which the first commit
  // then waits for (about 150 ms of a 490 ms commit). Best effort.
  void learn_topics(bool with_changelog) {
    std::vector<std::string> names{c_.kafka.output_topic, c_.kafka.dead_letter_topic};
    if (with_changelog) names.push_back(changelog_topic_);
    // security: moved to kafka/client.cc, where a missing WRITE ACL ends uniqd before anything is written.
    kafka::learn_topics(*producer_, names, milliseconds(5000));
  }

  void emit(const processor::WindowResult& r) override {
    value_.clear();
    processor::append_result_json(value_, r);
    const std::string key = processor::result_key(r);
    // The emission time rides in the message's opaque pointer to dr_cb.
    const auto now = Clock::now().time_since_epoch().count();
    produce(c_.kafka.output_topic, RdKafka::Topic::PARTITION_UA, key, &value_, nullptr,
            reinterpret_cast<void*>(static_cast<std::intptr_t>(now)));
  }

  void reject(processor::RejectReason reason, std::string_view bytes, const processor::SourcePosition& pos,
              std::uint64_t full_size) override {
    RdKafka::Headers* h = RdKafka::Headers::create();
    h->add("uniqd.reason", std::string(processor::reject_reason_name(reason)));
    h->add("uniqd.topic", input_topic_);
    h->add("uniqd.partition", std::to_string(pos.partition));
    h->add("uniqd.offset", std::to_string(pos.offset));
    if (full_size > bytes.size()) {
      h->add("uniqd.truncated", "true");
      h->add("uniqd.bytes", std::to_string(full_size));
    }
    produce(c_.kafka.dead_letter_topic, RdKafka::Topic::PARTITION_UA, {}, &bytes, h);
  }

  // A changelog record; value nullptr is a tombstone.
  void changelog(std::int32_t partition, std::string_view key, const std::string_view* value) {
    produce(changelog_topic_, partition, key, value, nullptr);
  }

  void dr_cb(RdKafka::Message& m) override {
    if (m.err() != RdKafka::ERR_NO_ERROR) {
      ++failed_;
      // security: a refused WRITE ends uniqd (kafka/client.h).
      if (report_if_denied(m.err(), Access{m.topic_name(), "WRITE", "", "", "IDEMPOTENT_WRITE"})) return;
      klog().error("delivery to {} failed: {}", m.topic_name(), m.errstr());
    } else if (m.msg_opaque() != nullptr) {
      const auto sent = static_cast<Clock::rep>(reinterpret_cast<std::intptr_t>(m.msg_opaque()));
      if (transactional_) {
        // Readable by a read_committed consumer only once the transaction
        // commits: observed then (committed()).
        in_transaction_.push_back(sent);
      } else {
        publish_latency_.observe(
            std::chrono::duration<double>(Clock::now().time_since_epoch() - Clock::duration(sent)).count());
      }
    } else if (m.topic_name() == changelog_topic_) {
      std::int64_t& next = changelog_next_[m.partition()];
      next = std::max(next, m.offset() + 1);
    }
  }
  const processor::LatencyHistogram& publish_latency() const { return publish_latency_; }
  // Per changelog partition, the offset after the last record acknowledged.
  const std::map<std::int32_t, std::int64_t>& changelog_next() const { return changelog_next_; }

  // Waits until everything produced so far is acknowledged. False when
  // something failed or did not make it within the bound.
  bool flush(milliseconds bound) {
    producer_->flush(static_cast<int>(bound.count()));
    return producer_->outq_len() == 0 && failed_ == 0;
  }
  void poll() { producer_->poll(0); }
  std::uint64_t failed() const { return failed_; }
  RdKafka::Producer& producer() { return *producer_; }
  // After an abort: what failed belonged to the aborted transaction.
  void forget_failures() {
    failed_ = 0;
    uncommitted_ = 0;
    in_transaction_.clear();
  }
  // The transaction committed: its results became readable now.
  void committed() {
    const auto now = Clock::now().time_since_epoch();
    for (const Clock::rep sent : in_transaction_) {
      publish_latency_.observe(std::chrono::duration<double>(now - Clock::duration(sent)).count());
    }
    in_transaction_.clear();
    uncommitted_ = 0;
  }
  // Records produced since the last commit (or abort).
  std::uint64_t uncommitted() const { return uncommitted_; }

 private:
  void produce(const std::string& topic, std::int32_t partition, std::string_view key, const std::string_view* value,
               RdKafka::Headers* headers, void* opaque = nullptr) {
    while (true) {
      const RdKafka::ErrorCode e = producer_->produce(
          topic, partition, RdKafka::Producer::RK_MSG_COPY,
          value != nullptr ? const_cast<char*>(value->data()) : nullptr, value != nullptr ? value->size() : 0,
          key.empty() ? nullptr : key.data(), key.size(), 0, headers, opaque);
      if (e == RdKafka::ERR_NO_ERROR) {
        ++uncommitted_;
        return;
      }
      if (e == RdKafka::ERR__QUEUE_FULL) {
        producer_->poll(50);  // back-pressure: let deliveries drain
        continue;
      }
      delete headers;
      ++failed_;
      klog().error("produce to {} failed: {}", topic, RdKafka::err2str(e));
      return;
    }
  }
  void produce(const std::string& topic, std::int32_t partition, std::string_view key, const std::string* value,
               RdKafka::Headers* headers, void* opaque = nullptr) {
    const std::string_view v(*value);
    produce(topic, partition, key, &v, headers, opaque);
  }

  const config::Config& c_;
  std::string input_topic_;
  std::string changelog_topic_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::string value_;
  std::uint64_t failed_{0};
  processor::LatencyHistogram publish_latency_;
  std::map<std::int32_t, std::int64_t> changelog_next_;
  bool transactional_{false};
  std::vector<Clock::rep> in_transaction_;  // emission times of results acknowledged, not yet committed
  std::uint64_t uncommitted_{0};
};

struct PartitionState {
  std::int64_t next{-1};       // offset after the last message processed; -1 none yet
  std::int64_t end{-1};        // --until-end: the high watermark at assignment
  bool done{false};            // --until-end: reached end
  Clock::time_point last_message{Clock::now()};
};

// Offsets are committed with the C API: the C++ API of librdkafka 2.0 cannot
// carry commit metadata, and the metadata is what a restart needs
// ("wm=<watermark ms>;next=<offset processed up to>").
std::string commit_metadata(std::int64_t wm, std::int64_t next) {
  return "wm=" + std::to_string(wm) + ";next=" + std::to_string(next);
}

bool parse_metadata(std::string_view md, std::int64_t& wm, std::int64_t& next) {
  auto field = [&](std::string_view name, std::int64_t& out) {
    const auto at = md.find(name);
    if (at == std::string_view::npos) return false;
    const char* b = md.data() + at + name.size();
    auto [p, ec] = std::from_chars(b, md.data() + md.size(), out);
    return ec == std::errc();
  };
  return field("wm=", wm) && field("next=", next);
}

// An RdKafka::Error* owned, for the transaction calls.
using ErrorPtr = std::unique_ptr<RdKafka::Error>;

class Task final : public RdKafka::RebalanceCb {
 public:
  Task(const config::Config& c, processor::MetricsServer* metrics)
      : c_(c), eos_(c.guarantee == config::Guarantee::exactly_once), opts_(make_opts(c)),
        publisher_(make_publisher(c, eos_)), metrics_(metrics) {
    if (eos_) {
      state::RocksDbOptions so;
      so.path = (std::filesystem::path(c.state_dir) / c.application_id).string();
      so.shards = c.state_store.shards;
      so.block_cache_bytes = c.state_store.block_cache;
      so.write_buffer_bytes = c.state_store.write_buffer;
      std::error_code ec;
      std::filesystem::create_directories(so.path, ec);
      if (ec) throw std::runtime_error("state_dir: cannot create " + so.path + ": " + ec.message());
      // Opening replays RocksDB's write-ahead log after a crash: part of the
      // restore, timed with it.
      const auto t0 = Clock::now();
      const state::Status s = state::RocksDbStore::open(so, &durable_);
      if (!s.ok()) throw std::runtime_error("state_dir: " + s.ToString());
      open_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
      store_ = durable_.get();
    } else {
      store_ = &memory_;
    }
    engine_ = std::make_unique<processor::Engine>(opts_, *store_, *publisher_, *publisher_);
    auto conf = make_conf({{"bootstrap.servers", c.kafka.brokers},
                           {"group.id", c.application_id},
                           {"client.id", c.application_id + "-consumer"},
                           {"partition.assignment.strategy", "cooperative-sticky"},
                           {"enable.auto.commit", "false"},
                           {"enable.auto.offset.store", "false"},
                           {"auto.offset.reset", "earliest"},
                           {"isolation.level", "read_committed"},
                           {"enable.partition.eof", "true"},
                           {"fetch.max.bytes", "67108864"},
                           {"max.partition.fetch.bytes", "8388608"},
                           {"queued.max.messages.kbytes", "262144"}},
                          c.kafka.consumer, "kafka.consumer");
    std::string err;
    if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this), err) != RdKafka::Conf::CONF_OK) {
      throw KafkaError("rebalance_cb: " + err);
    }
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!consumer_) throw KafkaError("consumer: " + err);
    padded_.resize(opts_.max_frame_bytes + processor::kFramePadding + 1);
    if (const int threads = processor::parse_threads(c); threads > 0) {
      parallel_ = std::make_unique<processor::ParallelParser>(threads, opts_.max_frame_bytes, opts_.ts_unit);
    }
  }

  int run() {
    const auto start = Clock::now();
    if (eos_) {
      // Fences an older instance of this application and aborts its open
      // transaction, so the changelog read next is final.
      if (!init_transactions()) return g_stop != 0 ? 0 : 1;
      const int rc = restore();
      if (rc != 0 || g_stop != 0) return rc;
      if (!begin_transaction()) return 1;
    } else {
      publisher_->learn_topics(false);
    }
    restored_ = true;
    const RdKafka::ErrorCode e = consumer_->subscribe({c_.kafka.input_topic});
    if (e != RdKafka::ERR_NO_ERROR) {
      klog().error("subscribe to {}: {}", c_.kafka.input_topic, RdKafka::err2str(e));
      return 1;
    }
    klog().info("consuming {} as group {} from {} ({})", c_.kafka.input_topic, c_.application_id, c_.kafka.brokers,
                eos_ ? "exactly_once" : "at_least_once");
    auto last_commit = Clock::now();
    auto last_idle_check = Clock::now();
    int status = 0;
    bool finished = false;
    while (g_stop == 0 && !fatal_) {
      // With frames out to the parse threads, only look for more: an empty
      // queue hands them to the engine at once (live data waits for no batch).
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(parallel_ && parallel_->holds_lines() ? 0 : 100));
      handle(*m);
      publisher_->poll();
      const auto now = Clock::now();
      if (now - last_idle_check >= milliseconds(100)) {
        last_idle_check = now;
        apply_parsed();
        mark_idle(now);
        publish_metrics();
      }
      if (c_.until_end && assigned_once_ && all_done()) {
        if (!eos_ && publisher_->failed() > 0) break;
        apply_parsed();
        engine_->finish();
        if (commit(true)) {
          finished = true;
          break;
        }
        if (!eos_) {
          status = 1;
          break;
        }
        // exactly_once: the transaction was aborted and everything rewound
        // to the last commit; read the rest again.
        continue;
      }
      if (now - last_commit >= c_.commit_interval) {
        if (!commit(false) && !eos_) status = 1;
        last_commit = now;
        if (!eos_ && publisher_->failed() > 0) break;
      }
    }
    // security: after a fatal failure (kafka/client.h) a last commit cannot succeed.
    if (fatal_ || fatal_failure()) {
      status = 1;
    } else if (!finished && !commit(false)) {
      status = 1;
    }
    if (!eos_ && publisher_->failed() > 0) status = 1;
    publish_metrics();
    consumer_->close();
    const processor::LatencyHistogram& lat = publisher_->publish_latency();
    if (lat.count > 0) {
      klog().info("results readable on {} {:.1f} ms on average after the watermark passed their end (max {:.1f} ms, {} results){}",
                  c_.kafka.output_topic, lat.sum / static_cast<double>(lat.count) * 1000, lat.max * 1000, lat.count,
                  eos_ ? "; readable means committed (read_committed consumers)" : "");
    }
    if (eos_) klog().info("transactions: {} committed, {} aborted", txn_committed_, txn_aborted_);
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    klog().info("{}", processor::summary_line(engine_->stats(), secs, engine_->counter().peak_pairs(),
                                                engine_->counter().peak_bytes()));
    return status;
  }

  ~Task() override {
    // Named order, timed: closing flushes the producer and the state store.
    const auto t0 = Clock::now();
    parallel_.reset();
    consumer_.reset();
    const auto t1 = Clock::now();
    engine_.reset();
    publisher_.reset();
    const auto t2 = Clock::now();
    durable_.reset();
    const auto ms = [](Clock::time_point x, Clock::time_point y) {
      return std::chrono::duration<double, std::milli>(y - x).count();
    };
    klog().debug("closed: consumer {:.1f} ms, producer {:.1f} ms, state store {:.1f} ms", ms(t0, t1), ms(t1, t2),
                 ms(t2, Clock::now()));
  }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    // What was read before the rebalance counts before it, as when parsing inline.
    apply_parsed();
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      // exactly_once: the committed offsets are exactly where the restored
      // state stands; at_least_once re-reads from a safe offset and skips
      // what was emitted before.
      if (!eos_) resume_from_commits(parts);
      for (RdKafka::TopicPartition* tp : parts) {
        PartitionState& ps = partitions_[tp->partition()];
        ps = PartitionState{};
        if (c_.until_end) {
          std::int64_t low = 0, high = 0;
          if (consumer->query_watermark_offsets(tp->topic(), tp->partition(), &low, &high, 10000) ==
              RdKafka::ERR_NO_ERROR) {
            ps.end = high;
          }
        }
        engine_->assign_partition(tp->partition());
        klog().info("assigned {}[{}]", tp->topic(), tp->partition());
      }
      assigned_once_ = true;
      consumer->incremental_assign(parts);
    } else {
      // Revoked: commit what is safe for these partitions before letting go.
      // Lost (the session expired, another member may own them already): a
      // commit would be refused; exactly_once goes back to its last commit.
      const bool lost = consumer->assignment_lost();
      if (!lost) commit(false);
      for (RdKafka::TopicPartition* tp : parts) {
        engine_->revoke_partition(tp->partition());
        partitions_.erase(tp->partition());
        klog().info("{} {}[{}]", lost ? "lost" : "revoked", tp->topic(), tp->partition());
      }
      consumer->incremental_unassign(parts);
      if (lost && eos_) {
        klog().warn("partitions lost: aborting the open transaction and rewinding to the last commit");
        rewind();
      }
    }
  }

 private:
  static std::unique_ptr<Publisher> make_publisher(const config::Config& c, bool eos) {
    return std::make_unique<Publisher>(c, c.kafka.input_topic, eos ? c.application_id + "-task" : "");
  }

  static processor::EngineOptions make_opts(const config::Config& c) {
    processor::EngineOptions o = processor::make_engine_options(c);
    o.partitions = 0;  // partitions come with assignments
    return o;
  }

  void handle(RdKafka::Message& m) {
    switch (m.err()) {
      case RdKafka::ERR_NO_ERROR: {
        PartitionState& ps = partitions_[m.partition()];
        if (ps.next < 0 && eos_) check_resume_offset(m.partition(), m.offset());
        ps.last_message = Clock::now();
        ps.next = m.offset() + 1;
        const processor::SourcePosition pos{m.partition(), m.offset()};
        const std::size_t len = m.len();
        const char* bytes = static_cast<const char*>(m.payload());
        if (bytes == nullptr || std::all_of(bytes, bytes + len, [](char ch) {
              return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
            })) {
          // A tombstone or a blank value: the Kafka twin of a blank line.
          engine_->note_blank();
        } else if (len > opts_.max_frame_bytes) {
          const std::string_view prefix(bytes, std::min<std::size_t>(len, 1024));
          if (parallel_) {
            parallel_->add_too_large(prefix, len, pos, apply_);
          } else {
            engine_->process_too_large(prefix, len, pos);
          }
        } else if (parallel_) {
          // Parsed on the parse threads, counted here in the same order.
          parallel_->add_line(bytes, len, pos, apply_);
        } else {
          // Kafka's buffers are not padded for simdjson: copy (2 KB, cheap
          // next to parsing it).
          if (len > 0) std::memcpy(padded_.data(), m.payload(), len);
          engine_->process(padded_.data(), len, pos);
        }
        break;
      }
      case RdKafka::ERR__PARTITION_EOF: {
        apply_parsed();
        auto it = partitions_.find(m.partition());
        if (it != partitions_.end() && c_.until_end && m.offset() >= it->second.end) {
          if (!it->second.done) klog().info("partition {} reached its end offset {}", m.partition(), m.offset());
          it->second.done = true;
          engine_->set_partition_idle(m.partition(), true);
        }
        break;
      }
      case RdKafka::ERR__TIMED_OUT:
        apply_parsed();
        break;
      case RdKafka::ERR__FATAL:
        // E.g. a static member fenced by a newer one with the same
        // group.instance.id: this consumer cannot go on.
        klog().error("consumer: {}", m.errstr());
        fatal_ = true;
        break;
      default:
        // security: a refused READ (topic or group) ends uniqd (kafka/client.h).
        if (report_if_denied(m.err(), Access{m.topic_name().empty() ? c_.kafka.input_topic : m.topic_name(), "READ",
                                             c_.application_id, "", "IDEMPOTENT_WRITE"})) {
          fatal_ = true;
          break;
        }
        klog().warn("consumer: {}", m.errstr());
    }
  }

  // Hands every frame out to the parse threads to the engine, in read order.
  // Called before anything that depends on what the engine has counted
  // (commits, idleness, partition ends, rebalances), so that the results do
  // not depend on parsing in parallel. Nothing is out after a commit, so a
  // rewind never has frames of the aborted transaction in flight.
  void apply_parsed() {
    if (parallel_) parallel_->finish(apply_);
  }

  void publish_metrics() {
    if (metrics_ == nullptr) return;
    processor::MetricsSnapshot s = processor::snapshot_of(*engine_, *store_);
    s.ready = assigned_once_ && restored_;
    s.commits = commits_;
    s.result_publish = publisher_->publish_latency();
    for (const auto& [p, ps] : partitions_) {
      std::int64_t low = 0, high = 0;
      if (ps.next >= 0 &&
          consumer_->get_watermark_offsets(c_.kafka.input_topic, p, &low, &high) == RdKafka::ERR_NO_ERROR &&
          high >= 0) {
        s.consumer_lag[p] = std::max<std::int64_t>(0, high - ps.next);
      }
    }
    fill_state_metrics(s);
    metrics_->publish(std::move(s));
  }

  // The first message read from a partition shows where the group resumed.
  // The state store never runs ahead of the group's committed offsets, so an
  // earlier offset than its checkpoint's means the offsets were moved back
  // (a reset, or a deleted group starting from the earliest): what lies in
  // between was counted already and is counted again.
  void check_resume_offset(std::int32_t partition, std::int64_t offset) {
    const auto it = checkpoint_input_.find(partition);
    if (it == checkpoint_input_.end() || offset >= it->second) return;
    klog().warn(
        "{}[{}]: reading from offset {}, but the state store already counts this partition's input up to offset "
        "{}: the {} messages in between are processed again (in windows still open their frames are counted "
        "twice, unique users do not change; for closed windows they are late). Was the consumer group's offset "
        "reset? To reprocess from scratch, stop uniqd, delete the topic {}-changelog and the state directory, "
        "then start it.",
        c_.kafka.input_topic, partition, offset, it->second, it->second - offset, c_.application_id);
    checkpoint_input_.erase(it);
  }

  void fill_state_metrics(processor::MetricsSnapshot& s) const {
    if (!eos_) return;
    s.has_state = true;
    s.restored_pairs = restored_pairs_;
    s.restored_records = restored_records_;
    s.restore_seconds = restore_seconds_;
    s.state_disk_bytes = durable_->disk_bytes();
    s.transactions_committed = txn_committed_;
    s.transactions_aborted = txn_aborted_;
  }

  void mark_idle(Clock::time_point now) {
    for (auto& [p, ps] : partitions_) {
      if (now - ps.last_message >= c_.engine.idle_timeout) engine_->set_partition_idle(p, true);
    }
  }

  bool all_done() const {
    // No partition assigned (between a loss and the next assignment) is not
    // the end of the input.
    if (partitions_.empty()) return false;
    for (const auto& [p, ps] : partitions_) {
      if (!ps.done && !(ps.end >= 0 && ps.next >= ps.end)) return false;
    }
    return true;
  }

  void resume_from_commits(std::vector<RdKafka::TopicPartition*>& parts) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()));
    for (RdKafka::TopicPartition* tp : parts) rd_kafka_topic_partition_list_add(list, tp->topic().c_str(), tp->partition());
    if (rd_kafka_committed(consumer_->c_ptr(), list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < list->cnt; ++i) {
        const rd_kafka_topic_partition_t& tp = list->elems[i];
        std::int64_t wm = 0, next = 0;
        if (tp.offset >= 0 && tp.metadata != nullptr &&
            parse_metadata(std::string_view(static_cast<const char*>(tp.metadata), tp.metadata_size), wm, next)) {
          engine_->resume_partition(tp.partition, next, wm);
          klog().info("partition {}: resuming at offset {} (processed up to {}, watermark {})", tp.partition,
                       tp.offset, next, wm);
        }
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
  }

  // True when the commit went through. exactly_once: false when the
  // transaction was aborted (state and positions then went back to the last
  // commit) or failed fatally (fatal_ says which).
  bool commit(bool everything_emitted) {
    // Offsets and snapshots cover what the engine has seen, so it sees
    // everything read first.
    apply_parsed();
    // exactly_once: nothing read, produced or changed since the last commit
    // needs no transaction (an idle application would otherwise commit an
    // empty one, with a snapshot record, every commit_interval).
    if (eos_ && nothing_to_commit()) return true;
    const auto started = Clock::now();
    struct Observe {
      processor::LatencyHistogram& h;
      Clock::time_point t0;
      ~Observe() { h.observe(std::chrono::duration<double>(Clock::now() - t0).count()); }
    } observe{commits_, started};
    return eos_ ? commit_transaction() : commit_offsets(everything_emitted);
  }

  // at_least_once: commits, per partition, the offset a restart must re-read
  // from. Only after the producer acknowledged every result and reject
  // produced so far.
  bool commit_offsets(bool everything_emitted) {
    if (!publisher_->flush(milliseconds(60000))) {
      klog().error("not committing offsets: {} deliveries failed or pending", publisher_->failed());
      return false;
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(partitions_.size()));
    std::vector<std::string> metadata;
    metadata.reserve(partitions_.size());
    for (const auto& [p, ps] : partitions_) {
      if (ps.next < 0) continue;
      const std::int64_t offset = everything_emitted ? ps.next : engine_->safe_offset(p, ps.next);
      rd_kafka_topic_partition_t* tp = rd_kafka_topic_partition_list_add(list, c_.kafka.input_topic.c_str(), p);
      tp->offset = offset;
      metadata.push_back(commit_metadata(engine_->watermark_ms(), ps.next));
      tp->metadata = metadata.back().data();
      tp->metadata_size = metadata.back().size();
    }
    bool ok = true;
    if (list->cnt > 0) {
      const rd_kafka_resp_err_t e = rd_kafka_commit(consumer_->c_ptr(), list, 0);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        klog().warn("offset commit failed (will retry next interval): {}", rd_kafka_err2str(e));
        ok = e == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION;
      }
    }
    // librdkafka must not free our strings.
    for (int i = 0; i < list->cnt; ++i) {
      list->elems[i].metadata = nullptr;
      list->elems[i].metadata_size = 0;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return ok;
  }

  // ---- exactly_once ----

  bool nothing_to_commit() const {
    if (publisher_->uncommitted() > 0 || durable_->has_changes()) return false;
    for (const auto& [p, ps] : partitions_) {
      if (ps.next < 0) continue;
      const auto it = committed_next_.find(p);
      if (it == committed_next_.end() || it->second != ps.next) return false;
    }
    return true;
  }

  // Retries what is retriable with backoff until it succeeds or stop is
  // asked; a fatal error (fenced by a newer instance) ends the task.
  bool init_transactions() {
    auto backoff = milliseconds(500);
    while (g_stop == 0) {
      ErrorPtr err(publisher_->producer().init_transactions(30000));
      if (!err) {
        publisher_->learn_topics(true);
        return true;
      }
      // security: a refused transactional id ends uniqd (kafka/client.h).
      if (report_if_denied(err->code(), Access{"", "WRITE", c_.application_id, c_.application_id + "-task",
                                               "IDEMPOTENT_WRITE"})) {
        return false;
      }
      if (err->is_fatal()) {
        klog().error("init_transactions: {}", err->str());
        return false;
      }
      klog().warn("init_transactions: {} (retrying in {} ms)", err->str(), backoff.count());
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, milliseconds(10000));
    }
    return false;
  }

  bool begin_transaction() {
    ErrorPtr err(publisher_->producer().begin_transaction());
    if (!err) return true;
    klog().error("begin_transaction: {}", err->str());
    fatal_ = true;
    return false;
  }

  // One transaction per commit: the results and dead letters produced since
  // the last one are in it already; add the changelog records of the new
  // pairs and expired windows, the engine snapshot, and the consumed
  // offsets. Only once it committed, write the same to RocksDB: the local
  // store never runs ahead of Kafka, and a crash between the two is made
  // good by replaying the changelog from the store's checkpoint.
  bool commit_transaction() {
    const auto t0 = Clock::now();
    state::Changes changes = durable_->take_changes();
    std::size_t pair_bytes = 0;
    for (const state::PairBatch& b : changes.batches) pair_bytes += b.hashes.size();
    // Tombstones first: a window erased and reopened since the last commit
    // numbers its new batches from 0 again, and the later record must win.
    for (const state::ErasedWindow& e : changes.erased) {
      for (std::size_t shard = 0; shard < e.batches.size(); ++shard) {
        for (std::uint32_t seq = 0; seq < e.batches[shard]; ++seq) {
          publisher_->changelog(static_cast<std::int32_t>(shard),
                               state::changelog_batch_key(static_cast<int>(shard), e.window, seq), nullptr);
        }
      }
    }
    for (const state::PairBatch& b : changes.batches) {
      const std::string_view value(b.hashes);
      publisher_->changelog(b.shard, state::changelog_batch_key(b.shard, b.window, b.seq), &value);
    }
    std::string snapshot = engine_->snapshot();
    const std::string_view snap(snapshot);
    publisher_->changelog(0, kSnapshotKey, &snap);

    std::vector<RdKafka::TopicPartition*> offsets;
    for (const auto& [p, ps] : partitions_) {
      if (ps.next >= 0) offsets.push_back(RdKafka::TopicPartition::create(c_.kafka.input_topic, p, ps.next));
    }
    const auto t1 = Clock::now();
    const bool ok = send_and_commit(offsets);
    RdKafka::TopicPartition::destroy(offsets);
    if (!ok) return false;
    const auto t2 = Clock::now();
    ++txn_committed_;
    committed_stats_ = engine_->stats();
    for (const auto& [p, ps] : partitions_) {
      if (ps.next >= 0) committed_next_[p] = ps.next;
    }
    publisher_->poll();
    publisher_->committed();
    // Partitions this process has not written to keep the offset they were
    // restored to.
    for (const auto& [p, next] : publisher_->changelog_next()) changelog_next_[p] = next;
    const state::Status s =
        durable_->write(changes, state::Checkpoint{std::move(snapshot), changelog_next_, committed_next_});
    checkpoint_input_ = committed_next_;
    const auto ms = [](Clock::time_point a, Clock::time_point b) {
      return std::chrono::duration<double, std::milli>(b - a).count();
    };
    klog().debug("transaction {}: {} new pairs, {} windows expired; changelog {:.1f} ms, commit {:.1f} ms, state store {:.1f} ms",
                 txn_committed_, pair_bytes / 16, changes.erased.size(), ms(t0, t1), ms(t1, t2), ms(t2, Clock::now()));
    if (!s.ok()) {
      // Kafka holds the commit; the next start replays it from the changelog.
      klog().error("state store write failed after a committed transaction: {}", s.ToString());
      fatal_ = true;
      return false;
    }
    return begin_transaction();
  }

  // Sends the offsets and commits; on an abortable error, aborts and rewinds
  // to the last commit. False when the transaction did not commit.
  bool send_and_commit(const std::vector<RdKafka::TopicPartition*>& offsets) {
    RdKafka::Producer& producer = publisher_->producer();
    ErrorPtr err;
    if (!offsets.empty()) {
      std::unique_ptr<RdKafka::ConsumerGroupMetadata> group(consumer_->groupMetadata());
      for (int attempt = 0;; ++attempt) {
        err.reset(producer.send_offsets_to_transaction(offsets, group.get(), 30000));
        if (!err || !err->is_retriable() || attempt >= 20 || g_stop != 0) break;
        klog().warn("send_offsets_to_transaction: {} (retrying)", err->str());
        std::this_thread::sleep_for(milliseconds(500));
      }
    }
    if (!err) {
      for (int attempt = 0;; ++attempt) {
        err.reset(producer.commit_transaction(60000));
        if (!err || !err->is_retriable() || attempt >= 20 || g_stop != 0) break;
        klog().warn("commit_transaction: {} (retrying)", err->str());
        std::this_thread::sleep_for(milliseconds(500));
      }
    }
    if (!err) return true;
    // security: a refused group, topic or transactional id ends uniqd (kafka/client.h).
    if (fatal_failure() || report_if_denied(err->code(), Access{"", "WRITE", c_.application_id,
                                                                 c_.application_id + "-task", "IDEMPOTENT_WRITE"})) {
      fatal_ = true;
      return false;
    }
    std::string why;
    const RdKafka::ErrorCode producer_fatal = producer.fatal_error(why);
    if (fenced(err->code()) || fenced(producer_fatal)) {
      // A newer instance of this application owns the transactional id:
      // this one must stop, not fight it.
      klog().error("fenced: another instance of {} took over ({})", c_.application_id, err->str());
      fatal_ = true;
      return false;
    }
    if (err->is_fatal() || producer_fatal != RdKafka::ERR_NO_ERROR) {
      // Fatal for this producer only (e.g. a sequence number rewound by a
      // broker restart): a new producer with the same transactional id
      // aborts what the old one left open; then go back to the last commit.
      klog().warn("producer failed fatally: {}; replacing it and rewinding to the last commit",
                  producer_fatal != RdKafka::ERR_NO_ERROR ? why : err->str());
      replace_producer();
      return false;
    }
    klog().warn("transaction failed: {}; aborting and rewinding to the last commit", err->str());
    rewind();
    return false;
  }

  static bool fenced(RdKafka::ErrorCode e) {
    return e == RdKafka::ERR__FENCED || e == RdKafka::ERR_PRODUCER_FENCED || e == RdKafka::ERR_INVALID_PRODUCER_EPOCH;
  }

  void replace_producer() {
    engine_.reset();  // it holds the publisher as its sinks
    publisher_.reset();
    publisher_ = make_publisher(c_, eos_);
    if (!init_transactions()) {
      fatal_ = true;
      return;
    }
    ++txn_aborted_;
    reload_and_seek();
  }

  // Aborts the open transaction and puts everything back as of the last
  // commit: state from RocksDB (which holds exactly the last committed
  // transaction), input positions from the committed offsets.
  void rewind() {
    ErrorPtr err(publisher_->producer().abort_transaction(60000));
    if (err) {
      if (fenced(err->code())) {
        klog().error("abort_transaction: {}", err->str());
        fatal_ = true;
        return;
      }
      // Whatever state the producer is in, a new one with the same
      // transactional id aborts the transaction for it.
      klog().warn("abort_transaction: {}; replacing the producer", err->str());
      replace_producer();
      return;
    }
    ++txn_aborted_;
    publisher_->forget_failures();
    reload_and_seek();
  }

  // State from RocksDB (exactly the last committed transaction), positions
  // from the committed offsets, and a new transaction.
  void reload_and_seek() {
    engine_.reset();
    std::optional<state::Checkpoint> checkpoint;
    const state::Status s = durable_->load(&checkpoint);
    if (!s.ok()) {
      klog().error("state store reload after abort: {}", s.ToString());
      fatal_ = true;
      return;
    }
    engine_ = std::make_unique<processor::Engine>(opts_, *store_, *publisher_, *publisher_);
    engine_->carry_stats(committed_stats_);
    if (checkpoint && !checkpoint->snapshot.empty() && !engine_->restore(checkpoint->snapshot)) {
      klog().error("state store: the checkpoint's engine snapshot does not read back");
      fatal_ = true;
      return;
    }
    checkpoint_input_ = checkpoint ? checkpoint->input_next : std::map<std::int32_t, std::int64_t>{};
    std::vector<RdKafka::TopicPartition*> parts;
    for (const auto& [p, ps] : partitions_) {
      parts.push_back(RdKafka::TopicPartition::create(c_.kafka.input_topic, p));
      engine_->assign_partition(p);
    }
    if (!parts.empty() && consumer_->committed(parts, 10000) == RdKafka::ERR_NO_ERROR) {
      for (RdKafka::TopicPartition* tp : parts) {
        if (tp->offset() < 0) tp->set_offset(RdKafka::Topic::OFFSET_BEGINNING);
        const RdKafka::ErrorCode e = consumer_->seek(*tp, 10000);
        if (e != RdKafka::ERR_NO_ERROR) klog().warn("seek {}[{}]: {}", tp->topic(), tp->partition(), RdKafka::err2str(e));
        PartitionState& ps = partitions_[tp->partition()];
        const std::int64_t end = ps.end;
        ps = PartitionState{};
        ps.end = end;
      }
    } else if (!parts.empty()) {
      klog().error("cannot read the committed offsets to rewind to");
      fatal_ = true;
    }
    RdKafka::TopicPartition::destroy(parts);
    if (!fatal_) begin_transaction();
  }

  // Loads the shard state from RocksDB, then replays the changelog from the
  // store's checkpoint to its end (all of it when the state directory was
  // empty), then restores the engine from the latest snapshot. Input is
  // consumed only after this.
  int restore() {
    const auto t0 = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(open_seconds_));
    std::optional<state::Checkpoint> checkpoint;
    state::Status s = durable_->load(&checkpoint);
    if (!s.ok()) {
      klog().warn("state store unreadable ({}); rebuilding it from the changelog", s.ToString());
      s = durable_->wipe();
      if (!s.ok()) {
        klog().error("state store: {}", s.ToString());
        return 2;
      }
      checkpoint.reset();
    }
    const std::uint64_t from_db = durable_->pairs();
    std::string snapshot = checkpoint ? checkpoint->snapshot : std::string();
    std::map<std::int32_t, std::int64_t> next = checkpoint ? checkpoint->changelog_next
                                                           : std::map<std::int32_t, std::int64_t>{};
    const std::string topic = Publisher::changelog_topic_name(c_);

    auto conf = make_conf({{"bootstrap.servers", c_.kafka.brokers},
                           {"group.id", c_.application_id + "-restore"},
                           {"client.id", c_.application_id + "-restore"},
                           {"enable.auto.commit", "false"},
                           {"isolation.level", "read_committed"},
                           {"enable.partition.eof", "true"},
                           // A checkpointed offset gone from the topic: replay all of it.
                           {"auto.offset.reset", "earliest"},
                           // The end of a partition is known when a fetch comes back
                           // empty: don't let the broker hold it (default 500 ms).
                           {"fetch.wait.max.ms", "10"},
                           {"fetch.max.bytes", "67108864"},
                           {"max.partition.fetch.bytes", "16777216"}},
                          {}, "restore consumer");
    std::string err;
    std::unique_ptr<RdKafka::KafkaConsumer> reader(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!reader) throw KafkaError("restore consumer: " + err);
    const int partitions = partition_count(*reader, topic, milliseconds(10000));
    if (partitions != c_.state_store.shards) {
      klog().error("changelog topic {} has {} partitions but state_store.shards is {}; they must be equal", topic,
                   partitions, c_.state_store.shards);
      return 2;
    }
    std::vector<RdKafka::TopicPartition*> assignment;
    for (int p = 0; p < partitions; ++p) {
      auto it = next.find(p);
      assignment.push_back(RdKafka::TopicPartition::create(
          topic, p, it != next.end() ? it->second : RdKafka::Topic::OFFSET_BEGINNING));
    }
    reader->assign(assignment);
    RdKafka::TopicPartition::destroy(assignment);
    int at_end = 0;
    std::vector<bool> ended(static_cast<std::size_t>(partitions), false);
    std::uint64_t records = 0;
    auto last_log = Clock::now();
    while (at_end < partitions && g_stop == 0) {
      std::unique_ptr<RdKafka::Message> m(reader->consume(100));
      if (m->err() == RdKafka::ERR__PARTITION_EOF) {
        next[m->partition()] = m->offset();
        if (!ended[static_cast<std::size_t>(m->partition())]) {
          ended[static_cast<std::size_t>(m->partition())] = true;
          ++at_end;
        }
        continue;
      }
      if (m->err() == RdKafka::ERR__TIMED_OUT) continue;
      if (m->err() != RdKafka::ERR_NO_ERROR) {
        // security: a refused READ of the changelog ends uniqd (kafka/client.h).
        if (report_if_denied(m->err(), Access{topic, "READ", c_.application_id + "-restore", "", "IDEMPOTENT_WRITE"})) {
          return 1;
        }
        klog().warn("restore: {}", m->errstr());
        continue;
      }
      ++records;
      next[m->partition()] = m->offset() + 1;
      const std::string_view key(m->key_pointer() != nullptr ? static_cast<const char*>(m->key_pointer()) : "",
                                 m->key_pointer() != nullptr ? m->key_len() : 0);
      const std::string_view value(static_cast<const char*>(m->payload()), m->len());
      if (key == kSnapshotKey) {
        if (m->payload() != nullptr) snapshot.assign(value);
      } else {
        const state::Status a = durable_->apply_changelog(key, m->payload() != nullptr ? &value : nullptr);
        if (!a.ok()) {
          klog().error("changelog {}[{}] offset {}: {}", topic, m->partition(), m->offset(), a.ToString());
          return 2;
        }
      }
      if (Clock::now() - last_log >= std::chrono::seconds(2)) {
        last_log = Clock::now();
        restored_records_ = records;
        restored_pairs_ = durable_->pairs();
        restore_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
        klog().info("restoring: {} changelog records, {} pairs so far", records, durable_->pairs());
        publish_metrics();
      }
    }
    reader->close();
    if (g_stop != 0) return 0;
    // The store's input offsets hold only when the changelog had nothing newer.
    checkpoint_input_ = checkpoint && records == 0 ? checkpoint->input_next : std::map<std::int32_t, std::int64_t>{};
    if (checkpoint && !checkpoint_input_.empty()) {
      std::string text;
      for (const auto& [p, next] : checkpoint_input_) text += fmt::format("{}{}:{}", text.empty() ? "" : " ", p, next);
      klog().info("state store checkpoint: input offsets {} (partition:next)", text);
    }
    if (records > 0) {
      s = durable_->write_all(state::Checkpoint{snapshot, next});
      if (!s.ok()) {
        klog().error("state store: {}", s.ToString());
        return 2;
      }
    }
    if (!snapshot.empty() && !engine_->restore(snapshot)) {
      klog().error("changelog {}: the latest engine snapshot does not read back", topic);
      return 2;
    }
    changelog_next_ = next;
    restored_records_ = records;
    restored_pairs_ = durable_->pairs();
    restore_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
    klog().info(
        "restored {} pairs ({} from RocksDB, {} changelog records replayed) in {:.2f} s ({:.0f} pairs/s; opening "
        "RocksDB {:.2f} s of it)",
                durable_->pairs(), from_db, records, restore_seconds_,
                static_cast<double>(durable_->pairs()) / std::max(restore_seconds_, 1e-6), open_seconds_);
    return 0;
  }

  static constexpr std::string_view kSnapshotKey = "S";

  const config::Config& c_;
  const bool eos_;
  processor::EngineOptions opts_;
  state::MemoryStore memory_;
  std::unique_ptr<state::RocksDbStore> durable_;
  state::WindowStore* store_{nullptr};
  std::unique_ptr<Publisher> publisher_;
  std::unique_ptr<processor::Engine> engine_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::map<std::int32_t, PartitionState> partitions_;
  std::vector<char> padded_;
  std::unique_ptr<processor::ParallelParser> parallel_;
  // engine_ is replaced by rewinds: looked up at each call.
  const processor::ParallelParser::Apply apply_ = [this](const processor::ParsedLine& l) {
    if (l.too_large) {
      engine_->process_too_large(l.bytes, l.full_size, l.pos);
    } else {
      engine_->process_parsed(l.why, l.frame, l.bytes, l.pos);
    }
  };
  bool assigned_once_{false};
  bool restored_{false};
  bool fatal_{false};
  processor::MetricsServer* metrics_;
  processor::LatencyHistogram commits_;
  std::uint64_t restored_pairs_{0};
  std::uint64_t restored_records_{0};
  double restore_seconds_{0};
  std::uint64_t txn_committed_{0};
  std::uint64_t txn_aborted_{0};
  double open_seconds_{0};
  // The engine's figures as of the last commit, for the engine a rewind builds.
  processor::EngineStats committed_stats_;
  // Per input partition, the offset the last transaction committed.
  std::map<std::int32_t, std::int64_t> committed_next_;
  // Per input partition, where the input counted in the state store ends
  // (its checkpoint); empty when unknown (restored from the changelog).
  std::map<std::int32_t, std::int64_t> checkpoint_input_;
  // Per changelog partition, where RocksDB's checkpoint says to replay from.
  std::map<std::int32_t, std::int64_t> changelog_next_;
};

void ensure_topics_with_retry(const config::Config& c) {
  std::vector<TopicSpec> topics{
      {c.kafka.input_topic, c.kafka.create_partitions, c.kafka.replication_factor, {}},
      {c.kafka.output_topic, c.kafka.create_partitions, c.kafka.replication_factor, {{"cleanup.policy", "compact"}}},
      {c.kafka.dead_letter_topic, c.kafka.create_partitions, c.kafka.replication_factor, {}},
  };
  if (c.guarantee == config::Guarantee::exactly_once) {
    // One partition per shard; compacted, so it keeps the latest of each
    // batch key and snapshot and drops expired windows' tombstoned batches.
    topics.push_back({Publisher::changelog_topic_name(c), c.state_store.shards, c.kafka.replication_factor,
                   {{"cleanup.policy", "compact"}}});
  }
  auto backoff = milliseconds(500);
  while (g_stop == 0) {
    try {
      ensure_topics(c.kafka.brokers, topics, milliseconds(10000));
      return;
    } catch (const AuthorizationError&) {
      throw;  // security: reported already; retrying cannot help
    } catch (const KafkaError& e) {
      klog().warn("{} (retrying in {} ms)", e.what(), backoff.count());
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, milliseconds(10000));
    }
  }
}

}  // namespace

int run_task(const config::Config& c) {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // security: the kafka.client block, redaction, and a stop on fatal failures (kafka/client.h).
  prepare_clients(c, [] { g_stop = 1; });
  try {
    std::unique_ptr<processor::MetricsServer> metrics;
    if (!c.metrics_address.empty()) {
      metrics = std::make_unique<processor::MetricsServer>(c.metrics_address);
      klog().info("metrics on http://{}:{}/metrics", c.metrics_address.substr(0, c.metrics_address.rfind(':')),
                  metrics->port());
    }
    ensure_topics_with_retry(c);
    if (g_stop != 0) return fatal_failure() ? 1 : 0;  // security
    Task task(c, metrics.get());
    const int rc = task.run();
    return fatal_failure() ? 1 : rc;  // security
  } catch (const AuthorizationError&) {
    return 1;  // security: reported (logged) already
  } catch (const KafkaError& e) {
    klog().error("{}", e.what());
    return 2;
  } catch (const std::runtime_error& e) {
    klog().error("{}", e.what());
    return 2;
  }
}

}  // namespace uniqd::kafka
