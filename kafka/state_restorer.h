// Reads changelog partitions to their end before a task may process
// (Kafka Streams' StoreChangelogReader): the tasks of one rebalance are
// restored together, in one pass of one consumer that is assigned, never
// subscribed, and reads only committed records.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace uniqd::kafka {

struct RestorePartition {
  std::string topic;
  std::int32_t partition{0};
  std::int64_t from{0};  // an offset, or RdKafka::Topic::OFFSET_BEGINNING
  std::int64_t next{0};  // out: the offset after the last record read (its end)
};

struct ChangelogRecord {
  std::size_t index;  // into the request vector
  std::int64_t offset;
  std::string_view key;
  const std::string_view* value;  // nullptr: a tombstone
};

class StateRestorer {
 public:
  explicit StateRestorer(const config::Config& c);
  ~StateRestorer();

  // Reads every partition from `from` to its end, handing each record to fn
  // in partition order. False (with *error naming the partition) when fn
  // refuses a record, the consumer cannot be assigned, errors persist for
  // error_budget, or stop() turns true.
  bool restore(std::vector<RestorePartition>& parts, const std::function<bool(const ChangelogRecord&)>& fn,
               const std::function<bool()>& stop, std::string* error,
               std::chrono::milliseconds error_budget = std::chrono::milliseconds(60000));

  std::uint64_t records() const { return records_; }

 private:
  void learn_leaders(const std::vector<RestorePartition>& parts, std::chrono::steady_clock::time_point until);

  std::string group_;
  std::unique_ptr<RdKafka::KafkaConsumer> reader_;
  std::uint64_t records_{0};
};

}  // namespace uniqd::kafka
