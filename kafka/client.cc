#include "kafka/client.h"

#include <librdkafka/rdkafka.h>

#include "processor/logging.h"

namespace uniqd::kafka {
namespace {

// librdkafka's severities are syslog's: 0-3 errors, 4 warning, 5-6 notice
// and info, 7 debug.
spdlog::level::level_enum level_of(int severity) {
  if (severity <= 3) return spdlog::level::err;
  if (severity == 4) return spdlog::level::warn;
  if (severity <= 6) return spdlog::level::info;
  return spdlog::level::debug;
}

spdlog::logger& rdlog() {
  static const std::shared_ptr<spdlog::logger> log = processor::component_logger("rdkafka");
  return *log;
}

// librdkafka writes its logs and errors to stderr by itself, in its own
// format; through this bridge they go to uniqd's log (text or JSON lines)
// with the other components'. Called from librdkafka's threads: spdlog
// loggers are thread-safe.
class LogBridge final : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& e) override {
    switch (e.type()) {
      case RdKafka::Event::EVENT_LOG:
        rdlog().log(level_of(static_cast<int>(e.severity())), "{} {}", e.fac(), e.str());
        break;
      case RdKafka::Event::EVENT_ERROR:
        // Mostly transient (brokers down, timeouts): the clients retry.
        rdlog().log(e.fatal() ? spdlog::level::err : spdlog::level::warn, "{}: {}", RdKafka::err2str(e.err()),
                    e.str());
        break;
      case RdKafka::Event::EVENT_THROTTLE:
        rdlog().debug("throttled {} ms by broker {}", e.throttle_time(), e.broker_name());
        break;
      default:
        break;
    }
  }
};

LogBridge g_log_bridge;  // static storage: outlives every client

void c_log_cb(const rd_kafka_t* /*rk*/, int level, const char* fac, const char* buf) {
  rdlog().log(level_of(level), "{} {}", fac, buf);
}

}  // namespace

std::unique_ptr<RdKafka::Conf> make_conf(const Properties& defaults, const Properties& user,
                                         const std::string& section) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&g_log_bridge), err) != RdKafka::Conf::CONF_OK) {
    throw KafkaError("event_cb: " + err);
  }
  for (const auto& [k, v] : defaults) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw KafkaError("built-in property " + k + ": " + err);
  }
  for (const auto& [k, v] : user) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw KafkaError(section + "." + k + ": " + err);
  }
  return conf;
}

void ensure_topics(const std::string& brokers, const std::vector<TopicSpec>& topics,
                   std::chrono::milliseconds timeout) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw KafkaError(std::string("kafka.brokers: ") + err);
  }
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_conf_set_log_cb(conf, c_log_cb);
  std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)> rk(
      rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err), &rd_kafka_destroy);
  if (!rk) throw KafkaError(std::string("admin client: ") + err);

  std::vector<rd_kafka_NewTopic_t*> specs;
  for (const TopicSpec& t : topics) {
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, t.replication_factor, err, sizeof err);
    if (nt == nullptr) throw KafkaError("topic " + t.name + ": " + err);
    for (const auto& [k, v] : t.configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
    specs.push_back(nt);
  }
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(rd_kafka_queue_new(rk.get()),
                                                                             &rd_kafka_queue_destroy);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, static_cast<int>(timeout.count()), err, sizeof err);
  rd_kafka_CreateTopics(rk.get(), specs.data(), specs.size(), opts, queue.get());
  rd_kafka_event_t* ev = rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 2000);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy_array(specs.data(), specs.size());
  if (ev == nullptr) throw KafkaError("creating topics: no answer from " + brokers);
  std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> guard(ev, &rd_kafka_event_destroy);
  if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError(std::string("creating topics on ") + brokers + ": " + rd_kafka_event_error_string(ev));
  }
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
  std::size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
  for (std::size_t i = 0; i < n; ++i) {
    const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      const char* msg = rd_kafka_topic_result_error_string(results[i]);
      throw KafkaError(std::string("topic ") + rd_kafka_topic_result_name(results[i]) + ": " +
                       (msg != nullptr ? msg : rd_kafka_err2str(e)));
    }
  }
}

int partition_count(RdKafka::Handle& handle, const std::string& topic, std::chrono::milliseconds timeout) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&handle, topic, nullptr, err));
  if (!t) throw KafkaError("topic " + topic + ": " + err);
  RdKafka::Metadata* md = nullptr;
  const RdKafka::ErrorCode e = handle.metadata(false, t.get(), &md, static_cast<int>(timeout.count()));
  std::unique_ptr<RdKafka::Metadata> guard(md);
  if (e != RdKafka::ERR_NO_ERROR) throw KafkaError("metadata for " + topic + ": " + RdKafka::err2str(e));
  for (const RdKafka::TopicMetadata* tm : *md->topics()) {
    if (tm->topic() == topic) {
      if (tm->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) return -1;
      return static_cast<int>(tm->partitions()->size());
    }
  }
  return -1;
}

}  // namespace uniqd::kafka
