// Every record a replica writes goes out through one RecordCollector (Kafka
// Streams' name for it): one idempotent producer, transactional under
// exactly_once, so that one transaction per commit carries the results, dead
// letters, internal topics' batches, changelog records and the consumed
// offsets of every task of the replica (exactly_once_v2: one producer per
// replica, fenced through the consumer group's generation).
//
// A delivery that finally fails makes the next commit fail: under
// at_least_once the offsets are not committed, in a transaction it aborts.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "processor/engine.h"
#include "processor/metrics.h"

namespace uniqd::kafka {

// The topics of one application (docs/SCALE_OUT.md).
struct TopicNames {
  std::string input;
  std::string output;
  std::string dead_letter;
  std::string repartition;       // <application_id>-repartition: shard = partition
  std::string partials;          // <application_id>-partials: per-shard window counts
  std::string changelog;         // <application_id>-changelog: count tasks' pairs and snapshots
  std::string ingest_changelog;  // <application_id>-ingest-changelog: ingest tasks' partition state
  std::string sum_changelog;     // <application_id>-sum-changelog: sum tasks' state
  static TopicNames of(const config::Config& c);
};

class RecordCollector final : public processor::ResultSink,
                              public processor::RejectSink,
                              public RdKafka::DeliveryReportCb {
 public:
  // transactional_id empty: at_least_once (idempotent, not transactional).
  RecordCollector(const config::Config& c, const TopicNames& topics, const std::string& transactional_id);

  // Looks up the topics it writes to, so that the first records go out as
  // they are produced (a producer learns a new topic's leaders lazily and
  // meanwhile holds its records; measured 1.2 s). Best effort.
  void learn_topics();

  // A result (output topic, key <window>/<start_ts>).
  void emit(const processor::WindowResult& r) override;
  // A dead letter with its reason and input position as headers. An empty
  // `bytes` is a late frame whose bytes did not travel with it (see
  // internal_records.h): the headers still name its input offset.
  void reject(processor::RejectReason reason, std::string_view bytes, const processor::SourcePosition& pos,
              std::uint64_t full_size) override;
  // Any record of an internal topic; value nullptr is a tombstone.
  void internal(const std::string& topic, std::int32_t partition, std::string_view key, const std::string_view* value);

  void dr_cb(RdKafka::Message& m) override;

  // Per changelog partition, the offset after the last record acknowledged.
  const std::map<std::int32_t, std::int64_t>& changelog_next() const { return changelog_next_; }
  const processor::LatencyHistogram& publish_latency() const { return publish_latency_; }

  // Waits until everything produced so far is acknowledged. False when
  // something failed or did not make it within the bound.
  bool flush(std::chrono::milliseconds bound);
  void poll() { producer_->poll(0); }
  std::uint64_t failed() const { return failed_; }
  // Records the producer refused outright (too large for
  // message.max.bytes or the topic's max.message.bytes, an unknown topic):
  // producing them again fails again, so a transaction holding one must
  // not commit, nor be retried. refused_what() says the first.
  std::uint64_t refused() const { return refused_; }
  const std::string& refused_what() const { return refused_what_; }
  RdKafka::Producer& producer() { return *producer_; }
  // After an abort: what failed belonged to the aborted transaction.
  void forget_failures();
  // The transaction committed (or, at_least_once, the offsets): its results
  // became readable now.
  void committed();
  // Records produced since the last commit (or abort).
  std::uint64_t uncommitted() const { return uncommitted_; }
  std::uint64_t internal_bytes() const { return internal_bytes_; }

 private:
  void produce(const std::string& topic, std::int32_t partition, std::string_view key, const std::string_view* value,
               RdKafka::Headers* headers, void* opaque = nullptr);
  void refuse(const std::string& topic, RdKafka::ErrorCode e, std::size_t bytes);

  const config::Config& c_;
  TopicNames topics_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::string value_;
  std::uint64_t failed_{0};
  std::uint64_t refused_{0};
  std::string refused_what_;
  processor::LatencyHistogram publish_latency_;
  std::map<std::int32_t, std::int64_t> changelog_next_;
  bool transactional_{false};
  std::vector<std::int64_t> in_transaction_;  // emission times of results acknowledged, not yet committed
  std::uint64_t uncommitted_{0};
  std::uint64_t internal_bytes_{0};
};

}  // namespace uniqd::kafka
