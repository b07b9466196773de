// uniqd-gen --kafka: produces each generated line as one Kafka message.
// Partitions are chosen here, not by librdkafka, so a test can rebuild every
// partition's stream from the same options: key uid → by the user's pool
// index (one user, one partition), key none → round robin by line.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace uniqd::gen {

struct KafkaSinkOptions {
  std::string brokers;
  std::string topic;
  bool key_by_uid{true};
  int partitions{4};
  // librdkafka properties of every connection (TLS, SASL): uniqd's kafka.client.
  std::map<std::string, std::string> client;
};

class KafkaSink {
 public:
  explicit KafkaSink(const KafkaSinkOptions& o);
  ~KafkaSink();
  // lines: generated output; truth: the matching truth lines (one per line).
  void write(std::string& lines, std::string& truth);
  // Waits for every delivery; exits with a message on failure.
  void close();
  // Which partition line/truth pair goes to (also used by tests).
  static int partition_for(const KafkaSinkOptions& o, std::uint64_t line_no, std::int64_t user);
  const std::vector<std::uint64_t>& per_partition() const { return per_partition_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  KafkaSinkOptions o_;
  std::uint64_t line_no_{0};
  std::vector<std::uint64_t> per_partition_;
};

}  // namespace uniqd::gen
