#include "kafka/record_collector.h"
#include "kafka/log.h"

#include <spdlog/spdlog.h>

#include "kafka/client.h"
#include "processor/logging.h"
#include "processor/result_json.h"

namespace uniqd::kafka {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

TopicNames TopicNames::of(const config::Config& c) {
  TopicNames t;
  t.input = c.kafka.input_topic;
  t.output = c.kafka.output_topic;
  t.dead_letter = c.kafka.dead_letter_topic;
  t.repartition = c.application_id + "-repartition";
  t.partials = c.application_id + "-partials";
  t.changelog = c.application_id + "-changelog";
  t.ingest_changelog = c.application_id + "-ingest-changelog";
  t.sum_changelog = c.application_id + "-sum-changelog";
  return t;
}

RecordCollector::RecordCollector(const config::Config& c, const TopicNames& topics, const std::string& transactional_id)
    : c_(c), topics_(topics) {
  Properties defaults{{"bootstrap.servers", c.kafka.brokers},
                      {"enable.idempotence", "true"},
                      {"acks", "all"},
                      {"linger.ms", "5"},
                      {"compression.type", "lz4"},
                      // One record may carry a whole frame (a dead letter, a
                      // late frame's repartition entry): librdkafka's own
                      // limit (1,000,000) is below max_frame_bytes' 1 MiB.
                      {"message.max.bytes", std::to_string(record_bytes_limit(c))},
                      {"client.id", c.application_id + "-producer"}};
  if (!transactional_id.empty()) {
    transactional_ = true;
    defaults["transactional.id"] = transactional_id;
    // A broker restart must fit in a transaction; the default (60 s) does.
    defaults["transaction.timeout.ms"] = "60000";
    // A transaction begun right after a commit finds the broker still
    // writing the last one's markers (CONCURRENT_TRANSACTIONS) and waits one
    // retry backoff: 100 ms by default, per hop of the task chain at the end
    // of input. Kafka's own producer waits 20 ms in that case.
    defaults["retry.backoff.ms"] = "20";
  }
  auto conf = make_conf(defaults, c.kafka.producer, "kafka.producer");
  std::string err;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), err) != RdKafka::Conf::CONF_OK) {
    throw KafkaError("dr_cb: " + err);
  }
  producer_.reset(RdKafka::Producer::create(conf.get(), err));
  if (!producer_) throw KafkaError("kafka.producer: the producer cannot be made with these properties: " + err);
}

void RecordCollector::learn_topics() {
  // A topic it may not even describe lacks its WRITE ACL: reported there,
  // before anything is written (kafka/client.h).
  kafka::learn_topics(*producer_,
                      {topics_.output, topics_.dead_letter, topics_.repartition, topics_.partials, topics_.changelog,
                       topics_.ingest_changelog, topics_.sum_changelog},
                      std::chrono::milliseconds(5000));
}

void RecordCollector::emit(const processor::WindowResult& r) {
  value_.clear();
  processor::append_result_json(value_, r);
  const std::string key = processor::result_key(r);
  const std::string_view v(value_);
  // The emission time rides in the message's opaque pointer to dr_cb.
  const auto now = Clock::now().time_since_epoch().count();
  produce(topics_.output, RdKafka::Topic::PARTITION_UA, key, &v, nullptr,
          reinterpret_cast<void*>(static_cast<std::intptr_t>(now)));
}

void RecordCollector::reject(processor::RejectReason reason, std::string_view bytes,
                             const processor::SourcePosition& pos, std::uint64_t full_size) {
  RdKafka::Headers* h = RdKafka::Headers::create();
  h->add("uniqd.reason", std::string(processor::reject_reason_name(reason)));
  h->add("uniqd.topic", topics_.input);
  h->add("uniqd.partition", std::to_string(pos.partition));
  h->add("uniqd.offset", std::to_string(pos.offset));
  if (bytes.empty()) {
    h->add("uniqd.frame", "omitted");
  } else if (full_size > bytes.size()) {
    h->add("uniqd.truncated", "true");
    h->add("uniqd.bytes", std::to_string(full_size));
  }
  produce(topics_.dead_letter, RdKafka::Topic::PARTITION_UA, {}, &bytes, h);
}

void RecordCollector::internal(const std::string& topic, std::int32_t partition, std::string_view key,
                               const std::string_view* value) {
  internal_bytes_ += key.size() + (value != nullptr ? value->size() : 0);
  produce(topic, partition, key, value, nullptr);
}

namespace {

bool refused_for_good(RdKafka::ErrorCode e) {
  return e == RdKafka::ERR_MSG_SIZE_TOO_LARGE || e == RdKafka::ERR_RECORD_LIST_TOO_LARGE;
}

}  // namespace

void RecordCollector::refuse(const std::string& topic, RdKafka::ErrorCode e, std::size_t bytes) {
  if (refused_++ > 0) return;
  refused_what_ =
      "a record of " + std::to_string(bytes) + " bytes to " + topic + " was refused: " + RdKafka::err2str(e);
  if (refused_for_good(e)) {
    refused_what_ += " (raise kafka.producer.message.max.bytes and the topic's max.message.bytes above " +
                     std::to_string(bytes) + ", or lower max_frame_bytes)";
  }
}

void RecordCollector::dr_cb(RdKafka::Message& m) {
  if (m.err() != RdKafka::ERR_NO_ERROR) {
    ++failed_;
    if (refused_for_good(m.err())) refuse(m.topic_name(), m.err(), m.len());
    // A refused WRITE ends uniqd (kafka/client.h).
    if (report_if_denied(m.err(), Access{m.topic_name(), "WRITE", "", "", "IDEMPOTENT_WRITE"})) return;
    if (m.err() == RdKafka::ERR__PURGE_QUEUE || m.err() == RdKafka::ERR__PURGE_INFLIGHT) {
      // An aborted transaction takes its unsent records back: expected, and
      // its input is read again (the abort is logged once, by the manager).
      klog().debug("delivery to {} cancelled: {}", m.topic_name(), m.errstr());
      return;
    }
    klog().error("delivery to {} failed: {}", m.topic_name(), m.errstr());
  } else if (m.msg_opaque() != nullptr) {
    const auto sent = static_cast<Clock::rep>(reinterpret_cast<std::intptr_t>(m.msg_opaque()));
    // Under exactly_once a result is readable by a read_committed consumer
    // only once its transaction commits: observed then (committed()).
    in_transaction_.push_back(sent);
  } else if (m.topic_name() == topics_.changelog) {
    std::int64_t& next = changelog_next_[m.partition()];
    next = std::max(next, m.offset() + 1);
  }
}

bool RecordCollector::flush(std::chrono::milliseconds bound) {
  producer_->flush(static_cast<int>(bound.count()));
  return producer_->outq_len() == 0 && failed_ == 0;
}

void RecordCollector::forget_failures() {
  failed_ = 0;
  refused_ = 0;
  refused_what_.clear();
  uncommitted_ = 0;
  in_transaction_.clear();
}

void RecordCollector::committed() {
  const auto now = Clock::now().time_since_epoch();
  for (const Clock::rep sent : in_transaction_) {
    publish_latency_.observe(std::chrono::duration<double>(now - Clock::duration(sent)).count());
  }
  in_transaction_.clear();
  uncommitted_ = 0;
}

void RecordCollector::produce(const std::string& topic, std::int32_t partition, std::string_view key,
                              const std::string_view* value, RdKafka::Headers* headers, void* opaque) {
  while (true) {
    const RdKafka::ErrorCode e = producer_->produce(
        topic, partition, RdKafka::Producer::RK_MSG_COPY, value != nullptr ? const_cast<char*>(value->data()) : nullptr,
        value != nullptr ? value->size() : 0, key.empty() ? nullptr : key.data(), key.size(), 0, headers, opaque);
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
    refuse(topic, e, value != nullptr ? value->size() : 0);
    klog().error("produce to {} failed: {}", topic, RdKafka::err2str(e));
    return;
  }
}

}  // namespace uniqd::kafka
