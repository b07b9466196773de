#include "kafka/task.h"
#include "kafka/log.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <fcntl.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "kafka/client.h"
#include "kafka/stream_thread.h"
#include "processor/logging.h"
#include "processor/metrics.h"
#include "processor/stop_signal.h"

namespace uniqd::kafka {
namespace {

using std::chrono::milliseconds;

// Retries what the broker may answer later (it may be starting) until stop.
template <class Fn>
bool with_retry(const char* what, Fn fn) {
  auto backoff = milliseconds(500);
  while (!processor::stop_requested()) {
    try {
      fn();
      return true;
    } catch (const AuthorizationError&) {
      throw;  // reported already; retrying cannot help
    } catch (const KafkaError& e) {
      klog().warn("{}: {} (retrying in {} ms)", what, e.what(), backoff.count());
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, milliseconds(10000));
    }
  }
  return false;
}

int input_partitions(const config::Config& c, const std::string& topic) {
  auto conf = make_conf({{"bootstrap.servers", c.kafka.brokers}}, {}, "metadata client");
  std::string err;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  if (!p) throw KafkaError("metadata client: " + err);
  return partition_count(*p, topic, milliseconds(10000), "READ");
}

// Internal topics must have the partition counts the application was
// started with: their partitions are its shards and input partitions.
std::string check_partitions(const config::Config& c, const TopicNames& t, int inputs) {
  auto conf = make_conf({{"bootstrap.servers", c.kafka.brokers}}, {}, "metadata client");
  std::string err;
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(conf.get(), err));
  if (!p) throw KafkaError("metadata client: " + err);
  const int shards = c.state_store.shards;
  const std::pair<const std::string*, int> want[] = {{&t.repartition, shards},
                                                     {&t.partials, shards},
                                                     {&t.changelog, shards},
                                                     {&t.sum_changelog, shards},
                                                     {&t.ingest_changelog, inputs}};
  for (const auto& [name, n] : want) {
    if (c.input_partitioned_by == config::InputPartitioning::uid && name == &t.repartition) continue;
    // Just created: the broker's metadata lags its CreateTopics answer by a
    // few milliseconds, so look again soon (for up to 2 s) before the slow retry.
    int have = -1;
    const std::string& topic = *name;  // clang before 16 cannot capture a structured binding
    ask_until(std::chrono::steady_clock::now() + std::chrono::seconds(2), milliseconds(20), processor::stop_requested,
              [&] { return (have = partition_count(*p, topic, milliseconds(10000), "READ")) >= 0; });
    if (have < 0) throw KafkaError("topic " + *name + " not visible yet");
    if (have != n) {
      return "topic " + *name + " has " + std::to_string(have) + " partitions, but this application needs " +
             std::to_string(n) +
             " (state_store.shards and the input's partition count are fixed for an application's life; to "
             "change them, reset it: scripts/reset-application, docs/SCALE_OUT.md)";
    }
  }
  return {};
}

// The state topics must be compacted: with cleanup.policy=delete the broker
// would drop a live window's pairs after retention.ms, and a restore would
// silently count fewer users. An existing topic made by hand is checked.
std::string check_compacted(const config::Config& c, const std::vector<std::string>& topics) {
  auto conf = make_conf({{"bootstrap.servers", c.kafka.brokers}, {"log_level", "3"}}, {}, "admin");
  std::string cerr;
  std::unique_ptr<RdKafka::Producer> admin(RdKafka::Producer::create(conf.get(), cerr));
  if (!admin) throw KafkaError("admin client: " + cerr);
  rd_kafka_t* rk = admin->c_ptr();
  std::vector<rd_kafka_ConfigResource_t*> res;
  for (const std::string& t : topics) res.push_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t.c_str()));
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(rd_kafka_queue_new(rk),
                                                                             &rd_kafka_queue_destroy);
  rd_kafka_DescribeConfigs(rk, res.data(), res.size(), nullptr, queue.get());
  rd_kafka_ConfigResource_destroy_array(res.data(), res.size());
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), 15000);
  if (ev == nullptr) throw KafkaError("describing the state topics' configuration: no answer");
  std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> guard(ev, &rd_kafka_event_destroy);
  if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError(std::string("describing the state topics' configuration: ") + rd_kafka_event_error_string(ev));
  }
  std::size_t n = 0;
  const rd_kafka_ConfigResource_t** got =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
  for (std::size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(got[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) continue;  // checked elsewhere
    std::size_t m = 0;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(got[i], &m);
    for (std::size_t j = 0; j < m; ++j) {
      if (std::string_view(rd_kafka_ConfigEntry_name(entries[j])) != "cleanup.policy") continue;
      const char* v = rd_kafka_ConfigEntry_value(entries[j]);
      if (v == nullptr || std::string_view(v).find("compact") == std::string_view::npos) {
        const std::string name = rd_kafka_ConfigResource_name(got[i]);
        return "topic " + name + " has cleanup.policy=" + (v != nullptr ? v : "") +
               ", but uniqd's state topics must be compacted (or the broker deletes live state): kafka-configs "
               "--alter --entity-type topics --entity-name " +
               name + " --add-config cleanup.policy=compact";
      }
    }
  }
  return {};
}

std::string default_replica_id(const std::string& state_path) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "uniqd");
  const std::size_t h = std::hash<std::string>{}(std::filesystem::absolute(state_path).lexically_normal().string());
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(h & 0xffffffffu));
  return std::string(host) + "-" + suffix;
}

// One process per state directory: two replicas sharing one would share a
// transactional id and fence each other, and RocksDB allows one writer.
class StateDirLock {
 public:
  explicit StateDirLock(const std::string& dir) {
    const std::string path = (std::filesystem::path(dir) / "LOCK.uniqd").string();
    fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error("state_dir: cannot open " + path + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw std::runtime_error("state_dir: " + dir +
                               " is in use by another uniqd process (replicas on one machine need their own "
                               "--state-dir)");
    }
  }
  ~StateDirLock() { ::close(fd_); }
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;

 private:
  int fd_{-1};
};

}  // namespace

int run_task(const config::Config& c) {
  processor::install_stop_signal_handlers();
  if (!c.rejects_path.empty()) {
    klog().warn(
        "rejects_path '{}' is for file and stdin input: in Kafka mode rejected frames go to the dead-letter "
        "topic {}",
        c.rejects_path, c.kafka.dead_letter_topic);
  }
  // The kafka.client block, redaction, and a stop on fatal failures (kafka/client.h).
  prepare_clients(c, [] { processor::request_stop(); });
  // Before anything is created on the broker.
  if (const std::string bad = check_client_properties(c); !bad.empty()) {
    klog().error("config: {}", bad);
    return 2;
  }
  try {
    std::unique_ptr<processor::MetricsServer> metrics;
    if (!c.metrics_address.empty()) {
      metrics = std::make_unique<processor::MetricsServer>(c.metrics_address);
      klog().info("metrics on http://{}:{}/metrics", c.metrics_address.substr(0, c.metrics_address.rfind(':')),
                  metrics->port());
    }
    ReplicaSetup setup;
    setup.topics = TopicNames::of(c);
    setup.state_path = (std::filesystem::path(c.state_dir) / c.application_id).string();
    std::error_code ec;
    std::filesystem::create_directories(setup.state_path, ec);
    if (ec) throw std::runtime_error("state_dir: cannot create " + setup.state_path + ": " + ec.message());
    StateDirLock lock(setup.state_path);
    const std::string replica = c.replica_id.empty() ? default_replica_id(setup.state_path) : c.replica_id;
    setup.transactional_id = c.application_id + "-" + replica;

    const TopicNames& t = setup.topics;
    const int rf = c.kafka.replication_factor;
    const std::string record_limit = std::to_string(record_bytes_limit(c));
    const bool ok = with_retry("creating topics", [&] {
      ensure_topics(c.kafka.brokers,
                    {{t.input, c.kafka.create_partitions, rf, {}},
                     {t.output, c.kafka.create_partitions, rf, {{"cleanup.policy", "compact"}}},
                     {t.dead_letter, c.kafka.create_partitions, rf, {{"max.message.bytes", record_limit}}}},
                    milliseconds(10000));
      setup.input_partitions = input_partitions(c, t.input);
      if (setup.input_partitions <= 0) throw KafkaError("topic " + t.input + " not found after creating it");
      const int shards = c.state_store.shards;
      std::vector<TopicSpec> internal{
          {t.partials, shards, rf, {}},
          {t.changelog, shards, rf, {{"cleanup.policy", "compact"}}},
          {t.sum_changelog, shards, rf, {{"cleanup.policy", "compact"}}},
          {t.ingest_changelog, setup.input_partitions, rf, {{"cleanup.policy", "compact"}}}};
      if (c.input_partitioned_by != config::InputPartitioning::uid) {
        internal.push_back({t.repartition, shards, rf, {{"max.message.bytes", record_limit}}});
      }
      ensure_topics(c.kafka.brokers, internal, milliseconds(10000));
    });
    if (!ok) return fatal_failure() ? 1 : 0;  // stopped while the broker was away
    if (c.input_partitioned_by == config::InputPartitioning::uid && setup.input_partitions != c.state_store.shards) {
      klog().error("input_partitioned_by: uid needs state_store.shards ({}) equal to the partition count of {} ({})",
                   c.state_store.shards, t.input, setup.input_partitions);
      return 2;
    }
    std::string bad;
    if (!with_retry("checking topics", [&] { bad = check_partitions(c, t, setup.input_partitions); })) {
      return fatal_failure() ? 1 : 0;
    }
    if (!bad.empty()) {
      klog().error("{}", bad);
      return 2;
    }
    std::string uncompacted;
    if (!with_retry("checking the state topics", [&] {
          uncompacted = check_compacted(c, {t.changelog, t.ingest_changelog, t.sum_changelog});
        })) {
      return fatal_failure() ? 1 : 0;
    }
    if (!uncompacted.empty()) {
      klog().error("{}", uncompacted);
      return 2;
    }
    klog().info("replica {} of application {} (state in {})", replica, c.application_id, setup.state_path);
    const int rc = run_stream_thread(c, setup, metrics.get());
    return fatal_failure() ? 1 : rc;
  } catch (const AuthorizationError&) {
    return 1;  // reported (logged) already
  } catch (const KafkaError& e) {
    klog().error("{}", e.what());
    return 2;
  } catch (const std::runtime_error& e) {
    klog().error("{}", e.what());
    return 2;
  }
}

}  // namespace uniqd::kafka
