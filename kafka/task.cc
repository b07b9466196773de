#include "kafka/task.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <map>
#include <thread>

#include "kafka/client.h"
#include "processor/application.h"
#include "processor/logging.h"
#include "processor/metrics.h"
#include "processor/result_json.h"
#include "state/memory_store.h"

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

// Results and rejects go out through one idempotent producer; a delivery
// that finally fails stops offset commits (what it covers was not emitted).
class Publisher final : public processor::ResultSink, public processor::RejectSink, public RdKafka::DeliveryReportCb {
 public:
  Publisher(const config::Config& c, const std::string& input_topic) : c_(c), input_topic_(input_topic) {
    auto conf = make_conf({{"bootstrap.servers", c.kafka.brokers},
                           {"enable.idempotence", "true"},
                           {"acks", "all"},
                           {"linger.ms", "5"},
                           {"compression.type", "lz4"},
                           {"client.id", c.application_id + "-publisher"}},
                          c.kafka.producer, "kafka.producer");
    std::string err;
    if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), err) != RdKafka::Conf::CONF_OK) {
      throw KafkaError("dr_cb: " + err);
    }
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer_) throw KafkaError("producer: " + err);
  }

  void emit(const processor::WindowResult& r) override {
    value_.clear();
    processor::append_result_json(value_, r);
    const std::string key = processor::result_key(r);
    // The emission time rides in the message's opaque pointer to dr_cb.
    const auto now = Clock::now().time_since_epoch().count();
    produce(c_.kafka.output_topic, key, value_, nullptr, reinterpret_cast<void*>(static_cast<std::intptr_t>(now)));
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
    produce(c_.kafka.dead_letter_topic, {}, bytes, h);
  }

  void dr_cb(RdKafka::Message& m) override {
    if (m.err() != RdKafka::ERR_NO_ERROR) {
      ++failed_;
      klog().error("delivery to {} failed: {}", m.topic_name(), m.errstr());
    } else if (m.msg_opaque() != nullptr) {
      const auto sent = static_cast<Clock::rep>(reinterpret_cast<std::intptr_t>(m.msg_opaque()));
      publish_latency_.observe(
          std::chrono::duration<double>(Clock::now().time_since_epoch() - Clock::duration(sent)).count());
    }
  }
  const processor::LatencyHistogram& publish_latency() const { return publish_latency_; }

  // Waits until everything produced so far is acknowledged. False when
  // something failed or did not make it within the bound.
  bool flush(milliseconds bound) {
    producer_->flush(static_cast<int>(bound.count()));
    return producer_->outq_len() == 0 && failed_ == 0;
  }
  void poll() { producer_->poll(0); }
  std::uint64_t failed() const { return failed_; }

 private:
  void produce(const std::string& topic, std::string_view key, std::string_view value, RdKafka::Headers* headers,
               void* opaque = nullptr) {
    while (true) {
      const RdKafka::ErrorCode e = producer_->produce(
          topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
          value.size(), key.empty() ? nullptr : key.data(), key.size(), 0, headers, opaque);
      if (e == RdKafka::ERR_NO_ERROR) return;
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

  const config::Config& c_;
  std::string input_topic_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::string value_;
  std::uint64_t failed_{0};
  processor::LatencyHistogram publish_latency_;
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

class Task final : public RdKafka::RebalanceCb {
 public:
  Task(const config::Config& c, processor::MetricsServer* metrics)
      : c_(c), opts_(make_opts(c)), publisher_(c, c.kafka.input_topic),
        engine_(opts_, store_, publisher_, publisher_), metrics_(metrics) {
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
  }

  int run() {
    const RdKafka::ErrorCode e = consumer_->subscribe({c_.kafka.input_topic});
    if (e != RdKafka::ERR_NO_ERROR) {
      klog().error("subscribe to {}: {}", c_.kafka.input_topic, RdKafka::err2str(e));
      return 1;
    }
    klog().info("consuming {} as group {} from {}", c_.kafka.input_topic, c_.application_id, c_.kafka.brokers);
    auto last_commit = Clock::now();
    auto last_idle_check = Clock::now();
    const auto start = Clock::now();
    int status = 0;
    while (g_stop == 0) {
      std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
      handle(*m);
      publisher_.poll();
      const auto now = Clock::now();
      if (now - last_idle_check >= milliseconds(100)) {
        last_idle_check = now;
        mark_idle(now);
        publish_metrics();
      }
      if (c_.until_end && assigned_once_ && all_done()) break;
      if (now - last_commit >= c_.commit_interval) {
        if (!commit(false)) status = 1;
        last_commit = now;
        if (publisher_.failed() > 0) break;
      }
    }
    if (c_.until_end && g_stop == 0 && publisher_.failed() == 0) {
      engine_.finish();
      if (!commit(true)) status = 1;
    } else if (!commit(false)) {
      status = 1;
    }
    if (publisher_.failed() > 0) status = 1;
    publish_metrics();
    consumer_->close();
    const processor::LatencyHistogram& lat = publisher_.publish_latency();
    if (lat.count > 0) {
      klog().info("results readable on {} {:.1f} ms on average after the watermark passed their end (max {:.1f} ms, {} results)",
                  c_.kafka.output_topic, lat.sum / static_cast<double>(lat.count) * 1000, lat.max * 1000, lat.count);
    }
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    klog().info("{}", processor::summary_line(engine_.stats(), secs, engine_.counter().peak_pairs(),
                                                engine_.counter().peak_bytes()));
    return status;
  }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& parts) override {
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      resume_from_commits(parts);
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
        engine_.assign_partition(tp->partition());
        klog().info("assigned {}[{}]", tp->topic(), tp->partition());
      }
      assigned_once_ = true;
      consumer->incremental_assign(parts);
    } else {
      // Revoked: commit what is safe for these partitions before letting go.
      commit(false);
      for (RdKafka::TopicPartition* tp : parts) {
        engine_.revoke_partition(tp->partition());
        partitions_.erase(tp->partition());
        klog().info("revoked {}[{}]", tp->topic(), tp->partition());
      }
      consumer->incremental_unassign(parts);
    }
  }

 private:
  static processor::EngineOptions make_opts(const config::Config& c) {
    processor::EngineOptions o = processor::make_engine_options(c);
    o.partitions = 0;  // partitions come with assignments
    return o;
  }

  void handle(RdKafka::Message& m) {
    switch (m.err()) {
      case RdKafka::ERR_NO_ERROR: {
        PartitionState& ps = partitions_[m.partition()];
        ps.last_message = Clock::now();
        ps.next = m.offset() + 1;
        const processor::SourcePosition pos{m.partition(), m.offset()};
        const std::size_t len = m.len();
        const char* bytes = static_cast<const char*>(m.payload());
        if (bytes == nullptr || std::all_of(bytes, bytes + len, [](char ch) {
              return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
            })) {
          // A tombstone or a blank value: the Kafka twin of a blank line.
          engine_.note_blank();
        } else if (len > opts_.max_frame_bytes) {
          engine_.process_too_large(
              std::string_view(static_cast<const char*>(m.payload()), std::min<std::size_t>(len, 1024)), len, pos);
        } else {
          // Kafka's buffers are not padded for simdjson: copy (2 KB, cheap
          // next to parsing it).
          if (len > 0) std::memcpy(padded_.data(), m.payload(), len);
          engine_.process(padded_.data(), len, pos);
        }
        break;
      }
      case RdKafka::ERR__PARTITION_EOF: {
        auto it = partitions_.find(m.partition());
        if (it != partitions_.end() && c_.until_end && m.offset() >= it->second.end) {
          if (!it->second.done) klog().info("partition {} reached its end offset {}", m.partition(), m.offset());
          it->second.done = true;
          engine_.set_partition_idle(m.partition(), true);
        }
        break;
      }
      case RdKafka::ERR__TIMED_OUT:
        break;
      default:
        klog().warn("consumer: {}", m.errstr());
    }
  }

  void publish_metrics() {
    if (metrics_ == nullptr) return;
    processor::MetricsSnapshot s = processor::snapshot_of(engine_, store_);
    s.ready = assigned_once_;
    s.commits = commits_;
    s.result_publish = publisher_.publish_latency();
    for (const auto& [p, ps] : partitions_) {
      std::int64_t low = 0, high = 0;
      if (ps.next >= 0 &&
          consumer_->get_watermark_offsets(c_.kafka.input_topic, p, &low, &high) == RdKafka::ERR_NO_ERROR &&
          high >= 0) {
        s.consumer_lag[p] = std::max<std::int64_t>(0, high - ps.next);
      }
    }
    metrics_->publish(std::move(s));
  }

  void mark_idle(Clock::time_point now) {
    for (auto& [p, ps] : partitions_) {
      if (now - ps.last_message >= c_.engine.idle_timeout) engine_.set_partition_idle(p, true);
    }
  }

  bool all_done() const {
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
          engine_.resume_partition(tp.partition, next, wm);
          klog().info("partition {}: resuming at offset {} (processed up to {}, watermark {})", tp.partition,
                       tp.offset, next, wm);
        }
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
  }

  // Commits, per partition, the offset a restart must re-read from. Only
  // after the producer acknowledged every result and reject produced so far.
  bool commit(bool everything_emitted) {
    const auto started = Clock::now();
    struct Observe {
      processor::LatencyHistogram& h;
      Clock::time_point t0;
      ~Observe() { h.observe(std::chrono::duration<double>(Clock::now() - t0).count()); }
    } observe{commits_, started};
    if (!publisher_.flush(milliseconds(60000))) {
      klog().error("not committing offsets: {} deliveries failed or pending", publisher_.failed());
      return false;
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(partitions_.size()));
    std::vector<std::string> metadata;
    metadata.reserve(partitions_.size());
    for (const auto& [p, ps] : partitions_) {
      if (ps.next < 0) continue;
      const std::int64_t offset = everything_emitted ? ps.next : engine_.safe_offset(p, ps.next);
      rd_kafka_topic_partition_t* tp = rd_kafka_topic_partition_list_add(list, c_.kafka.input_topic.c_str(), p);
      tp->offset = offset;
      metadata.push_back(commit_metadata(engine_.watermark_ms(), ps.next));
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

  const config::Config& c_;
  processor::EngineOptions opts_;
  state::MemoryStore store_;
  Publisher publisher_;
  processor::Engine engine_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::map<std::int32_t, PartitionState> partitions_;
  std::vector<char> padded_;
  bool assigned_once_{false};
  processor::MetricsServer* metrics_;
  processor::LatencyHistogram commits_;
};

void ensure_topics_with_retry(const config::Config& c) {
  const std::vector<TopicSpec> topics{
      {c.kafka.input_topic, c.kafka.create_partitions, c.kafka.replication_factor, {}},
      {c.kafka.output_topic, c.kafka.create_partitions, c.kafka.replication_factor, {{"cleanup.policy", "compact"}}},
      {c.kafka.dead_letter_topic, c.kafka.create_partitions, c.kafka.replication_factor, {}},
  };
  auto backoff = milliseconds(500);
  while (g_stop == 0) {
    try {
      ensure_topics(c.kafka.brokers, topics, milliseconds(10000));
      return;
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
  try {
    if (c.guarantee == config::Guarantee::exactly_once) {
      klog().error(
          "processing_guarantee: exactly_once needs the RocksDB state store and changelog, which this version "
          "does not have yet; use at_least_once");
      return 2;
    }
    std::unique_ptr<processor::MetricsServer> metrics;
    if (!c.metrics_address.empty()) {
      metrics = std::make_unique<processor::MetricsServer>(c.metrics_address);
      klog().info("metrics on http://{}:{}/metrics", c.metrics_address.substr(0, c.metrics_address.rfind(':')),
                  metrics->port());
    }
    ensure_topics_with_retry(c);
    if (g_stop != 0) return 0;
    Task task(c, metrics.get());
    return task.run();
  } catch (const KafkaError& e) {
    klog().error("{}", e.what());
    return 2;
  } catch (const std::runtime_error& e) {
    klog().error("{}", e.what());
    return 2;
  }
}

}  // namespace uniqd::kafka
