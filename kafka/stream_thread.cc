#include "kafka/stream_thread.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "kafka/client.h"
#include "kafka/count_task.h"
#include "kafka/internal_records.h"
#include "kafka/state_restorer.h"
#include "processor/application.h"
#include "processor/logging.h"
#include "processor/frame_feed.h"
#include "processor/stop_signal.h"
#include "processor/snapshot_codec.h"
#include "processor/window_sum.h"
#include "processor/windows.h"
#include "state/key_codec.h"
#include "state/memory_store.h"
#include "state/rocksdb_store.h"

namespace uniqd::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

spdlog::logger& klog() {
  static auto l = processor::component_logger("kafka");
  return *l;
}

using ErrorPtr = std::unique_ptr<RdKafka::Error>;

// Changelog keys besides the pair batches (state/key_codec.h, 'B...').
constexpr std::string_view kCountSnapshotKey = "C";
constexpr std::string_view kIngestSnapshotKey = "I";
constexpr std::string_view kSumSnapshotKey = "U";

// A repartition batch is produced once it holds this much (else at commit).
constexpr std::size_t kBatchBytes = 512 * 1024;

enum class Kind { input, repartition, partials, other };

bool fenced(RdKafka::ErrorCode e) {
  return e == RdKafka::ERR__FENCED || e == RdKafka::ERR_PRODUCER_FENCED || e == RdKafka::ERR_INVALID_PRODUCER_EPOCH;
}

class StreamThread final : public RdKafka::RebalanceCb,
                           private processor::FrameForwarder,
                           private PartialsSink,
                           private processor::ResultSink,
                           private processor::RejectSink {
 public:
  StreamThread(const config::Config& c, const ReplicaSetup& setup, processor::MetricsServer* metrics)
      : c_(c),
        setup_(setup),
        t_(setup.topics),
        eos_(c.guarantee == config::Guarantee::exactly_once),
        keyed_(c.input_partitioned_by == config::InputPartitioning::uid),
        shards_(c.state_store.shards),
        inputs_n_(setup.input_partitions),
        opts_(make_opts(c)),
        metrics_(metrics) {
    min_granularity_ = *std::min_element(opts_.counter.granularities.begin(), opts_.counter.granularities.end());
    collector_ = make_collector();
    engine_ = make_engine();
    restorer_ = std::make_unique<StateRestorer>(c);
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
                           {"queued.max.messages.kbytes", "262144"},
                           // The internal topics' records become readable when
                           // their transaction commits: don't let an empty fetch
                           // wait long for them (librdkafka's default: 500 ms).
                           {"fetch.wait.max.ms", "100"}},
                          c.kafka.consumer, "kafka.consumer");
    std::string err;
    if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this), err) != RdKafka::Conf::CONF_OK) {
      throw KafkaError("rebalance_cb: " + err);
    }
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!consumer_) throw KafkaError("consumer: " + err);
    // engine_ is replaced by rewinds: the feed looks it up at each frame.
    feed_ = std::make_unique<processor::FrameFeed>([this]() -> processor::Engine& { return *engine_; },
                                                   processor::parse_threads(c), opts_.max_frame_bytes, opts_.ts_unit);
    repartition_out_.resize(static_cast<std::size_t>(shards_));
  }

  ~StreamThread() override {
    feed_.reset();
    consumer_.reset();
    engine_.reset();
    counts_.clear();
    collector_.reset();
  }

  int run() {
    const auto start = Clock::now();
    if (eos_) {
      if (!init_transactions()) return stopping() ? 0 : 1;
      if (!begin_transaction()) return 1;
    } else {
      try {
        collector_->learn_topics();
      } catch (const AuthorizationError&) {
        return 1;  // reported already
      }
    }
    std::vector<std::string> topics{t_.input, t_.partials};
    if (!keyed_) topics.push_back(t_.repartition);
    const RdKafka::ErrorCode e = consumer_->subscribe(topics);
    if (e != RdKafka::ERR_NO_ERROR) {
      klog().error("subscribe to {}: {}", t_.input, RdKafka::err2str(e));
      return 1;
    }
    klog().info("replica of {} consuming {} ({} partitions, {} shards{}) from {} ({}{})", c_.application_id, t_.input,
                inputs_n_, shards_, keyed_ ? ", input partitioned by uid" : "", c_.kafka.brokers,
                eos_ ? "exactly_once" : "at_least_once",
                eos_ ? ", transactional.id " + setup_.transactional_id : std::string());
    auto last_commit = Clock::now();
    auto last_check = Clock::now();
    empty_since_ = Clock::now();
    bool finished = false;
    while (!stopping() && !fatal_) {
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(feed_->holds_frames() ? 0 : 100));
      handle(*m);
      collector_->poll();
      const auto now = Clock::now();
      if (now - last_check >= milliseconds(100)) {
        last_check = now;
        apply_parsed();
        mark_idle(now);
        finish_ended_inputs();
        publish_metrics();
      }
      if (c_.until_end && all_done(now)) {
        finish_ended_inputs();
        if (commit()) {
          finished = true;
          break;
        }
        if (!eos_) {
          status_ = 1;
          break;
        }
        continue;  // aborted and rewound: read the rest again
      }
      // A task that reached its end (--until-end) commits at once: what it
      // produced last is what the next stage waits for.
      if (commit_now_ || now - last_commit >= c_.commit_interval) {
        commit_now_ = false;
        commit();
        last_commit = now;
      }
    }
    // After a fatal failure (a refused login or ACL, kafka/client.h) a last
    // commit cannot succeed.
    if (fatal_ || fatal_failure()) {
      status_ = 1;
    } else if (!finished && !commit()) {
      status_ = 1;
    }
    publish_metrics();
    closing_ = true;
    consumer_->close();
    const processor::LatencyHistogram& lat = collector_->publish_latency();
    if (lat.count > 0) {
      klog().info(
          "results readable on {} {:.1f} ms on average after the watermark passed their end (max {:.1f} ms, {} "
          "results){}",
          t_.output, lat.sum / static_cast<double>(lat.count) * 1000, lat.max * 1000, lat.count,
          eos_ ? "; readable means committed (read_committed consumers)" : "");
    }
    if (eos_) klog().info("transactions: {} committed, {} aborted", txn_committed_, txn_aborted_);
    klog().info("internal topics: {} bytes written ({:.3f} per input byte)", collector_->internal_bytes(),
                engine_->stats().bytes == 0
                    ? 0.0
                    : static_cast<double>(collector_->internal_bytes()) / static_cast<double>(engine_->stats().bytes));
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    klog().info("{}", processor::summary_line(replica_stats(), secs, peak_pairs(), peak_bytes()));
    return status_;
  }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    // What was read before the rebalance counts before it.
    apply_parsed();
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      // Nothing may be thrown through librdkafka's callback.
      try {
        // A stop that interrupts a restore is not a failure: those tasks
        // were not created, their offsets are not committed, and their next
        // owner restores them.
        if (!closing_ && !assign_tasks(parts) && !stopping()) fatal_ = true;
      } catch (const std::exception& e) {
        klog().error("assigning tasks: {}", e.what());
        fatal_ = true;
      }
      assigned_once_ = true;
      if (eager(consumer)) {
        check(consumer->assign(parts), "assign");
      } else {
        check(consumer->incremental_assign(parts), "incremental_assign");
      }
    } else {
      // Revoked: commit what the tasks did before letting them go. Lost (the
      // session expired, another member may own them already): a commit
      // would be refused; go back to the last commit instead.
      const bool lost = consumer->assignment_lost();
      if (!lost && !fatal_) commit();
      close_tasks(parts, lost);
      if (eager(consumer)) {
        check(consumer->unassign(), "unassign");
      } else {
        check(consumer->incremental_unassign(parts), "incremental_unassign");
      }
      if (lost && eos_ && !fatal_) {
        klog().warn("partitions lost: aborting the open transaction and rewinding to the last commit");
        rewind();
      }
    }
    if (assignment_size() == 0) empty_since_ = Clock::now();
  }

  // The default assignor (cooperative-sticky) rebalances incrementally; the
  // eager ones a user may choose in kafka.consumer (range, roundrobin) give
  // and take back the whole assignment each time. roundrobin deals every
  // topic's partitions in turn, so each replica gets its share of ingest,
  // count and sum tasks; cooperative-sticky balances only their total.
  static bool eager(RdKafka::KafkaConsumer* consumer) { return consumer->rebalance_protocol() == "EAGER"; }

 private:
  // ------------------------------------------------------------ set-up

  static processor::EngineOptions make_opts(const config::Config& c) {
    processor::EngineOptions o = processor::make_engine_options(c);
    o.partitions = 0;  // partitions come with assignments
    return o;
  }

  std::unique_ptr<RecordCollector> make_collector() {
    return std::make_unique<RecordCollector>(c_, t_, eos_ ? setup_.transactional_id : std::string());
  }

  std::unique_ptr<processor::Engine> make_engine() {
    auto e = std::make_unique<processor::Engine>(opts_, ingest_store_, results_sink(), rejects_sink());
    e->set_forwarder(this);
    return e;
  }

  static bool stopping() { return processor::stop_requested(); }
  processor::ResultSink& results_sink() { return *this; }
  processor::RejectSink& rejects_sink() { return *this; }
  PartialsSink& partials_sink() { return *this; }

  void check(RdKafka::Error* e, const char* what) {
    if (e == nullptr) return;
    ErrorPtr owned(e);
    klog().error("{}: {}", what, owned->str());
    fatal_ = true;
  }

  void check(RdKafka::ErrorCode e, const char* what) {
    if (e == RdKafka::ERR_NO_ERROR) return;
    klog().error("{}: {}", what, RdKafka::err2str(e));
    fatal_ = true;
  }

  std::size_t assignment_size() const { return inputs_.size() + counts_.size() + sums_.size(); }

  static Kind kind_of(RdKafka::Message& m, const TopicNames& t) {
    const char* name = rd_kafka_topic_name(static_cast<rd_kafka_message_t*>(m.c_ptr())->rkt);
    if (t.input == name) return Kind::input;
    if (t.repartition == name) return Kind::repartition;
    if (t.partials == name) return Kind::partials;
    return Kind::other;
  }

  // ------------------------------------------------------------ consuming

  void handle(RdKafka::Message& m) {
    switch (m.err()) {
      case RdKafka::ERR_NO_ERROR:
        switch (kind_of(m, t_)) {
          case Kind::input:
            ingest(m);
            break;
          case Kind::repartition:
            count(m);
            break;
          case Kind::partials:
            sum(m);
            break;
          case Kind::other:
            break;
        }
        break;
      case RdKafka::ERR__PARTITION_EOF: {
        if (kind_of(m, t_) != Kind::input) break;
        apply_parsed();
        auto it = inputs_.find(m.partition());
        if (it != inputs_.end() && c_.until_end && m.offset() >= it->second.end && !it->second.done) {
          klog().info("input partition {} reached its end offset {}", m.partition(), m.offset());
          it->second.done = true;
        }
        break;
      }
      case RdKafka::ERR__TIMED_OUT:
        apply_parsed();
        break;
      case RdKafka::ERR__FATAL:
        klog().error("consumer: {}", m.errstr());
        fatal_ = true;
        break;
      default:
        // A refused READ (topic or group) ends uniqd (kafka/client.h).
        if (report_if_denied(m.err(), Access{m.topic_name().empty() ? t_.input : m.topic_name(), "READ",
                                             c_.application_id, "", "IDEMPOTENT_WRITE"})) {
          fatal_ = true;
          break;
        }
        klog().warn("consumer: {}", m.errstr());
    }
  }

  void ingest(RdKafka::Message& m) {
    auto it = inputs_.find(m.partition());
    if (it == inputs_.end()) return;
    InputState& in = it->second;
    if (in.next < 0) check_resume_offset(m.partition(), in, m.offset());
    if (redelivered(m, in.next)) return;
    in.last_message = Clock::now();
    in.next = m.offset() + 1;
    in.dirty = true;
    const char* bytes = static_cast<const char*>(m.payload());
    feed_->add(bytes != nullptr ? std::string_view(bytes, m.len()) : std::string_view(),
               processor::SourcePosition{m.partition(), m.offset()});
  }

  // Hands every frame out to the parse threads to the engine, in read order,
  // before anything that depends on what the engine has seen.
  void apply_parsed() { feed_->apply_pending(); }

  void count(RdKafka::Message& m) {
    auto it = counts_.find(m.partition());
    if (it == counts_.end()) return;
    CountTask& task = *it->second.task;
    if (redelivered(m, it->second.next)) return;
    const bool was_ended = task.ended();
    it->second.next = m.offset() + 1;
    const std::string_view value(static_cast<const char*>(m.payload()), m.payload() != nullptr ? m.len() : 0);
    const bool ok = read_repartition(value, RepartitionVisitor{
                                                [&](const FrameEntry& f) { task.frame(f); },
                                                [&](const SourceMarker& mk) {
                                                  task.marker(mk.partition, mk);
                                                  // At once: the sum must see a window's
                                                  // final partial, then the watermark that
                                                  // closed it, then any late revision.
                                                  task.publish_watermark();
                                                },
                                            });
    if (!ok) corrupt(m);
    if (task.ended() && !was_ended) commit_now_ = true;
  }

  void sum(RdKafka::Message& m) {
    auto it = sums_.find(m.partition());
    if (it == sums_.end()) return;
    SumEntry& e = it->second;
    if (redelivered(m, e.next)) return;
    e.next = m.offset() + 1;
    e.dirty = true;
    const std::string_view value(static_cast<const char*>(m.payload()), m.payload() != nullptr ? m.len() : 0);
    const bool ok = read_partials(value, PartialsVisitor{
                                             [&](int shard, const processor::WindowResult& r) { e.sum->partial(shard, r); },
                                             [&](int shard, std::int64_t wm) { e.sum->shard_watermark(shard, wm); },
                                         });
    if (!ok) corrupt(m);
  }

  // A message behind the position this task reached: the consumer went back
  // on its own (an offset reset after broker trouble) while the task's state
  // already holds it. Counting it again would count twice (a sum task would
  // take an old partial count for a new one); the task's own rewinds reset
  // `next` first, so they never get here.
  bool redelivered(RdKafka::Message& m, std::int64_t next) {
    if (next < 0 || m.offset() >= next) return false;
    if (redelivered_++ % 10000 == 0) {
      klog().warn("{}[{}] offset {}: delivered again (this task is at offset {}): skipped ({} so far)",
                  m.topic_name(), m.partition(), m.offset(), next, redelivered_);
    }
    return true;
  }

  void corrupt(RdKafka::Message& m) {
    klog().error("{}[{}] offset {}: not a record of this uniqd version (an application_id shared with another "
                 "program, or a different version's internal topic: reset the application, see docs/SCALE_OUT.md)",
                 m.topic_name(), m.partition(), m.offset());
    fatal_ = true;
  }

  // ------------------------------------------------------------ ingest → count

  void forward(const processor::FrameRef& f) override {
    const int shard = keyed_ ? f.pos.partition : static_cast<int>(f.frame.uid.lo % static_cast<std::uint64_t>(shards_));
    FrameEntry e{f.pos, f.frame, may_be_late(f) ? f.bytes : std::string_view()};
    if (keyed_) {
      auto it = counts_.find(shard);
      if (it != counts_.end()) it->second.task->frame(e);
      return;
    }
    RepartitionWriter& w = repartition_out_[static_cast<std::size_t>(shard)];
    w.frame(e);
    if (w.size() >= kBatchBytes) send_repartition(shard);
  }

  // Whether the shard may find every window of this frame final: only when
  // its smallest window ended before its own partition's watermark, since a
  // shard's watermark is the slowest partition's. Such frames carry their
  // bytes, so that a late one reaches the dead letters whole.
  bool may_be_late(const processor::FrameRef& f) const {
    const auto it = inputs_.find(f.pos.partition);
    if (it == inputs_.end() || !it->second.reported_time) return true;
    const processor::Window w = processor::window_of(min_granularity_, f.frame.ts);
    return w.end * 1000 <= *it->second.reported_time * 1000 - opts_.lateness_ms;
  }

  void source_changed(std::int32_t p, std::optional<std::int64_t> time, bool idle, bool ended) override {
    auto it = inputs_.find(p);
    if (it != inputs_.end()) {
      it->second.reported_time = time;
      it->second.dirty = true;
    }
    const SourceMarker m{p, time, idle, ended};
    if (keyed_) {
      auto ct = counts_.find(p);
      if (ct != counts_.end()) {
        ct->second.task->marker(0, m);
        ct->second.task->publish_watermark();
      }
      return;
    }
    for (RepartitionWriter& w : repartition_out_) w.marker(m);
  }

  void send_repartition(int shard) {
    RepartitionWriter& w = repartition_out_[static_cast<std::size_t>(shard)];
    if (w.empty()) return;
    const std::string record = w.take();
    const std::string_view v(record);
    collector_->internal(t_.repartition, shard, {}, &v);
  }

  // ------------------------------------------------------------ count → sum

  PartialsWriter& partials_writer(int shard, int partition) {
    auto [it, created] = partials_out_.try_emplace({shard, partition}, shard);
    return it->second;
  }
  void partial(int shard, const processor::WindowResult& r) override {
    partials_writer(shard, partials_partition(r.granularity, r.start, shards_)).partial(r);
  }
  void shard_watermark(int shard, std::int64_t wm_ms) override {
    for (int k = 0; k < shards_; ++k) partials_writer(shard, k).watermark(wm_ms);
  }

  // ------------------------------------------------------------ outputs

  void emit(const processor::WindowResult& r) override {
    ++(r.final ? results_final_ : results_early_);
    ++results_by_window_[static_cast<std::size_t>(r.granularity)][r.final ? 1 : 0];
    collector_->emit(r);
  }
  void reject(processor::RejectReason reason, std::string_view bytes, const processor::SourcePosition& pos,
              std::uint64_t full_size) override {
    collector_->reject(reason, bytes, pos, full_size);
  }

  // ------------------------------------------------------------ tasks

  struct InputState {
    std::int64_t next{-1};
    std::int64_t end{-1};  // --until-end: the end offset at assignment
    bool done{false};      // --until-end: reached end
    bool finished{false};  // its end was reported downstream
    Clock::time_point last_message{Clock::now()};
    bool dirty{false};
    std::optional<std::int64_t> reported_time;
    std::string committed_snapshot;
    // Where the committed ingest state says this partition was counted up
    // to (-1: unknown); a first offset behind it means the group's offsets
    // were moved back.
    std::int64_t counted_until{-1};
  };

  // An ingest task's changelog value: the offset it processed up to, then
  // the engine's state of the partition.
  std::string ingest_snapshot(std::int32_t p, std::int64_t next) {
    processor::SnapshotWriter w;
    w.put<std::int64_t>(next);
    std::string out = w.take();
    out += engine_->partition_snapshot(p);
    return out;
  }
  bool restore_ingest(std::int32_t p, std::string_view snapshot, std::int64_t* next) {
    if (snapshot.size() < sizeof(std::int64_t)) return false;
    processor::SnapshotReader r(snapshot.substr(0, sizeof(std::int64_t)));
    if (next != nullptr) *next = r.get<std::int64_t>();
    return engine_->restore_partition(p, snapshot.substr(sizeof(std::int64_t)));
  }

  // The first message read from a partition shows where the group resumed.
  // The ingest state never runs ahead of the group's committed offsets, so an
  // earlier offset means the offsets were moved back (a reset, or a deleted
  // group starting from the earliest): what lies in between is counted again.
  void check_resume_offset(std::int32_t p, InputState& in, std::int64_t offset) {
    if (in.counted_until < 0 || offset >= in.counted_until) return;
    klog().warn(
        "{}[{}]: reading from offset {}, but the state store already counts this partition's input up to offset "
        "{}: the {} messages in between are processed again (in windows still open their frames are counted "
        "twice, unique users do not change; for closed windows they are late). Was the consumer group's offset "
        "reset? To reprocess from scratch, reset the application (scripts/reset-application, docs/SCALE_OUT.md).",
        t_.input, p, offset, in.counted_until, in.counted_until - offset);
    in.counted_until = -1;
  }
  struct CountEntry {
    std::unique_ptr<CountTask> task;
    std::int64_t next{-1};
  };
  struct SumEntry {
    std::unique_ptr<processor::WindowSum> sum;
    std::int64_t next{-1};
    bool dirty{false};
    std::string committed_snapshot;
  };

  std::unique_ptr<state::RocksDbStore> open_shard_store(int shard) {
    state::RocksDbOptions so;
    so.path = (std::filesystem::path(setup_.state_path) / ("shard-" + std::to_string(shard))).string();
    so.shards = 1;
    so.block_cache_bytes = std::max<std::uint64_t>(c_.state_store.block_cache / static_cast<unsigned>(shards_), 8u << 20);
    so.write_buffer_bytes = std::max<std::uint64_t>(c_.state_store.write_buffer / static_cast<unsigned>(shards_), 8u << 20);
    std::error_code ec;
    std::filesystem::create_directories(so.path, ec);
    if (ec) throw std::runtime_error("state_dir: cannot create " + so.path + ": " + ec.message());
    std::unique_ptr<state::RocksDbStore> store;
    const state::Status s = state::RocksDbStore::open(so, &store);
    if (!s.ok()) throw std::runtime_error("state_dir: " + s.ToString());
    return store;
  }

  std::unique_ptr<CountTask> make_count_task(int shard, std::unique_ptr<state::RocksDbStore> store) {
    return std::make_unique<CountTask>(shard, keyed_ ? 1 : inputs_n_, opts_, std::move(store), partials_sink(), rejects_sink());
  }

  // Restores every task of an assignment in one pass over their changelogs,
  // then creates them. False on a state that cannot be read back.
  bool assign_tasks(const std::vector<RdKafka::TopicPartition*>& parts) {
    const auto t0 = Clock::now();
    struct Pending {
      Kind kind;
      std::int32_t p;
      std::unique_ptr<state::RocksDbStore> store;
      std::string snapshot;
      std::uint64_t records{0};
      std::size_t request{0};
    };
    std::vector<Pending> pending;
    std::vector<RestorePartition> requests;
    std::uint64_t from_db = 0;
    auto add_count = [&](std::int32_t shard) {
      Pending pc{Kind::repartition, shard, open_shard_store(shard), {}, 0, requests.size()};
      std::optional<state::Checkpoint> checkpoint;
      state::Status s = pc.store->load(&checkpoint);
      if (!s.ok()) {
        klog().warn("shard {}: state store unreadable ({}); rebuilding it from the changelog", shard, s.ToString());
        s = pc.store->wipe();
        if (!s.ok()) throw std::runtime_error("state store: " + s.ToString());
        checkpoint.reset();
      }
      from_db += pc.store->pairs();
      std::int64_t from = RdKafka::Topic::OFFSET_BEGINNING;
      if (checkpoint) {
        pc.snapshot = checkpoint->snapshot;
        const auto it = checkpoint->changelog_next.find(shard);
        if (it != checkpoint->changelog_next.end()) from = it->second;
      }
      requests.push_back({t_.changelog, shard, from, 0});
      pending.push_back(std::move(pc));
    };
    for (const RdKafka::TopicPartition* tp : parts) {
      const std::int32_t p = tp->partition();
      if (tp->topic() == t_.input) {
        pending.push_back({Kind::input, p, nullptr, {}, 0, requests.size()});
        requests.push_back({t_.ingest_changelog, p, RdKafka::Topic::OFFSET_BEGINNING, 0});
        if (keyed_) add_count(p);
      } else if (tp->topic() == t_.repartition) {
        add_count(p);
      } else if (tp->topic() == t_.partials) {
        pending.push_back({Kind::partials, p, nullptr, {}, 0, requests.size()});
        requests.push_back({t_.sum_changelog, p, RdKafka::Topic::OFFSET_BEGINNING, 0});
      }
    }
    std::map<std::size_t, Pending*> by_request;
    for (Pending& pc : pending) by_request[pc.request] = &pc;
    std::string error;
    const bool ok = restorer_->restore(
        requests,
        [&](const ChangelogRecord& r) {
          Pending& pc = *by_request.at(r.index);
          ++pc.records;
          const std::string_view want = pc.kind == Kind::input         ? kIngestSnapshotKey
                                        : pc.kind == Kind::partials    ? kSumSnapshotKey
                                                                       : kCountSnapshotKey;
          if (r.key == want) {
            pc.snapshot = r.value != nullptr ? std::string(*r.value) : std::string();
            return true;
          }
          if (pc.kind != Kind::repartition) return true;
          return pc.store->apply_changelog(r.key, r.value).ok();
        },
        [this] { return stopping() || fatal_failure().has_value(); }, &error);
    if (!ok) {
      if (!stopping()) klog().error("restore: {}", error);
      return false;
    }
    std::uint64_t pairs = 0;
    std::uint64_t records = 0;
    for (const Pending& pc : pending) records += pc.kind == Kind::repartition ? pc.records : 0;
    std::string checkpoint_text;
    for (Pending& pc : pending) {
      const RestorePartition& req = requests[pc.request];
      if (pc.kind == Kind::input) {
        engine_->assign_partition(pc.p);
        std::int64_t counted_until = -1;
        if (!pc.snapshot.empty() && !restore_ingest(pc.p, pc.snapshot, &counted_until)) {
          klog().error("{}[{}]: the ingest state does not read back", t_.ingest_changelog, pc.p);
          return false;
        }
        InputState& in = inputs_[pc.p];
        in = InputState{};
        in.committed_snapshot = pc.snapshot;
        in.counted_until = counted_until;
        if (counted_until >= 0) {
          checkpoint_text += fmt::format("{}{}:{}", checkpoint_text.empty() ? "" : " ", pc.p, counted_until);
        }
        if (c_.until_end) {
          std::int64_t low = 0, high = 0;
          if (consumer_->query_watermark_offsets(t_.input, pc.p, &low, &high, 10000) == RdKafka::ERR_NO_ERROR) {
            in.end = high;
          }
        }
        klog().info("assigned {}[{}]: ingest task", t_.input, pc.p);
      } else if (pc.kind == Kind::repartition) {
        if (pc.records > 0) {
          const state::Status s = pc.store->write_all(state::Checkpoint{pc.snapshot, {{pc.p, req.next}}});
          if (!s.ok()) {
            klog().error("shard {}: state store: {}", pc.p, s.ToString());
            return false;
          }
        }
        changelog_next_[pc.p] = req.next;
        pairs += pc.store->pairs();
        auto task = make_count_task(pc.p, std::move(pc.store));
        if (!pc.snapshot.empty() && !task->restore(pc.snapshot)) {
          klog().error("{}[{}]: the count task's snapshot does not read back (was state_store.shards or the input "
                       "topic's partition count changed? see docs/SCALE_OUT.md, reset)",
                       t_.changelog, pc.p);
          return false;
        }
        klog().info("assigned shard {}: count task, {} pairs, {} changelog records replayed", pc.p,
                    task->store().pairs(), pc.records);
        counts_[pc.p] = CountEntry{std::move(task), -1};
      } else {
        auto s = std::make_unique<processor::WindowSum>(opts_.counter, shards_, results_sink());
        if (!pc.snapshot.empty() && !s->restore(pc.snapshot)) {
          klog().error("{}[{}]: the sum task's state does not read back", t_.sum_changelog, pc.p);
          return false;
        }
        klog().info("assigned {}[{}]: sum task, {} windows waiting", t_.partials, pc.p, s->waiting());
        sums_[pc.p] = SumEntry{std::move(s), -1, false, pc.snapshot};
      }
    }
    if (!checkpoint_text.empty()) {
      klog().info("state store checkpoint: input offsets {} (partition:next)", checkpoint_text);
    }
    restored_records_ = restorer_->records();
    restored_pairs_ += pairs;
    restore_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!pending.empty()) {
      klog().info("restored {} pairs ({} from RocksDB, {} changelog records replayed) in {:.2f} s ({:.0f} pairs/s; "
                  "{} tasks)",
                  pairs, from_db, records, restore_seconds_,
                  static_cast<double>(pairs) / std::max(restore_seconds_, 1e-6), pending.size());
    }
    return true;
  }

  void close_tasks(const std::vector<RdKafka::TopicPartition*>& parts, bool lost) {
    for (const RdKafka::TopicPartition* tp : parts) {
      const std::int32_t p = tp->partition();
      if (tp->topic() == t_.input) {
        engine_->revoke_partition(p);
        inputs_.erase(p);
        if (keyed_) counts_.erase(p);
        klog().info("{} {}[{}]: ingest task", lost ? "lost" : "revoked", t_.input, p);
      } else if (tp->topic() == t_.repartition) {
        counts_.erase(p);
        klog().info("{} shard {}: count task", lost ? "lost" : "revoked", p);
      } else if (tp->topic() == t_.partials) {
        sums_.erase(p);
        klog().info("{} {}[{}]: sum task", lost ? "lost" : "revoked", t_.partials, p);
      }
    }
  }

  void mark_idle(Clock::time_point now) {
    for (auto& [p, in] : inputs_) {
      if (!in.done && now - in.last_message >= c_.engine.idle_timeout) engine_->set_partition_idle(p, true);
    }
  }

  // --until-end: an input partition at its end resolves its suspects and
  // tells every shard it ended.
  void finish_ended_inputs() {
    for (auto& [p, in] : inputs_) {
      if (in.done && !in.finished) {
        apply_parsed();
        engine_->finish_partition(p);
        in.finished = true;
        in.dirty = true;
        commit_now_ = true;
      }
    }
  }

  // --until-end: this replica's tasks are all at their end. A replica given
  // nothing (more replicas than tasks) leaves after a while.
  bool all_done(Clock::time_point now) const {
    if (!assigned_once_) return false;
    if (assignment_size() == 0) return now - empty_since_ >= std::chrono::seconds(10);
    for (const auto& [p, in] : inputs_) {
      if (!in.finished) return false;
    }
    for (const auto& [s, e] : counts_) {
      if (!e.task->ended()) return false;
    }
    for (const auto& [k, e] : sums_) {
      if (!e.sum->done()) return false;
    }
    return true;
  }

  // ------------------------------------------------------------ commit

  bool nothing_to_commit() const {
    if (collector_->uncommitted() > 0) return false;
    for (const RepartitionWriter& w : repartition_out_) {
      if (!w.empty()) return false;
    }
    for (const auto& [key, w] : partials_out_) {
      if (!w.empty()) return false;
    }
    for (const auto& [p, in] : inputs_) {
      if (in.dirty) return false;
    }
    for (const auto& [s, e] : counts_) {
      if (e.task->dirty() || e.task->store().has_changes()) return false;
    }
    for (const auto& [k, e] : sums_) {
      if (e.dirty) return false;
    }
    return true;
  }

  struct CountCommit {
    int shard;
    state::Changes changes;
    std::string snapshot;
  };

  // True when the commit went through. exactly_once: false when the
  // transaction was aborted (every task went back to the last commit) or
  // failed fatally (fatal_ says which).
  bool commit() {
    apply_parsed();
    if (fatal_) return false;
    if (nothing_to_commit()) return true;
    const auto started = Clock::now();
    struct Observe {
      processor::LatencyHistogram& h;
      Clock::time_point t0;
      ~Observe() { h.observe(std::chrono::duration<double>(Clock::now() - t0).count()); }
    } observe{commits_, started};

    // The tasks' state records: changelog pairs and snapshots.
    std::vector<CountCommit> counted;
    for (auto& [s, e] : counts_) {
      CountCommit cc{s, e.task->store().take_changes(), e.task->snapshot()};
      // Tombstones first: a window erased and reopened since the last commit
      // numbers its new batches from 0 again, and the later record must win.
      for (const state::ErasedWindow& er : cc.changes.erased) {
        for (std::uint32_t seq = 0; seq < (er.batches.empty() ? 0 : er.batches[0]); ++seq) {
          collector_->internal(t_.changelog, s, state::changelog_batch_key(0, er.window, seq), nullptr);
        }
      }
      for (const state::PairBatch& b : cc.changes.batches) {
        const std::string_view value(b.hashes);
        collector_->internal(t_.changelog, s, state::changelog_batch_key(0, b.window, b.seq), &value);
      }
      const std::string_view snap(cc.snapshot);
      collector_->internal(t_.changelog, s, kCountSnapshotKey, &snap);
      counted.push_back(std::move(cc));
    }
    std::map<std::int32_t, std::string> ingest_snaps;
    for (auto& [p, in] : inputs_) {
      if (!in.dirty) continue;
      std::string snap = ingest_snapshot(p, in.next >= 0 ? in.next : in.counted_until);
      const std::string_view v(snap);
      collector_->internal(t_.ingest_changelog, p, kIngestSnapshotKey, &v);
      ingest_snaps[p] = std::move(snap);
    }
    std::map<std::int32_t, std::string> sum_snaps;
    for (auto& [k, e] : sums_) {
      if (!e.dirty) continue;
      std::string snap = e.sum->snapshot();
      const std::string_view v(snap);
      collector_->internal(t_.sum_changelog, k, kSumSnapshotKey, &v);
      sum_snaps[k] = std::move(snap);
    }
    for (int s = 0; s < shards_; ++s) send_repartition(s);
    for (auto& [key, w] : partials_out_) {
      if (w.empty()) continue;
      const std::string record = w.take();
      const std::string_view v(record);
      const std::string k = std::to_string(key.first);
      collector_->internal(t_.partials, key.second, k, &v);
    }

    std::vector<RdKafka::TopicPartition*> offsets;
    for (const auto& [p, in] : inputs_) {
      if (in.next >= 0) offsets.push_back(RdKafka::TopicPartition::create(t_.input, p, in.next));
    }
    if (!keyed_) {
      for (const auto& [s, e] : counts_) {
        if (e.next >= 0) offsets.push_back(RdKafka::TopicPartition::create(t_.repartition, s, e.next));
      }
    }
    for (const auto& [k, e] : sums_) {
      if (e.next >= 0) offsets.push_back(RdKafka::TopicPartition::create(t_.partials, k, e.next));
    }
    const bool ok = eos_ ? send_and_commit(offsets) : flush_and_commit(offsets);
    RdKafka::TopicPartition::destroy(offsets);
    if (!ok) return false;

    ++txn_committed_;
    committed_stats_ = engine_->stats();
    collector_->poll();
    collector_->committed();
    for (auto& [p, in] : inputs_) {
      in.dirty = false;
      const auto it = ingest_snaps.find(p);
      if (it != ingest_snaps.end()) in.committed_snapshot = std::move(it->second);
    }
    for (auto& [k, e] : sums_) {
      e.dirty = false;
      const auto it = sum_snaps.find(k);
      if (it != sum_snaps.end()) e.committed_snapshot = std::move(it->second);
    }
    for (const auto& [p, next] : collector_->changelog_next()) changelog_next_[p] = next;
    // Only now the local stores: they never run ahead of Kafka, and a crash
    // between the two is made good by replaying the changelog.
    for (CountCommit& cc : counted) {
      auto it = counts_.find(cc.shard);
      if (it == counts_.end()) continue;
      it->second.task->clean();
      const state::Status s = it->second.task->store().write(
          cc.changes, state::Checkpoint{std::move(cc.snapshot), {{cc.shard, changelog_next_[cc.shard]}}});
      if (!s.ok()) {
        klog().error("shard {}: state store write failed after a committed transaction: {}", cc.shard, s.ToString());
        fatal_ = true;
        return false;
      }
    }
    return !eos_ || begin_transaction();
  }

  // at_least_once: offsets only after every record they cover was
  // acknowledged; a failed commit is retried at the next interval.
  bool flush_and_commit(const std::vector<RdKafka::TopicPartition*>& offsets) {
    if (!collector_->flush(milliseconds(60000))) {
      // Failed deliveries are lost records: a restart must read their input
      // again. Pending ones are retried at the next commit.
      klog().error("not committing offsets: {} deliveries failed, {} pending", collector_->failed(),
                   collector_->producer().outq_len());
      fatal_ = collector_->failed() > 0;
      return false;
    }
    if (offsets.empty()) return true;
    const RdKafka::ErrorCode e = consumer_->commitSync(const_cast<std::vector<RdKafka::TopicPartition*>&>(offsets));
    if (e != RdKafka::ERR_NO_ERROR) {
      klog().warn("offset commit failed (retried at the next commit): {}", RdKafka::err2str(e));
      return false;
    }
    return true;
  }

  bool init_transactions() {
    auto backoff = milliseconds(500);
    while (!stopping()) {
      ErrorPtr err(collector_->producer().init_transactions(30000));
      if (!err) {
        try {
          collector_->learn_topics();
        } catch (const AuthorizationError&) {
          return false;  // reported already
        }
        return true;
      }
      // A refused transactional id ends uniqd (kafka/client.h).
      if (report_if_denied(err->code(), Access{"", "WRITE", c_.application_id, setup_.transactional_id,
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
    ErrorPtr err(collector_->producer().begin_transaction());
    if (!err) return true;
    klog().error("begin_transaction: {}", err->str());
    fatal_ = true;
    return false;
  }

  // Sends the offsets (with the group's metadata: a replica that lost its
  // partitions in a rebalance is refused here, the fencing of
  // exactly_once_v2) and commits; on an abortable error, aborts and rewinds.
  bool send_and_commit(const std::vector<RdKafka::TopicPartition*>& offsets) {
    RdKafka::Producer& producer = collector_->producer();
    ErrorPtr err;
    if (!offsets.empty()) {
      std::unique_ptr<RdKafka::ConsumerGroupMetadata> group(consumer_->groupMetadata());
      for (int attempt = 0;; ++attempt) {
        err.reset(producer.send_offsets_to_transaction(offsets, group.get(), 30000));
        if (!err || !err->is_retriable() || attempt >= 20 || stopping()) break;
        klog().warn("send_offsets_to_transaction: {} (retrying)", err->str());
        std::this_thread::sleep_for(milliseconds(500));
      }
    }
    if (!err) {
      for (int attempt = 0;; ++attempt) {
        err.reset(producer.commit_transaction(60000));
        if (!err || !err->is_retriable() || attempt >= 20 || stopping()) break;
        klog().warn("commit_transaction: {} (retrying)", err->str());
        std::this_thread::sleep_for(milliseconds(500));
      }
    }
    if (!err) return true;
    // A refused group, topic or transactional id ends uniqd (kafka/client.h).
    if (fatal_failure() || report_if_denied(err->code(), Access{"", "WRITE", c_.application_id,
                                                                 setup_.transactional_id, "IDEMPOTENT_WRITE"})) {
      fatal_ = true;
      return false;
    }
    std::string why;
    const RdKafka::ErrorCode producer_fatal = producer.fatal_error(why);
    if (fenced(err->code()) || fenced(producer_fatal)) {
      klog().error("fenced: another process uses transactional.id {} ({}); is replica_id shared by two replicas?",
                   setup_.transactional_id, err->str());
      fatal_ = true;
      return false;
    }
    if (err->is_fatal() || producer_fatal != RdKafka::ERR_NO_ERROR) {
      klog().warn("producer failed fatally: {}; replacing it and rewinding to the last commit",
                  producer_fatal != RdKafka::ERR_NO_ERROR ? why : err->str());
      replace_producer();
      return false;
    }
    klog().warn("transaction failed: {}; aborting and rewinding to the last commit", err->str());
    rewind();
    return false;
  }

  void replace_producer() {
    collector_.reset();
    collector_ = make_collector();
    if (!init_transactions()) {
      klog().error("cannot start a new producer; stopping");
      fatal_ = true;
      return;
    }
    ++txn_aborted_;
    reload_and_seek();
  }

  void rewind() {
    ErrorPtr err(collector_->producer().abort_transaction(60000));
    if (err) {
      if (fenced(err->code())) {
        klog().error("abort_transaction: {}", err->str());
        fatal_ = true;
        return;
      }
      klog().warn("abort_transaction: {}; replacing the producer", err->str());
      replace_producer();
      return;
    }
    ++txn_aborted_;
    collector_->forget_failures();
    reload_and_seek();
  }

  // Every task back to the last commit: ingest state from the last committed
  // snapshots, shards from RocksDB (which holds exactly the last committed
  // transaction), sums from their last committed snapshot; positions from
  // the committed offsets.
  void reload_and_seek() {
    for (RepartitionWriter& w : repartition_out_) w.take();
    partials_out_.clear();
    engine_ = make_engine();
    engine_->carry_stats(committed_stats_);
    std::vector<RdKafka::TopicPartition*> parts;
    for (auto& [p, in] : inputs_) {
      engine_->assign_partition(p);
      if (!in.committed_snapshot.empty() && !restore_ingest(p, in.committed_snapshot, nullptr)) {
        klog().error("ingest {}: the committed state does not read back", p);
        fatal_ = true;
      }
      const std::int64_t end = in.end;
      std::string snap = std::move(in.committed_snapshot);
      in = InputState{};
      in.end = end;
      in.committed_snapshot = std::move(snap);
      parts.push_back(RdKafka::TopicPartition::create(t_.input, p));
    }
    for (auto it = counts_.begin(); it != counts_.end();) {
      const int s = it->first;
      CountEntry& e = it->second;
      std::string error;
      try {
        std::unique_ptr<state::RocksDbStore> store = open_shard_store_from(*e.task);
        std::optional<state::Checkpoint> checkpoint;
        const state::Status st = store->load(&checkpoint);
        if (!st.ok()) {
          error = "state store reload after abort: " + st.ToString();
        } else {
          e.task = make_count_task(s, std::move(store));
          if (checkpoint && !checkpoint->snapshot.empty() && !e.task->restore(checkpoint->snapshot)) {
            error = "the checkpoint's snapshot does not read back";
          }
        }
      } catch (const std::exception& ex) {
        error = ex.what();
      }
      if (!error.empty()) {
        // The task cannot go on here: end the replica (status 1); another
        // replica, or a restart, restores the shard from the changelog.
        klog().error("shard {}: {}", s, error);
        fatal_ = true;
        it = counts_.erase(it);
        continue;
      }
      e.next = -1;
      if (!keyed_) parts.push_back(RdKafka::TopicPartition::create(t_.repartition, s));
      ++it;
    }
    for (auto& [k, e] : sums_) {
      e.sum = std::make_unique<processor::WindowSum>(opts_.counter, shards_, results_sink());
      if (!e.committed_snapshot.empty()) e.sum->restore(e.committed_snapshot);
      e.next = -1;
      e.dirty = false;
      parts.push_back(RdKafka::TopicPartition::create(t_.partials, k));
    }
    if (!parts.empty() && consumer_->committed(parts, 10000) == RdKafka::ERR_NO_ERROR) {
      for (RdKafka::TopicPartition* tp : parts) {
        if (tp->offset() < 0) tp->set_offset(RdKafka::Topic::OFFSET_BEGINNING);
        const RdKafka::ErrorCode e = consumer_->seek(*tp, 10000);
        if (e != RdKafka::ERR_NO_ERROR) {
          klog().error("seek {}[{}]: {}", tp->topic(), tp->partition(), RdKafka::err2str(e));
          fatal_ = true;
        }
      }
    } else if (!parts.empty()) {
      klog().error("cannot read the committed offsets to rewind to");
      fatal_ = true;
    }
    RdKafka::TopicPartition::destroy(parts);
    if (!fatal_) begin_transaction();
  }

  // A shard's store, closed and opened again (RocksDB allows one handle).
  std::unique_ptr<state::RocksDbStore> open_shard_store_from(CountTask& task) {
    const int shard = task.shard();
    counts_.at(shard).task.reset();
    return open_shard_store(shard);
  }

  // ------------------------------------------------------------ figures

  processor::EngineStats replica_stats() const {
    processor::EngineStats s = engine_->stats();
    for (const auto& [shard, e] : counts_) {
      s.rejected[static_cast<std::size_t>(processor::RejectReason::late)] += e.task->late();
    }
    s.results_final = results_final_;
    s.results_early = results_early_;
    s.results_by_window = results_by_window_;
    return s;
  }
  std::uint64_t peak_pairs() const {
    std::uint64_t n = 0;
    for (const auto& [s, e] : counts_) n += e.task->counter().peak_pairs();
    return n;
  }
  std::size_t peak_bytes() const {
    std::size_t n = 0;
    for (const auto& [s, e] : counts_) n += e.task->counter().peak_bytes();
    return n;
  }

  void publish_metrics() {
    if (metrics_ == nullptr) return;
    processor::MetricsSnapshot s;
    s.stats = replica_stats();
    s.watermark_ms = processor::kNoWatermark;
    bool first = true;
    for (const auto& [shard, e] : counts_) {
      s.watermark_ms = first ? e.task->watermark_ms() : std::min(s.watermark_ms, e.task->watermark_ms());
      first = false;
      s.open_windows += e.task->counter().open_windows();
      s.open_pairs += e.task->store().pairs();
      s.state_bytes += e.task->store().memory_bytes();
      s.state_disk_bytes += e.task->store().disk_bytes();
    }
    s.partition_time = engine_->partition_times();
    s.wall_now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    s.ready = assigned_once_;
    s.commits = commits_;
    s.result_publish = collector_->publish_latency();
    for (const auto& [p, in] : inputs_) {
      std::int64_t low = 0, high = 0;
      if (in.next >= 0 && consumer_->get_watermark_offsets(t_.input, p, &low, &high) == RdKafka::ERR_NO_ERROR &&
          high >= 0) {
        s.consumer_lag[p] = std::max<std::int64_t>(0, high - in.next);
      }
    }
    s.has_state = true;
    s.restored_pairs = restored_pairs_;
    s.restored_records = restored_records_;
    s.restore_seconds = restore_seconds_;
    s.transactions_committed = txn_committed_;
    s.transactions_aborted = txn_aborted_;
    s.has_tasks = true;
    s.tasks_ingest = inputs_.size();
    s.tasks_count = counts_.size();
    s.tasks_sum = sums_.size();
    for (const auto& [k, e] : sums_) s.sum_waiting += e.sum->waiting();
    s.internal_bytes = collector_->internal_bytes();
    std::vector<RdKafka::TopicPartition*> internal;
    for (const auto& [shard, e] : counts_) {
      if (!keyed_) internal.push_back(RdKafka::TopicPartition::create(t_.repartition, shard));
    }
    for (const auto& [k, e] : sums_) internal.push_back(RdKafka::TopicPartition::create(t_.partials, k));
    if (!internal.empty() && consumer_->position(internal) == RdKafka::ERR_NO_ERROR) {
      for (const RdKafka::TopicPartition* tp : internal) {
        std::int64_t low = 0, high = 0;
        if (consumer_->get_watermark_offsets(tp->topic(), tp->partition(), &low, &high) != RdKafka::ERR_NO_ERROR) {
          continue;
        }
        // No position yet: everything up to the high watermark is unread
        // only if there is anything past the low one.
        const std::int64_t pos = tp->offset() >= 0 ? tp->offset() : low;
        s.internal_lag += std::max<std::int64_t>(0, high - pos);
      }
    }
    RdKafka::TopicPartition::destroy(internal);
    metrics_->publish(std::move(s));
  }

  const config::Config& c_;
  const ReplicaSetup& setup_;
  const TopicNames t_;
  const bool eos_;
  const bool keyed_;
  const int shards_;
  const int inputs_n_;
  processor::EngineOptions opts_;
  processor::Granularity min_granularity_{processor::Granularity::minute};
  processor::MetricsServer* metrics_;

  std::unique_ptr<RecordCollector> collector_;
  state::MemoryStore ingest_store_;  // the ingest engine counts nothing; its counter needs a store
  std::unique_ptr<processor::Engine> engine_;
  std::unique_ptr<StateRestorer> restorer_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::unique_ptr<processor::FrameFeed> feed_;

  std::map<std::int32_t, InputState> inputs_;
  std::map<std::int32_t, CountEntry> counts_;
  std::map<std::int32_t, SumEntry> sums_;
  std::vector<RepartitionWriter> repartition_out_;
  std::map<std::pair<int, int>, PartialsWriter> partials_out_;  // (shard, partials partition)
  std::map<std::int32_t, std::int64_t> changelog_next_;         // by shard

  std::uint64_t redelivered_{0};
  bool commit_now_{false};
  bool assigned_once_{false};
  bool fatal_{false};
  bool closing_{false};
  int status_{0};
  Clock::time_point empty_since_{Clock::now()};
  processor::LatencyHistogram commits_;
  processor::EngineStats committed_stats_;
  std::uint64_t txn_committed_{0};
  std::uint64_t txn_aborted_{0};
  std::uint64_t restored_pairs_{0};
  std::uint64_t restored_records_{0};
  double restore_seconds_{0};
  std::uint64_t results_final_{0};
  std::uint64_t results_early_{0};
  std::array<std::array<std::uint64_t, 2>, processor::kGranularityCount> results_by_window_{};
};

}  // namespace

int run_stream_thread(const config::Config& c, const ReplicaSetup& setup, processor::MetricsServer* metrics) {
  StreamThread thread(c, setup, metrics);
  return thread.run();
}

}  // namespace uniqd::kafka
