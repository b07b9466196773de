#include "kafka/stream_thread.h"
#include "kafka/log.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <thread>

#include "kafka/client.h"
#include "kafka/count_task.h"
#include "kafka/internal_records.h"
#include "kafka/state_restorer.h"
#include "kafka/task_manager.h"
#include "processor/application.h"
#include "processor/frame_feed.h"
#include "processor/logging.h"
#include "processor/snapshot_codec.h"
#include "processor/stop_signal.h"
#include "processor/window_sum.h"
#include "processor/windows.h"
#include "state/key_codec.h"
#include "state/memory_store.h"
#include "state/rocksdb_store.h"

namespace uniqd::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

using ErrorPtr = std::unique_ptr<RdKafka::Error>;

// Changelog keys besides the pair batches (state/key_codec.h, 'B...').
constexpr std::string_view kCountSnapshotKey = "C";
constexpr std::string_view kIngestSnapshotKey = "I";
constexpr std::string_view kSumSnapshotKey = "U";

// A repartition batch is produced once it holds this much (else at commit).
constexpr std::size_t kBatchBytes = 512 * 1024;
// A frame entry's fixed part (kafka/internal_records.cc).
constexpr std::size_t kFrameEntryBytes = 64;

enum class Kind { input, repartition, partials, other };

bool fenced(RdKafka::ErrorCode e) {
  return e == RdKafka::ERR__FENCED || e == RdKafka::ERR_PRODUCER_FENCED || e == RdKafka::ERR_INVALID_PRODUCER_EPOCH;
}

static_assert(kOffsetBeginning == RD_KAFKA_OFFSET_BEGINNING);

std::vector<RdKafka::TopicPartition*> to_partitions(const Offsets& offsets) {
  std::vector<RdKafka::TopicPartition*> parts;
  parts.reserve(offsets.size());
  for (const TopicOffset& o : offsets) parts.push_back(RdKafka::TopicPartition::create(o.topic, o.partition, o.offset));
  return parts;
}

struct PartitionList {
  std::vector<RdKafka::TopicPartition*> parts;
  explicit PartitionList(const Offsets& o) : parts(to_partitions(o)) {}
  ~PartitionList() { RdKafka::TopicPartition::destroy(parts); }
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;
};

// The replica's RecordCollector at the seam of kafka/task_manager.h: what
// each librdkafka error means to the commit logic is decided here.
class CollectorProducer final : public TransactionalProducer {
 public:
  CollectorProducer(const config::Config& c, const ReplicaSetup& setup, std::unique_ptr<RecordCollector>& collector,
                    std::function<std::unique_ptr<RecordCollector>()> make,
                    std::unique_ptr<RdKafka::KafkaConsumer>& consumer)
      : access_{"", "WRITE", c.application_id, setup.transactional_id, "IDEMPOTENT_WRITE"},
        collector_(collector),
        make_(std::move(make)),
        consumer_(consumer) {}

  Result init_transactions(milliseconds timeout) override {
    ErrorPtr err(producer().init_transactions(static_cast<int>(timeout.count())));
    if (!err) {
      try {
        collector_->learn_topics();
      } catch (const AuthorizationError&) {
        return Result::fail(Failure::denied, "topics refused");  // reported already
      }
      return {};
    }
    // A refused transactional id ends uniqd (kafka/client.h).
    if (report_if_denied(err->code(), access_)) return Result::fail(Failure::denied, err->str());
    if (err->is_fatal()) return Result::fail(fenced(err->code()) ? Failure::fenced : Failure::fatal, err->str());
    return Result::fail(Failure::retriable, err->str());
  }
  Result begin_transaction() override {
    ErrorPtr err(producer().begin_transaction());
    return classify(err);
  }
  Result send_offsets_to_transaction(const Offsets& offsets, milliseconds timeout) override {
    std::unique_ptr<RdKafka::ConsumerGroupMetadata> group(consumer_->groupMetadata());
    PartitionList parts(offsets);
    ErrorPtr err(producer().send_offsets_to_transaction(parts.parts, group.get(), static_cast<int>(timeout.count())));
    return classify(err);
  }
  Result commit_transaction(milliseconds timeout) override {
    // A record refused at produce() leaves librdkafka's transaction
    // committable: without this check it would commit without it.
    if (collector_->refused() > 0) return Result::fail(Failure::unproducible, collector_->refused_what());
    ErrorPtr err(producer().commit_transaction(static_cast<int>(timeout.count())));
    Result r = classify(err);
    // Refused by the broker (delivered during the commit's flush): the same
    // record would be refused again after a rewind.
    if (!r.ok() && collector_->refused() > 0) return Result::fail(Failure::unproducible, collector_->refused_what());
    return r;
  }
  Result abort_transaction(milliseconds timeout) override {
    ErrorPtr err(producer().abort_transaction(static_cast<int>(timeout.count())));
    Result r = classify(err);
    // What failed belonged to the aborted transaction.
    if (r.ok()) collector_->forget_failures();
    return r;
  }
  // The old collector stays when the new one cannot be made: the thread
  // then ends (TaskManager::failed) and still reads its figures.
  void replace() override {
    std::unique_ptr<RecordCollector> next = make_();
    collector_ = std::move(next);
  }
  Result flush(milliseconds timeout) override {
    if (collector_->flush(timeout)) return {};
    if (collector_->refused() > 0) return Result::fail(Failure::fatal, collector_->refused_what());
    const std::string what =
        fmt::format("{} deliveries failed, {} pending", collector_->failed(), collector_->producer().outq_len());
    // Failed deliveries are lost records; pending ones may still arrive.
    return Result::fail(collector_->failed() > 0 ? Failure::fatal : Failure::retriable, what);
  }

 private:
  RdKafka::Producer& producer() { return collector_->producer(); }

  Result classify(const ErrorPtr& err) {
    if (!err) return {};
    // A refused group, topic or transactional id ends uniqd (kafka/client.h).
    if (fatal_failure() || report_if_denied(err->code(), access_)) return Result::fail(Failure::denied, err->str());
    std::string why;
    const RdKafka::ErrorCode producer_fatal = producer().fatal_error(why);
    if (fenced(err->code()) || fenced(producer_fatal)) return Result::fail(Failure::fenced, err->str());
    if (err->is_fatal() || producer_fatal != RdKafka::ERR_NO_ERROR) {
      return Result::fail(Failure::fatal, producer_fatal != RdKafka::ERR_NO_ERROR ? why : err->str());
    }
    if (err->is_retriable()) return Result::fail(Failure::retriable, err->str());
    return Result::fail(Failure::abortable, err->str());
  }

  const Access access_;
  std::unique_ptr<RecordCollector>& collector_;
  std::function<std::unique_ptr<RecordCollector>()> make_;
  std::unique_ptr<RdKafka::KafkaConsumer>& consumer_;
};

// The group consumer at the seam of kafka/task_manager.h.
class ConsumerOffsets final : public GroupConsumer {
 public:
  ConsumerOffsets(const config::Config& c, std::unique_ptr<RdKafka::KafkaConsumer>& consumer)
      : app_(c.application_id), consumer_(consumer) {}

  Result committed(Offsets& positions) override {
    PartitionList parts(positions);
    const RdKafka::ErrorCode e = consumer_->committed(parts.parts, 10000);
    if (e != RdKafka::ERR_NO_ERROR) return Result::fail(Failure::retriable, RdKafka::err2str(e));
    for (std::size_t i = 0; i < positions.size(); ++i) positions[i].offset = parts.parts[i]->offset();
    return {};
  }
  Result seek(const TopicOffset& p) override {
    std::unique_ptr<RdKafka::TopicPartition> tp(RdKafka::TopicPartition::create(p.topic, p.partition, p.offset));
    const RdKafka::ErrorCode e = consumer_->seek(*tp, 10000);
    if (e != RdKafka::ERR_NO_ERROR) return Result::fail(Failure::fatal, RdKafka::err2str(e));
    return {};
  }
  Result commit_offsets(const Offsets& offsets) override {
    PartitionList parts(offsets);
    const RdKafka::ErrorCode e = consumer_->commitSync(parts.parts);
    if (e == RdKafka::ERR_NO_ERROR) return {};
    if (report_if_denied(e, Access{offsets.front().topic, "READ", app_, "", "IDEMPOTENT_WRITE"})) {
      return Result::fail(Failure::denied, RdKafka::err2str(e));
    }
    if (e == RdKafka::ERR__FATAL) return Result::fail(Failure::fatal, RdKafka::err2str(e));
    // The group is rebalancing or moved on: only polling rejoins it.
    const bool rebalance = e == RdKafka::ERR_REBALANCE_IN_PROGRESS || e == RdKafka::ERR_ILLEGAL_GENERATION ||
                           e == RdKafka::ERR_UNKNOWN_MEMBER_ID || e == RdKafka::ERR__STATE;
    return Result::fail(rebalance ? Failure::abortable : Failure::retriable, RdKafka::err2str(e));
  }

 private:
  const std::string app_;
  std::unique_ptr<RdKafka::KafkaConsumer>& consumer_;
};

// How long a commit's failures are retried: the transaction timeout (past
// it the coordinator aborts the transaction anyway).
CommitBounds commit_bounds(const config::Config& c, const ReplicaSetup& setup) {
  CommitBounds b;
  b.transactional_id = setup.transactional_id;
  // kafka.producer wins over kafka.client, as in the producer itself.
  const std::string* timeout = nullptr;
  for (const auto* props : {&c.kafka.producer, &c.kafka.client}) {
    const auto it = props->find("transaction.timeout.ms");
    if (it != props->end()) {
      timeout = &it->second;
      break;
    }
  }
  if (timeout != nullptr) {
    try {
      b.budget = milliseconds(std::stoll(*timeout));
    } catch (const std::exception&) {
      // librdkafka refuses the value when the producer is created.
    }
  }
  return b;
}

class StreamThread final : public RdKafka::RebalanceCb,
                           private Tasks,
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
                           // Large answers: each is one allocation past glibc's
                           // mmap threshold, so fresh pages faulted in (0.6 s
                           // of sys time per 2 GB), yet on 2 busy cores they
                           // read faster than 30/8, 16/4 or 4/1 MiB, which
                           // cost less CPU but left uniqd waiting (bench/
                           // README.md, "Fetch size").
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
    if (!consumer_) throw KafkaError("kafka.consumer: the consumer cannot be made with these properties: " + err);
    manager_ = std::make_unique<TaskManager>(eos_, producer_glue_, consumer_glue_, static_cast<Tasks&>(*this),
                                             commit_bounds(c, setup));
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
      if (!manager_->start()) return stopping() ? 0 : 1;
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
    while (!stopping() && !failed() && !manager_->interrupted()) {
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(feed_->holds_frames() ? 0 : 100));
      // One clock read per message, shared by its handling and the checks
      // below (a second one in ingest cost 1 % of the thread).
      const auto now = Clock::now();
      handle(*m, now);
      collector_->poll();
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
        // Aborted and rewound: read the rest again; at_least_once: retried
        // until its bound (the manager says when it failed).
        continue;
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
    if (failed() || fatal_failure()) {
      status_ = 1;
    } else if (manager_->interrupted()) {
      // Stopped while replacing the producer: nothing to commit with.
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
    if (eos_) {
      klog().info("transactions: {} committed, {} aborted", manager_->transactions_committed(),
                  manager_->transactions_aborted());
    }
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
      if (!lost && !failed()) commit();
      close_tasks(parts, lost);
      if (eager(consumer)) {
        check(consumer->unassign(), "unassign");
      } else {
        check(consumer->incremental_unassign(parts), "incremental_unassign");
      }
      if (lost && eos_ && !failed() && !manager_->interrupted()) {
        klog().warn("partitions lost: aborting the open transaction and rewinding to the last commit");
        manager_->rewind();
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

  bool stopping() const override { return processor::stop_requested(); }
  bool failed() const { return fatal_ || manager_->failed(); }
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

  // now: when m was read.
  void handle(RdKafka::Message& m, Clock::time_point now) {
    switch (m.err()) {
      case RdKafka::ERR_NO_ERROR:
        switch (kind_of(m, t_)) {
          case Kind::input:
            ingest(m, now);
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
          // At once rather than at the next 100 ms tick: the end markers
          // start the last round through the count and sum tasks.
          finish_ended_inputs();
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

  void ingest(RdKafka::Message& m, Clock::time_point now) {
    auto it = inputs_.find(m.partition());
    if (it == inputs_.end()) return;
    InputState& in = it->second;
    if (in.next < 0) check_resume_offset(m.partition(), in, m.offset());
    if (m.offset() < in.skip_until) return;
    if (redelivered(m, in.next)) return;
    in.last_message = now;
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
    if (m.offset() < it->second.skip_until) return;  // in the restored state already
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
    if (m.offset() < e.skip_until) return;  // in the restored state already
    if (redelivered(m, e.next)) return;
    e.next = m.offset() + 1;
    e.dirty = true;
    const std::string_view value(static_cast<const char*>(m.payload()), m.payload() != nullptr ? m.len() : 0);
    const bool ok =
        read_partials(value, PartialsVisitor{
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
      klog().warn("{}[{}] offset {}: delivered again (this task is at offset {}): skipped ({} so far)", m.topic_name(),
                  m.partition(), m.offset(), next, redelivered_);
    }
    return true;
  }

  void corrupt(RdKafka::Message& m) {
    klog().error(
        "{}[{}] offset {}: not a record of this uniqd version (an application_id shared with another "
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
    // Cut before the batch would pass kBatchBytes: a frame that carries its
    // bytes (up to max_frame_bytes) then travels alone, within the record
    // limit (record_bytes_limit), instead of on top of a full batch.
    if (!w.empty() && w.size() + kFrameEntryBytes + e.bytes.size() > kBatchBytes) send_repartition(shard);
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
    // at_least_once: the messages before it are counted already (the state
    // was written, the offsets after it not): skipped.
    std::int64_t skip_until{-1};
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
    if (!eos_) {
      // at_least_once writes the state before the offsets, and only over
      // records already on their topics (commit()): a commit whose offsets
      // were refused in a rebalance, or a crash before they went out,
      // leaves the state ahead. What it covers is not read again.
      klog().info(
          "{}[{}]: the state store already counts this partition's input up to offset {}, the group's offset is "
          "{} (the last at_least_once commit wrote its state, not its offsets): the {} messages in between are "
          "skipped",
          t_.input, p, in.counted_until, offset, in.counted_until - offset);
      in.skip_until = in.counted_until;
      in.next = in.counted_until;
      in.counted_until = -1;
      return;
    }
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
    // The repartition offset its restored snapshot covers: the records
    // before it are in the state already (positioned_snapshot).
    std::int64_t skip_until{-1};
    // The checkpoint in its RocksDB store now.
    state::Checkpoint written{};
    // at_least_once: pairs on the changelog whose commit did not go through
    // (its offsets refused), for the local store at the next one. Written
    // in order, each under the checkpoint before it, so that a crash
    // between two still replays the changelog from before all of them.
    std::vector<state::Changes> unwritten{};
    // The offset its state covers: where it read to, else where its
    // restored snapshot was (-1: neither).
    std::int64_t covered() const { return next >= 0 ? next : skip_until; }
  };
  struct SumEntry {
    std::unique_ptr<processor::WindowSum> sum;
    std::int64_t next{-1};
    bool dirty{false};
    std::string committed_snapshot;
    // The partials offset its restored snapshot covers (as CountEntry's).
    std::int64_t skip_until{-1};
    std::int64_t covered() const { return next >= 0 ? next : skip_until; }
  };

  std::unique_ptr<state::RocksDbStore> open_shard_store(int shard) {
    state::RocksDbOptions so;
    so.path = (std::filesystem::path(setup_.state_path) / ("shard-" + std::to_string(shard))).string();
    so.shards = 1;
    so.block_cache_bytes =
        std::max<std::uint64_t>(c_.state_store.block_cache / static_cast<unsigned>(shards_), 8u << 20);
    so.write_buffer_bytes =
        std::max<std::uint64_t>(c_.state_store.write_buffer / static_cast<unsigned>(shards_), 8u << 20);
    std::error_code ec;
    std::filesystem::create_directories(so.path, ec);
    if (ec) throw std::runtime_error("state_dir: cannot create " + so.path + ": " + ec.message());
    std::unique_ptr<state::RocksDbStore> store;
    state::Status s = state::RocksDbStore::open(so, &store);
    if (s.IsCorruption()) {
      // The changelog holds the shard; a store that does not even open
      // (a damaged CURRENT or MANIFEST) is rebuilt from it, as a lost disk
      // is. The damaged files are kept aside for a look, not deleted.
      const std::string aside = so.path + ".corrupt-" +
                                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                   std::chrono::system_clock::now().time_since_epoch())
                                                   .count());
      std::filesystem::rename(so.path, aside, ec);
      if (!ec) {
        klog().warn("shard {}: the state store does not open ({}); moved to {} and rebuilt from the changelog", shard,
                    s.ToString(), aside);
        std::filesystem::create_directories(so.path, ec);
        s = state::RocksDbStore::open(so, &store);
      }
    }
    if (!s.ok()) throw std::runtime_error("state_dir: " + s.ToString());
    return store;
  }

  // A repartition partition is a count task's shard; so is an input
  // partition when the input is partitioned by uid (no repartition topic).
  bool holds_count_task(const RdKafka::TopicPartition& tp) const {
    return tp.topic() == t_.repartition || (keyed_ && tp.topic() == t_.input);
  }

  // The count tasks' stores of an assignment, opened at once: creating a
  // RocksDB database waits on a few fsyncs (about 45 ms each here), which
  // need not follow one another.
  std::map<std::int32_t, std::unique_ptr<state::RocksDbStore>> open_shard_stores(
      const std::vector<RdKafka::TopicPartition*>& parts) {
    std::vector<std::int32_t> shards;
    for (const RdKafka::TopicPartition* tp : parts) {
      if (holds_count_task(*tp)) shards.push_back(tp->partition());
    }
    std::vector<std::future<std::unique_ptr<state::RocksDbStore>>> opening;
    for (std::int32_t shard : shards) {
      opening.push_back(std::async(std::launch::async, [this, shard] { return open_shard_store(shard); }));
    }
    std::map<std::int32_t, std::unique_ptr<state::RocksDbStore>> stores;
    // Every future is waited for, even after one failed, before the error
    // leaves: none may outlive this call.
    std::exception_ptr failure;
    for (std::size_t i = 0; i < shards.size(); ++i) {
      try {
        stores[shards[i]] = opening[i].get();
      } catch (...) {
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
    return stores;
  }

  std::unique_ptr<CountTask> make_count_task(int shard, std::unique_ptr<state::RocksDbStore> store) {
    return std::make_unique<CountTask>(shard, keyed_ ? 1 : inputs_n_, opts_, std::move(store), partials_sink(),
                                       rejects_sink());
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
    std::map<std::int32_t, std::unique_ptr<state::RocksDbStore>> stores = open_shard_stores(parts);
    auto add_count = [&](std::int32_t shard) {
      Pending pc{Kind::repartition, shard, std::move(stores.at(shard)), {}, 0, requests.size()};
      std::optional<state::Checkpoint> checkpoint;
      state::Status s = pc.store->load(&checkpoint);
      if (!s.ok()) {
        klog().warn("shard {}: state store unreadable ({}); rebuilding it from the changelog", shard, s.ToString());
        s = pc.store->wipe();
        if (!s.ok()) throw std::runtime_error("state store: " + s.ToString());
        checkpoint.reset();
      }
      std::int64_t from = RdKafka::Topic::OFFSET_BEGINNING;
      if (checkpoint) {
        const auto it = checkpoint->changelog_next.find(shard);
        if (it != checkpoint->changelog_next.end()) from = it->second;
        // A checkpoint past the changelog's end belongs to a changelog that
        // is gone (the application reset without its state directory): its
        // pairs and snapshot would count old frames and close new windows.
        std::int64_t low = 0, high = 0;
        if (from > 0 &&
            consumer_->query_watermark_offsets(t_.changelog, shard, &low, &high, 10000) == RdKafka::ERR_NO_ERROR &&
            from > high) {
          klog().warn(
              "shard {}: the state store's checkpoint is at {}[{}] offset {}, past its end ({}): the changelog "
              "was recreated (an application reset that kept this state directory?); rebuilding the shard "
              "from the changelog",
              shard, t_.changelog, shard, from, high);
          s = pc.store->wipe();
          if (!s.ok()) throw std::runtime_error("state store: " + s.ToString());
          checkpoint.reset();
          from = RdKafka::Topic::OFFSET_BEGINNING;
        }
      }
      if (checkpoint) pc.snapshot = checkpoint->snapshot;
      from_db += pc.store->pairs();
      requests.push_back({t_.changelog, shard, from, 0});
      pending.push_back(std::move(pc));
    };
    for (const RdKafka::TopicPartition* tp : parts) {
      const std::int32_t p = tp->partition();
      if (tp->topic() == t_.input) {
        pending.push_back({Kind::input, p, nullptr, {}, 0, requests.size()});
        requests.push_back({t_.ingest_changelog, p, RdKafka::Topic::OFFSET_BEGINNING, 0});
      } else if (tp->topic() == t_.partials) {
        pending.push_back({Kind::partials, p, nullptr, {}, 0, requests.size()});
        requests.push_back({t_.sum_changelog, p, RdKafka::Topic::OFFSET_BEGINNING, 0});
      }
      if (holds_count_task(*tp)) add_count(p);
    }
    std::map<std::size_t, Pending*> by_request;
    for (Pending& pc : pending) by_request[pc.request] = &pc;
    std::string error;
    const bool ok = restorer_->restore(
        requests,
        [&](const ChangelogRecord& r) {
          Pending& pc = *by_request.at(r.index);
          ++pc.records;
          const std::string_view want = pc.kind == Kind::input      ? kIngestSnapshotKey
                                        : pc.kind == Kind::partials ? kSumSnapshotKey
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
        std::int64_t covered = -1;
        if (!pc.snapshot.empty() && !task->restore(unposition_snapshot(pc.snapshot, &covered))) {
          klog().error(
              "{}[{}]: the count task's snapshot does not read back (was state_store.shards or the input "
              "topic's partition count changed? see docs/SCALE_OUT.md, reset)",
              t_.changelog, pc.p);
          return false;
        }
        klog().info("assigned shard {}: count task, {} pairs, {} changelog records replayed", pc.p,
                    task->store().pairs(), pc.records);
        counts_[pc.p] = CountEntry{std::move(task), -1, covered, state::Checkpoint{pc.snapshot, {{pc.p, req.next}}}};
      } else {
        auto s = std::make_unique<processor::WindowSum>(opts_.counter, shards_, results_sink());
        std::int64_t covered = -1;
        if (!pc.snapshot.empty() && !s->restore(unposition_snapshot(pc.snapshot, &covered))) {
          klog().error("{}[{}]: the sum task's state does not read back", t_.sum_changelog, pc.p);
          return false;
        }
        klog().info("assigned {}[{}]: sum task, {} windows waiting", t_.partials, pc.p, s->waiting());
        sums_[pc.p] = SumEntry{std::move(s), -1, false, pc.snapshot, covered};
      }
    }
    if (!checkpoint_text.empty()) {
      klog().info("state store checkpoint: input offsets {} (partition:next)", checkpoint_text);
    }
    restored_records_ = restorer_->records();
    restored_pairs_ += pairs;
    restore_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
    if (!pending.empty()) {
      klog().info(
          "restored {} pairs ({} from RocksDB, {} changelog records replayed) in {:.2f} s ({:.0f} pairs/s; "
          "{} tasks)",
          pairs, from_db, records, restore_seconds_, static_cast<double>(pairs) / std::max(restore_seconds_, 1e-6),
          pending.size());
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
    if (failed() || manager_->interrupted()) return false;
    if (nothing_to_commit()) return true;
    const auto started = Clock::now();
    struct Observe {
      processor::LatencyHistogram& h;
      Clock::time_point t0;
      ~Observe() { h.observe(std::chrono::duration<double>(Clock::now() - t0).count()); }
    } observe{commits_, started};

    // The records first, then the state that covers them: count tasks'
    // pairs and snapshots, then the ingest and sum snapshots. A transaction
    // makes them one; at_least_once has each step acknowledged before the
    // next, so that no snapshot is ever on its changelog without the records
    // it covers (a partial count, a repartition entry, a result): a restart
    // may then skip what a snapshot covers (positioned_snapshot) even when
    // the offsets after it were refused or never sent.
    for (int s = 0; s < shards_; ++s) send_repartition(s);
    for (auto& [key, w] : partials_out_) {
      if (w.empty()) continue;
      const std::string record = w.take();
      const std::string_view v(record);
      const std::string k = std::to_string(key.first);
      collector_->internal(t_.partials, key.second, k, &v);
    }
    if (!eos_ && !manager_->flush_records()) return false;

    std::vector<CountCommit> counted;
    for (auto& [s, e] : counts_) {
      CountCommit cc{s, e.task->store().take_changes(), positioned_snapshot(e.covered(), e.task->snapshot())};
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
    if (!eos_ && !manager_->flush_records()) {
      keep_unwritten(counted);
      return false;
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
      std::string snap = positioned_snapshot(e.covered(), e.sum->snapshot());
      const std::string_view v(snap);
      collector_->internal(t_.sum_changelog, k, kSumSnapshotKey, &v);
      sum_snaps[k] = std::move(snap);
    }

    Offsets offsets;
    for (const auto& [p, in] : inputs_) {
      if (in.next >= 0) offsets.push_back({t_.input, p, in.next});
    }
    if (!keyed_) {
      for (const auto& [s, e] : counts_) {
        if (e.covered() >= 0) offsets.push_back({t_.repartition, s, e.covered()});
      }
    }
    for (const auto& [k, e] : sums_) {
      if (e.covered() >= 0) offsets.push_back({t_.partials, k, e.covered()});
    }
    committing_ = Committing{std::move(counted), std::move(ingest_snaps), std::move(sum_snaps)};
    const bool ok = manager_->commit(offsets) == TaskManager::Outcome::committed;
    if (!ok && !eos_) keep_unwritten(committing_.counted);
    committing_ = Committing{};
    klog().debug("commit {} in {:.1f} ms ({} offsets)", ok ? "done" : "failed",
                 std::chrono::duration<double, std::milli>(Clock::now() - started).count(), offsets.size());
    return ok;
  }

  // at_least_once: a commit that did not go through still put its pairs on
  // the changelog (a producer does not take records back); the local store
  // gets them with the next commit that does.
  void keep_unwritten(std::vector<CountCommit>& counted) {
    for (CountCommit& cc : counted) {
      const auto it = counts_.find(cc.shard);
      if (it != counts_.end() && !cc.changes.empty()) it->second.unwritten.push_back(std::move(cc.changes));
    }
  }

  // What a commit in flight wrote to the changelogs, for post_commit.
  struct Committing {
    std::vector<CountCommit> counted;
    std::map<std::int32_t, std::string> ingest_snaps;
    std::map<std::int32_t, std::string> sum_snaps;
  };

  // Tasks: the commit went through.
  bool post_commit() override {
    committed_stats_ = engine_->stats();
    collector_->poll();
    collector_->committed();
    for (auto& [p, in] : inputs_) {
      in.dirty = false;
      const auto it = committing_.ingest_snaps.find(p);
      if (it != committing_.ingest_snaps.end()) in.committed_snapshot = std::move(it->second);
    }
    for (auto& [k, e] : sums_) {
      e.dirty = false;
      const auto it = committing_.sum_snaps.find(k);
      if (it != committing_.sum_snaps.end()) e.committed_snapshot = std::move(it->second);
    }
    for (const auto& [p, next] : collector_->changelog_next()) changelog_next_[p] = next;
    for (CountCommit& cc : committing_.counted) {
      auto it = counts_.find(cc.shard);
      if (it == counts_.end()) continue;
      CountEntry& e = it->second;
      e.task->clean();
      for (const state::Changes& older : e.unwritten) {
        const state::Status s = e.task->store().write(older, e.written);
        if (!s.ok()) {
          klog().error("shard {}: state store write failed after a commit: {}", cc.shard, s.ToString());
          return false;
        }
      }
      e.unwritten.clear();
      state::Checkpoint checkpoint{std::move(cc.snapshot), {{cc.shard, changelog_next_[cc.shard]}}};
      const state::Status s = e.task->store().write(cc.changes, checkpoint);
      if (!s.ok()) {
        klog().error("shard {}: state store write failed after a committed transaction: {}", cc.shard, s.ToString());
        return false;
      }
      e.written = std::move(checkpoint);
    }
    return true;
  }

  // Tasks: every task back to the last commit: ingest state from the last
  // committed snapshots, shards from RocksDB (which holds exactly the last
  // committed transaction), sums from their last committed snapshot. A task
  // whose state does not read back is closed (the replica then ends; another
  // one, or a restart, restores it from its changelog).
  bool reload(Offsets& positions) override {
    bool ok = true;
    for (RepartitionWriter& w : repartition_out_) w.take();
    partials_out_.clear();
    engine_ = make_engine();
    engine_->carry_stats(committed_stats_);
    for (auto& [p, in] : inputs_) {
      engine_->assign_partition(p);
      if (!in.committed_snapshot.empty() && !restore_ingest(p, in.committed_snapshot, nullptr)) {
        klog().error("{}[{}]: the committed ingest state does not read back", t_.ingest_changelog, p);
        ok = false;
      }
      const std::int64_t end = in.end;
      std::string snap = std::move(in.committed_snapshot);
      in = InputState{};
      in.end = end;
      in.committed_snapshot = std::move(snap);
      positions.push_back({t_.input, p, -1});
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
          std::int64_t covered = -1;
          if (checkpoint && !checkpoint->snapshot.empty() &&
              !e.task->restore(unposition_snapshot(checkpoint->snapshot, &covered))) {
            error = "the checkpoint's snapshot does not read back";
          }
          e.skip_until = covered;
          if (checkpoint) e.written = *checkpoint;
          e.unwritten.clear();
        }
      } catch (const std::exception& ex) {
        error = ex.what();
      }
      if (!error.empty()) {
        klog().error("shard {}: {}", s, error);
        ok = false;
        it = counts_.erase(it);
        continue;
      }
      e.next = -1;
      if (!keyed_) positions.push_back({t_.repartition, s, -1});
      ++it;
    }
    for (auto& [k, e] : sums_) {
      e.sum = std::make_unique<processor::WindowSum>(opts_.counter, shards_, results_sink());
      e.skip_until = -1;
      if (!e.committed_snapshot.empty() && !e.sum->restore(unposition_snapshot(e.committed_snapshot, &e.skip_until))) {
        klog().error("{}[{}]: the committed sum state does not read back", t_.sum_changelog, k);
        ok = false;
      }
      e.next = -1;
      e.dirty = false;
      positions.push_back({t_.partials, k, -1});
    }
    return ok;
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
    std::vector<processor::CountingFigures> counting;
    for (const auto& [shard, e] : counts_) {
      counting.push_back({e.task->watermark_ms(), e.task->counter().open_windows(), e.task->store().pairs(),
                          e.task->store().memory_bytes(), e.task->store().disk_bytes()});
    }
    processor::MetricsSnapshot s = processor::snapshot_of(replica_stats(), *engine_, counting);
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
    s.transactions_committed = manager_->transactions_committed();
    s.transactions_aborted = manager_->transactions_aborted();
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
  CollectorProducer producer_glue_{c_, setup_, collector_, [this] { return make_collector(); }, consumer_};
  ConsumerOffsets consumer_glue_{c_, consumer_};
  std::unique_ptr<TaskManager> manager_;

  std::map<std::int32_t, InputState> inputs_;
  std::map<std::int32_t, CountEntry> counts_;
  std::map<std::int32_t, SumEntry> sums_;
  std::vector<RepartitionWriter> repartition_out_;
  std::map<std::pair<int, int>, PartialsWriter> partials_out_;  // (shard, partials partition)
  std::map<std::int32_t, std::int64_t> changelog_next_;         // by shard
  Committing committing_;

  std::uint64_t redelivered_{0};
  bool commit_now_{false};
  bool assigned_once_{false};
  bool fatal_{false};
  bool closing_{false};
  int status_{0};
  Clock::time_point empty_since_{Clock::now()};
  processor::LatencyHistogram commits_;
  processor::EngineStats committed_stats_;
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
