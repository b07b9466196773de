#include "kafka/state_restorer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "kafka/client.h"
#include "processor/logging.h"

namespace uniqd::kafka {
namespace {

using Clock = std::chrono::steady_clock;

// A librdkafka timeout until `until`, at least 50 ms (a call given 0 ms
// would not even send its request).
int millis_left(Clock::time_point until) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
  return static_cast<int>(std::max<long long>(left, 50));
}

spdlog::logger& log() {
  static auto l = processor::component_logger("restore");
  return *l;
}

}  // namespace

StateRestorer::StateRestorer(const config::Config& c) : group_(c.application_id + "-restore") {
  auto conf = make_conf({{"bootstrap.servers", c.kafka.brokers},
                         {"group.id", c.application_id + "-restore"},
                         {"client.id", c.application_id + "-restore"},
                         {"enable.auto.commit", "false"},
                         {"isolation.level", "read_committed"},
                         {"enable.partition.eof", "true"},
                         // A checkpointed offset gone from the topic (compaction,
                         // retention): replay all of it.
                         {"auto.offset.reset", "earliest"},
                         // The end of a partition is known when a fetch comes back
                         // empty: don't let the broker hold it (default 500 ms).
                         {"fetch.wait.max.ms", "10"},
                         {"fetch.max.bytes", "67108864"},
                         {"max.partition.fetch.bytes", "16777216"}},
                        {}, "restore consumer");
  std::string err;
  reader_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!reader_) throw KafkaError("restore consumer: " + err);
}

StateRestorer::~StateRestorer() {
  if (reader_) reader_->close();
}

// A partition assigned before its leader is known waits for librdkafka's
// offset-query timer (about 500 ms) even when the metadata arrives a moment
// later; asking for the topics' metadata first makes the first fetch go out
// at once. A failure here costs only that wait, so it is not an error; nor
// may it hold the restore (and a stop) longer than `until`.
void StateRestorer::learn_leaders(const std::vector<RestorePartition>& parts, Clock::time_point until) {
  std::set<std::string> topics;
  for (const RestorePartition& p : parts) topics.insert(p.topic);
  for (const std::string& name : topics) {
    std::string err;
    std::unique_ptr<RdKafka::Topic> topic(RdKafka::Topic::create(reader_.get(), name, nullptr, err));
    if (!topic) continue;
    RdKafka::Metadata* md = nullptr;
    if (reader_->metadata(false, topic.get(), &md, millis_left(until)) == RdKafka::ERR_NO_ERROR) delete md;
  }
}

bool StateRestorer::restore(std::vector<RestorePartition>& parts, const std::function<bool(const ChangelogRecord&)>& fn,
                            const std::function<bool()>& stop, std::string* error,
                            std::chrono::milliseconds error_budget) {
  if (parts.empty()) return true;
  std::vector<RdKafka::TopicPartition*> assignment;
  std::map<std::pair<std::string, std::int32_t>, std::size_t> index;
  std::vector<bool> ended(parts.size(), false);
  std::size_t at_end = 0;
  // Both steps below only save waiting; a broker that does not answer them
  // within a second is left to the fetch loop and its error budget.
  const auto ask_deadline = Clock::now() + std::chrono::seconds(1);
  learn_leaders(parts, ask_deadline);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    parts[i].next = parts[i].from < 0 ? 0 : parts[i].from;
    // A logical offset (the beginning) is resolved by librdkafka's offset
    // query, which waits for a timer (about 500 ms) whenever the leader was
    // not yet known when the partition was assigned, or was not leader yet
    // (a topic created a moment ago); the low watermark asked here is the
    // same offset, at once, asked again every 20 ms while the broker is not
    // ready, for up to a second over all partitions. Still unknown: the
    // logical offset stays, and its fetch reports what is wrong.
    if (parts[i].from < 0 && Clock::now() < ask_deadline && !stop()) {
      ask_until(ask_deadline, std::chrono::milliseconds(20), stop, [&] {
        std::int64_t low = 0, high = 0;
        if (reader_->query_watermark_offsets(parts[i].topic, parts[i].partition, &low, &high,
                                             millis_left(ask_deadline)) != RdKafka::ERR_NO_ERROR) {
          return false;
        }
        parts[i].from = low;
        parts[i].next = low;
        return true;
      });
    }
    // Every partition is fetched, even one known to be empty: the fetch is
    // what tells at start that a changelog may not be read (READ ACL), not
    // only at the first restore that has something to read.
    assignment.push_back(RdKafka::TopicPartition::create(parts[i].topic, parts[i].partition, parts[i].from));
    index[{parts[i].topic, parts[i].partition}] = i;
  }
  const RdKafka::ErrorCode ae = reader_->assign(assignment);
  RdKafka::TopicPartition::destroy(assignment);
  if (ae != RdKafka::ERR_NO_ERROR) {
    *error = "restore consumer: assign: " + RdKafka::err2str(ae);
    return false;
  }
  std::uint64_t read = 0;
  auto last_log = Clock::now();
  bool failing = false;
  Clock::time_point failing_since{};
  bool ok = true;
  while (at_end < parts.size()) {
    if (stop()) {
      *error = "stopped";
      ok = false;
      break;
    }
    std::unique_ptr<RdKafka::Message> m(reader_->consume(100));
    if (m->err() == RdKafka::ERR__TIMED_OUT) continue;
    const auto it = index.find({m->topic_name(), m->partition()});
    if (m->err() == RdKafka::ERR__PARTITION_EOF) {
      if (it == index.end()) continue;
      parts[it->second].next = m->offset();
      if (!ended[it->second]) {
        ended[it->second] = true;
        ++at_end;
      }
      continue;
    }
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      // A refused READ of a changelog ends uniqd (kafka/client.h).
      if (report_if_denied(m->err(), Access{m->topic_name(), "READ", group_, "", "IDEMPOTENT_WRITE"})) {
        *error = "refused: " + m->errstr();
        ok = false;
        break;
      }
      // Transient broker trouble is retried, but not forever: a restore that
      // cannot finish must say so rather than leave the replica never ready.
      const auto now = Clock::now();
      if (!failing) {
        failing = true;
        failing_since = now;
      }
      log().warn("restore: {}", m->errstr());
      if (now - failing_since >= error_budget) {
        *error = "restore consumer: " + m->errstr() + " (for " +
                 std::to_string(std::chrono::duration_cast<std::chrono::seconds>(error_budget).count()) + " s)";
        ok = false;
        break;
      }
      continue;
    }
    failing = false;
    if (it == index.end()) continue;
    ++records_;
    if (++read % 1024 == 0 && Clock::now() - last_log >= std::chrono::seconds(2)) {
      last_log = Clock::now();
      log().info("restoring: {} changelog records read, {} of {} partitions at their end", read, at_end, parts.size());
    }
    parts[it->second].next = m->offset() + 1;
    const std::string_view key(m->key_pointer() != nullptr ? static_cast<const char*>(m->key_pointer()) : "",
                               m->key_pointer() != nullptr ? m->key_len() : 0);
    const std::string_view value(static_cast<const char*>(m->payload()), m->len());
    if (!fn(ChangelogRecord{it->second, m->offset(), key, m->payload() != nullptr ? &value : nullptr})) {
      *error = m->topic_name() + "[" + std::to_string(m->partition()) + "] offset " + std::to_string(m->offset()) +
               ": unreadable record";
      ok = false;
      break;
    }
  }
  reader_->unassign();
  return ok;
}

}  // namespace uniqd::kafka
