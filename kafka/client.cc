#include "kafka/client.h"
#include "kafka/log.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <array>
#include <deque>
#include <mutex>
#include <thread>

#include "config/secrets.h"
#include "processor/logging.h"

namespace uniqd::kafka {
namespace {

using Clock = std::chrono::steady_clock;

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

// Process-wide security state: the client block, the principal to name in
// ACL hints, the stop callback and the first fatal failure.
struct Security {
  std::mutex mu;
  Properties client;
  std::string principal{"User:<uniqd's principal>"};
  std::function<void()> stop;
  std::optional<std::string> fatal;
  // The topic of the last "Topic authorization failed" librdkafka logged: a
  // transaction's refusal comes back without it.
  std::string denied_topic;
};

Security& security() {
  static Security s;
  return s;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& ch : out) {
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

// The value of a property as a client made from these maps would see it.
std::string effective(std::string_view name, std::initializer_list<const Properties*> layers) {
  std::string v;
  for (const Properties* p : layers) {
    if (const auto it = p->find(std::string(name)); it != p->end()) v = it->second;
  }
  return v;
}

// librdkafka writes its logs and errors to stderr by itself, in its own
// format; through this bridge they go to uniqd's log (text or JSON lines)
// with the other components'. Errors that no retry can fix (a login
// refused, an ACL missing) are reported as fatal, naming what this client
// was for. Called from librdkafka's threads: spdlog loggers are thread-safe.
class LogBridge final : public RdKafka::EventCb {
 public:
  LogBridge(std::string group, std::string transactional_id)
      : group_(std::move(group)), transactional_id_(std::move(transactional_id)) {}

  void event_cb(RdKafka::Event& e) override {
    switch (e.type()) {
      case RdKafka::Event::EVENT_LOG:
        rdlog().log(level_of(static_cast<int>(e.severity())), "{} {}", e.fac(), e.str());
        note_denied_topic(e.str());
        break;
      case RdKafka::Event::EVENT_ERROR: {
        if (auto line = authentication_failure(e.err(), e.str())) {
          report_fatal(*line);
          break;
        }
        Access a;
        a.group = group_;
        a.transactional_id = transactional_id_;
        a.topic_operation = transactional_id_.empty() && !group_.empty() ? "READ" : "WRITE";
        // A transaction's refusal ("Failed to add partition(s) to
        // transaction ...: Topic authorization failed") does not name the
        // topic; the log line just before it does.
        note_denied_topic(e.str());
        if (auto line = authorization_failure(e.err(), a)) {
          report_fatal(*line + " (librdkafka: " + e.str() + ")");
          break;
        }
        // Mostly transient (brokers down, timeouts): the clients retry.
        rdlog().log(e.fatal() ? spdlog::level::err : spdlog::level::warn, "{}: {}", RdKafka::err2str(e.err()), e.str());
        break;
      }
      case RdKafka::Event::EVENT_THROTTLE:
        rdlog().debug("throttled {} ms by broker {}", e.throttle_time(), e.broker_name());
        break;
      default:
        break;
    }
  }

 private:
  // Remembers the quoted topic of a line that reports a topic refused.
  static void note_denied_topic(const std::string& text) {
    if (text.find("Topic authorization failed") == std::string::npos) return;
    const auto b = text.find('"');
    const auto e = b == std::string::npos ? b : text.find('"', b + 1);
    if (e == std::string::npos) return;
    Security& s = security();
    std::lock_guard lock(s.mu);
    s.denied_topic = text.substr(b + 1, e - b - 1);
  }

  std::string group_;
  std::string transactional_id_;
};

// One bridge per client made (a handful per process, a few more after
// producer replacements): librdkafka holds a plain pointer, so they live
// until exit.
LogBridge& new_bridge(std::string group, std::string transactional_id) {
  static std::mutex mu;
  static std::deque<LogBridge> bridges;
  std::lock_guard lock(mu);
  return bridges.emplace_back(std::move(group), std::move(transactional_id));
}

std::string acl_hint(std::string_view kind, std::string_view name, std::string_view operation) {
  std::string principal;
  {
    Security& s = security();
    std::lock_guard lock(s.mu);
    principal = s.principal;
  }
  const std::string op = upper(operation);
  // kafka-acls and rpk spell the resource flags alike.
  const std::string target = kind == "cluster" ? "--cluster" : "--" + std::string(kind) + " " + std::string(name);
  return "kafka-acls --add --allow-principal " + principal + " --operation " + op + " " + target +
         " (Redpanda: rpk acl create --allow-principal " + principal + " --operation " + lower(op) + " " + target + ")";
}

}  // namespace

spdlog::logger& klog() {
  static const std::shared_ptr<spdlog::logger> log = processor::component_logger("kafka");
  return *log;
}

void set_client_properties(Properties client) {
  Security& s = security();
  std::lock_guard lock(s.mu);
  s.client = std::move(client);
}

std::unique_ptr<RdKafka::Conf> make_conf(const Properties& defaults, const Properties& user,
                                         const std::string& section) {
  Properties client;
  {
    Security& s = security();
    std::lock_guard lock(s.mu);
    client = s.client;
  }
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  LogBridge& bridge = new_bridge(effective("group.id", {&defaults, &client, &user}),
                                 effective("transactional.id", {&defaults, &client, &user}));
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(&bridge), err) != RdKafka::Conf::CONF_OK) {
    throw KafkaError("event_cb: " + err);
  }
  for (const auto& [k, v] : defaults) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw KafkaError("built-in property " + k + ": " + err);
  }
  for (const auto& [k, v] : client) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw KafkaError("kafka.client." + k + ": " + err);
  }
  for (const auto& [k, v] : user) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) throw KafkaError(section + "." + k + ": " + err);
  }
  return conf;
}

std::optional<std::string> scram_warning(const config::KafkaOptions& k, int version, std::string_view version_str) {
  constexpr int kFixed = 0x020601ff;  // 2.6.1, the first release with confluentinc/librdkafka#4895
  if (version >= kFixed) return std::nullopt;
  for (const Properties* p : {&k.client, &k.consumer, &k.producer}) {
    for (const char* name : {"sasl.mechanism", "sasl.mechanisms"}) {
      const auto it = p->find(name);
      if (it == p->end() || !upper(it->second).starts_with("SCRAM")) continue;
      return "sasl.mechanism " + it->second + " with librdkafka " + std::string(version_str) +
             ": SCRAM logins to Kafka 4.x brokers fail with librdkafka older than 2.6.1 (\"invalid "
             "credentials\", confluentinc/librdkafka#4895); use a build linked with librdkafka 2.6.1 or newer "
             "(the container image), or PLAIN over TLS, or mutual TLS";
    }
  }
  return std::nullopt;
}

void prepare_clients(const config::Config& c, std::function<void()> stop) {
  for (const Properties* p : {&c.kafka.client, &c.kafka.consumer, &c.kafka.producer}) {
    for (const auto& [name, value] : *p) {
      if (config::is_secret_property(name)) processor::redact_in_logs(value);
    }
  }
  {
    Security& s = security();
    std::lock_guard lock(s.mu);
    s.client = c.kafka.client;
    s.stop = std::move(stop);
    const std::string user = effective("sasl.username", {&c.kafka.client, &c.kafka.consumer});
    if (!user.empty()) s.principal = "User:" + user;
  }
  if (auto w = scram_warning(c.kafka, RdKafka::version(), RdKafka::version_str())) klog().warn("{}", *w);
}

std::optional<std::string> authorization_failure(RdKafka::ErrorCode e, std::string_view resource_kind,
                                                 std::string_view resource, std::string_view operation) {
  switch (e) {
    case RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED:
    case RdKafka::ERR_GROUP_AUTHORIZATION_FAILED:
    case RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RdKafka::ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      break;
    default:
      return std::nullopt;
  }
  std::string what = std::string(resource_kind);
  if (resource_kind == "transactional-id") what = "transactional id";
  if (!resource.empty() && resource_kind != "cluster") what += " " + std::string(resource);
  return "not authorized: " + upper(operation) + " on " + what + " was refused (" + RdKafka::err2str(e) +
         "); add the ACL: " + acl_hint(resource_kind, resource.empty() ? "<name>" : resource, operation) +
         "; docs/SECURITY.md lists every ACL uniqd needs";
}

std::optional<std::string> authorization_failure(RdKafka::ErrorCode e, const Access& a) {
  switch (e) {
    case RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED: {
      if (!a.topic.empty()) return authorization_failure(e, "topic", a.topic, a.topic_operation);
      std::string topic;
      {
        Security& s = security();
        std::lock_guard lock(s.mu);
        topic = s.denied_topic;
      }
      return authorization_failure(e, "topic", topic, a.topic_operation);
    }
    case RdKafka::ERR_GROUP_AUTHORIZATION_FAILED:
      return authorization_failure(e, "group", a.group, "READ");
    case RdKafka::ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return authorization_failure(e, "transactional-id", a.transactional_id, "WRITE");
    case RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED:
      return authorization_failure(e, "cluster", "", a.cluster_operation);
    default:
      return std::nullopt;
  }
}

bool report_if_denied(RdKafka::ErrorCode e, const Access& a) {
  auto line = authorization_failure(e, a);
  if (line) report_fatal(*line);
  return line.has_value();
}

std::optional<std::string> authentication_failure(RdKafka::ErrorCode e, std::string_view text) {
  switch (e) {
    case RdKafka::ERR__AUTHENTICATION:
    case RdKafka::ERR_SASL_AUTHENTICATION_FAILED:
    case RdKafka::ERR_UNSUPPORTED_SASL_MECHANISM:
    case RdKafka::ERR_ILLEGAL_SASL_STATE:
      return "authentication failed: " + std::string(text) +
             "; check sasl.mechanism, sasl.username and sasl.password in kafka.client, and that the listener "
             "speaks security.protocol";
    case RdKafka::ERR__SSL: {
      // A certificate or protocol problem; a connection dropped during the
      // handshake (a broker restarting) is retried like any other.
      const std::string t = lower(text);
      for (const char* sign : {"certificate", "verify", "alert", "wrong version number", "unknown ca", "no suitable",
                               "unsupported protocol", "ssl.key", "ssl.ca"}) {
        if (t.find(sign) != std::string::npos) {
          return "TLS handshake failed: " + std::string(text) +
                 "; check ssl.ca.location (the CA that signed the broker's certificate), the client certificate "
                 "and key for mutual TLS, and that the listener speaks TLS";
        }
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

void report_fatal(const std::string& line) {
  std::function<void()> stop;
  {
    Security& s = security();
    std::lock_guard lock(s.mu);
    if (s.fatal) {
      klog().debug("also: {}", line);
      return;
    }
    s.fatal = line;
    stop = s.stop;
  }
  klog().error("{}", line);
  if (stop) stop();
}

std::optional<std::string> fatal_failure() {
  Security& s = security();
  std::lock_guard lock(s.mu);
  return s.fatal;
}

namespace {

using AdminHandle = std::unique_ptr<RdKafka::Producer>;

// Waits for the admin result on queue, serving the handle's own events
// meanwhile (a refused login arrives as one): nullptr when none came within
// timeout or a fatal failure was reported.
rd_kafka_event_t* wait_for_result(RdKafka::Producer& admin, rd_kafka_queue_t* queue,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (rd_kafka_event_t* ev = rd_kafka_queue_poll(queue, 100)) return ev;
    admin.poll(0);
    if (fatal_failure()) return nullptr;
  }
  return nullptr;
}

}  // namespace

std::string refused_user_property(const config::Config& c) {
  struct Owned {
    const char* key;
    // The values that mean what uniqd sets itself, first the one it sets
    // (empty: none allowed); librdkafka's synonyms too.
    std::array<const char*, 3> allowed;
    const char* why;
  };
  static constexpr const char* kBrokers = "the brokers are kafka.brokers (--kafka)";
  static constexpr const char* kAcks =
      "uniqd commits offsets once what they cover is on every in-sync replica (acks 1 loses it when the leader fails "
      "before its followers copied it; 0 acknowledges nothing)";
  // librdkafka's aliases are listed under their own names, so that no
  // spelling gets past.
  static constexpr Owned kOwned[] = {
      {"bootstrap.servers", {}, kBrokers},
      {"metadata.broker.list", {}, kBrokers},
      {"group.id", {}, "the consumer group is application_id (--application-id)"},
      {"transactional.id", {}, "the transactional id is <application_id>-<replica_id>: set replica_id (--replica-id)"},
      {"enable.auto.commit",
       {"false"},
       "uniqd commits offsets itself, only once what they cover was produced (an auto-commit passes frames "
       "a crash then loses)"},
      {"enable.auto.offset.store", {"false"}, "uniqd stores offsets itself, only for frames it counted"},
      {"isolation.level",
       {"read_committed"},
       "uniqd reads its internal topics read_committed (read_uncommitted counts aborted batches again)"},
      {"auto.offset.reset",
       {"earliest", "smallest", "beginning"},
       "a new application reads its input from the beginning (scripts/reset-application starts one over)"},
      {"enable.partition.eof", {"true"}, "--until-end and the restore find the end of a partition by its EOF event"},
      {"enable.idempotence",
       {"true"},
       "a retried batch must not land twice or after the next one: the internal topics' watermark markers "
       "follow the frames they cover"},
      {"acks", {"all", "-1"}, kAcks},
      {"request.required.acks", {"all", "-1"}, kAcks},
  };
  const std::pair<const char*, const std::map<std::string, std::string>*> blocks[] = {
      {"kafka.client", &c.kafka.client}, {"kafka.consumer", &c.kafka.consumer}, {"kafka.producer", &c.kafka.producer}};
  for (const auto& [section, props] : blocks) {
    for (const Owned& o : kOwned) {
      const auto it = props->find(o.key);
      if (it == props->end()) continue;
      if (std::any_of(o.allowed.begin(), o.allowed.end(),
                      [&](const char* a) { return a != nullptr && it->second == a; })) {
        continue;
      }
      return std::string(section) + "." + o.key + ": '" + it->second + "' is not allowed: " + o.why +
             (o.allowed[0] != nullptr ? std::string("; uniqd sets it to ") + o.allowed[0] : std::string());
    }
  }
  return {};
}

std::string check_client_properties(const config::Config& c) {
  std::string bad = refused_user_property(c);
  if (bad.empty()) {
    set_client_properties(c.kafka.client);
    try {
      // The client block is checked with the first (its keys are named
      // kafka.client.KEY); each role's block on top of it.
      make_conf({}, c.kafka.consumer, "kafka.consumer");
      make_conf({}, c.kafka.producer, "kafka.producer");
    } catch (const KafkaError& e) {
      bad = e.what();
    }
  }
  // Both name the key first ("kafka.consumer.KEY: ..."): the file's line
  // goes before it, as in the loader's errors.
  if (const auto at = c.property_origins.find(bad.substr(0, bad.find(": "))); at != c.property_origins.end()) {
    bad = at->second + ": " + bad;
  }
  return bad;
}

std::size_t record_bytes_limit(const config::Config& c) {
  // librdkafka's default, or a frame and 64 KiB of envelope (headers, the
  // batch's own fields), whichever is more.
  return std::max<std::size_t>(1000000, static_cast<std::size_t>(c.engine.max_frame_bytes) + 65536);
}

void ensure_topics(const std::string& brokers, const std::vector<TopicSpec>& topics,
                   std::chrono::milliseconds timeout) {
  // The admin calls go through a producer handle made like every other
  // client (the client block, the log bridge); quiet below errors.
  auto conf = make_conf({{"bootstrap.servers", brokers}, {"log_level", "3"}}, {}, "admin");
  std::string cerr;
  AdminHandle admin(RdKafka::Producer::create(conf.get(), cerr));
  if (!admin) throw KafkaError("admin client: " + cerr);
  rd_kafka_t* rk = admin->c_ptr();

  char err[512];
  std::vector<rd_kafka_NewTopic_t*> specs;
  for (const TopicSpec& t : topics) {
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(t.name.c_str(), t.partitions, t.replication_factor, err, sizeof err);
    if (nt == nullptr) {
      rd_kafka_NewTopic_destroy_array(specs.data(), specs.size());
      throw KafkaError("topic " + t.name + ": " + err);
    }
    for (const auto& [k, v] : t.configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
    specs.push_back(nt);
  }
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(rd_kafka_queue_new(rk),
                                                                             &rd_kafka_queue_destroy);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_request_timeout(opts, static_cast<int>(timeout.count()), err, sizeof err);
  rd_kafka_CreateTopics(rk, specs.data(), specs.size(), opts, queue.get());
  rd_kafka_event_t* ev = wait_for_result(*admin, queue.get(), timeout + std::chrono::milliseconds(2000));
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_NewTopic_destroy_array(specs.data(), specs.size());
  if (auto f = fatal_failure()) {
    if (ev != nullptr) rd_kafka_event_destroy(ev);
    throw AuthorizationError(*f);
  }
  if (ev == nullptr) throw KafkaError("creating topics: no answer from " + brokers);
  std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> guard(ev, &rd_kafka_event_destroy);
  if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError(std::string("creating topics on ") + brokers + ": " + rd_kafka_event_error_string(ev));
  }
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
  std::size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
  // Without CREATE the broker answers "authorization failed" for existing
  // topics too: those are looked up below.
  std::vector<std::string> refused;
  for (std::size_t i = 0; i < n; ++i) {
    const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
    if (e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED || e == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED) {
      refused.emplace_back(rd_kafka_topic_result_name(results[i]));
      continue;
    }
    const char* msg = rd_kafka_topic_result_error_string(results[i]);
    const std::string what = std::string("topic ") + rd_kafka_topic_result_name(results[i]) + ": " +
                             (msg != nullptr ? msg : rd_kafka_err2str(e));
    // What the broker refuses in the request itself is refused again on
    // every retry: it ends uniqd (status 2) naming the setting.
    if (e == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR) {
      throw std::runtime_error(what + " (kafka.replication_factor: at most the number of brokers)");
    }
    if (e == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS) {
      throw std::runtime_error(what + " (kafka.create_partitions, state_store.shards: at least 1)");
    }
    if (e == RD_KAFKA_RESP_ERR_INVALID_CONFIG || e == RD_KAFKA_RESP_ERR_POLICY_VIOLATION) {
      throw std::runtime_error(what + " (the broker refuses the topic's settings)");
    }
    throw KafkaError(what);
  }
  if (refused.empty()) return;
  std::vector<std::string> missing;
  for (const std::string& name : refused) {
    if (partition_count(*admin, name, timeout) < 0) missing.push_back(name);
  }
  if (missing.empty()) {
    std::string names;
    for (const std::string& t : refused) names += (names.empty() ? "" : ", ") + t;
    klog().info("not allowed to create topics (no CREATE ACL); {} exist already, using them", names);
    return;
  }
  std::string names;
  for (const std::string& t : missing) names += (names.empty() ? "" : ", ") + t;
  const std::string line = "topics missing and not allowed to create them (CREATE refused): " + names +
                           "; create them (docs/SECURITY.md gives partitions and configs) or add the ACL: " +
                           acl_hint("topic", missing.front(), "CREATE");
  report_fatal(line);
  throw AuthorizationError(line);
}

bool ask_until(std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds every,
               const std::function<bool()>& stop, const std::function<bool()>& ask) {
  while (true) {
    if (ask()) return true;
    if (stop() || std::chrono::steady_clock::now() + every >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

int partition_count(RdKafka::Handle& handle, const std::string& topic, std::chrono::milliseconds timeout,
                    std::string_view operation) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&handle, topic, nullptr, err));
  if (!t) throw KafkaError("topic " + topic + ": " + err);
  RdKafka::Metadata* md = nullptr;
  const RdKafka::ErrorCode e = handle.metadata(false, t.get(), &md, static_cast<int>(timeout.count()));
  std::unique_ptr<RdKafka::Metadata> guard(md);
  if (e != RdKafka::ERR_NO_ERROR) {
    if (auto f = fatal_failure()) throw AuthorizationError(*f);
    throw KafkaError("metadata for " + topic + ": " + RdKafka::err2str(e));
  }
  for (const RdKafka::TopicMetadata* tm : *md->topics()) {
    if (tm->topic() == topic) {
      if (tm->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) return -1;
      if (auto line = authorization_failure(tm->err(), "topic", topic, operation)) {
        report_fatal(*line);
        throw AuthorizationError(*line);
      }
      return static_cast<int>(tm->partitions()->size());
    }
  }
  return -1;
}

void learn_topics(RdKafka::Handle& producer, const std::vector<std::string>& topics,
                  std::chrono::milliseconds timeout) {
  for (const std::string& name : topics) {
    try {
      partition_count(producer, name, timeout, "WRITE");
    } catch (const AuthorizationError&) {
      throw;
    } catch (const KafkaError&) {
      // Learnt on first use instead.
    }
  }
}

}  // namespace uniqd::kafka
