// librdkafka plumbing shared by the task, the tools and the tests: handles
// owned by unique_ptr, configuration with errors that name the property, and
// topic creation through the admin API.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace uniqd::kafka {

// A setup-time failure (bad property, unreachable admin call); messages name
// the property or topic at fault.
class KafkaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Properties = std::map<std::string, std::string>;

// Builds a global configuration: defaults first, then the user's properties
// (which win). `section` names where user properties come from, for errors
// ("kafka.consumer").
std::unique_ptr<RdKafka::Conf> make_conf(const Properties& defaults, const Properties& user,
                                         const std::string& section);

struct TopicSpec {
  std::string name;
  int partitions{4};
  int replication_factor{1};
  Properties configs;  // e.g. cleanup.policy=compact
};

// Creates the topics that do not exist yet; existing ones are left as they
// are. Throws KafkaError when the broker cannot be reached within timeout or
// refuses for another reason than "already exists".
void ensure_topics(const std::string& brokers, const std::vector<TopicSpec>& topics,
                   std::chrono::milliseconds timeout);

// Partition count of a topic, or -1 when it does not exist.
int partition_count(RdKafka::Handle& handle, const std::string& topic, std::chrono::milliseconds timeout);

}  // namespace uniqd::kafka
