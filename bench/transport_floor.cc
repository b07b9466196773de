// The transport floor of DESIGN §5: a bare librdkafka consumer with the same
// fetch settings as uniqd's (kafka/task.cc), reading a whole topic and
// discarding every message. It assigns all partitions from their beginning
// (no consumer group join, no commits), reads to the end offsets seen at
// start and stops.
//
//   uniqd-transport-floor --brokers 127.0.0.1:9092 --topic frames [-X key=value]...
//                         [--extract none|ondemand|structural]
//
// -X overrides or adds a librdkafka consumer property (to try fetch
// variants). --extract makes the consuming thread also read each message's
// root uid and ts, the least any counter of users must do per frame:
// ondemand with simdjson On-Demand (no validation of the rest, the parse
// floor's own mode), structural with uniqd's FrameParser (full validation).
// Both copy the message first (simdjson reads past the end: padding), as
// uniqd does. So on one machine the floor with an extraction bounds what any
// consumer that looks at every frame could reach. Prints one line:
//   transport frames=N bytes=B seconds=S frames_per_s=F mb_per_s=M setup_seconds=T touch=X extract=E
// seconds run from the assignment to the last message; setup_seconds is the
// metadata and end-offset queries before it.
#include <librdkafka/rdkafkacpp.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/ondemand_floor.h"
#include "processor/frame_parser.h"

namespace {

using Clock = std::chrono::steady_clock;

int usage() {
  std::fprintf(stderr,
               "usage: uniqd-transport-floor --brokers HOST:PORT --topic TOPIC [-X key=value]... "
               "[--extract none|ondemand|structural]\n");
  return 2;
}

// A message is at most this large here (uniqd's default max_frame_bytes).
constexpr std::size_t kMaxMessage = 1 << 20;

enum class Extract { none, ondemand, structural };

// What the consuming thread does with each message beside counting it,
// decided once; the parsers and the padded copy exist only for the mode that
// uses them, and are made before the timed read.
class Extractor {
 public:
  explicit Extractor(Extract mode) : mode_(mode) {
    if (mode_ == Extract::none) return;
    padded_.resize(kMaxMessage + simdjson::SIMDJSON_PADDING);
    if (mode_ == Extract::ondemand) {
      ondemand_ = std::make_unique<simdjson::ondemand::parser>();
    } else {
      structural_ = std::make_unique<uniqd::processor::FrameParser>(kMaxMessage);
    }
  }

  // Something the compiler cannot drop.
  std::uint64_t operator()(const char* payload, std::size_t len) {
    if (len == 0) return 0;
    len = std::min(len, kMaxMessage);
    // Touch the payload (its first byte) so the data was really delivered.
    if (mode_ == Extract::none) return static_cast<unsigned char>(payload[0]);
    std::memcpy(padded_.data(), payload, len);
    if (mode_ == Extract::ondemand) return uniqd::bench::ondemand_uid_ts(*ondemand_, padded_.data(), len);
    uniqd::processor::ParsedFrame f;
    return structural_->parse(padded_.data(), len, f) ? 0 : static_cast<std::uint64_t>(f.ts);
  }

 private:
  Extract mode_;
  std::vector<char> padded_;
  std::unique_ptr<simdjson::ondemand::parser> ondemand_;
  std::unique_ptr<uniqd::processor::FrameParser> structural_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string brokers, topic, extract_name = "none";
  std::vector<std::pair<std::string, std::string>> extra;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--brokers" && i + 1 < argc) {
      brokers = argv[++i];
    } else if (a == "--topic" && i + 1 < argc) {
      topic = argv[++i];
    } else if (a == "--extract" && i + 1 < argc) {
      extract_name = argv[++i];
      if (extract_name != "none" && extract_name != "ondemand" && extract_name != "structural") return usage();
    } else if (a == "-X" && i + 1 < argc) {
      const std::string kv = argv[++i];
      const auto eq = kv.find('=');
      if (eq == std::string::npos) return usage();
      extra.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else {
      return usage();
    }
  }
  if (brokers.empty() || topic.empty()) return usage();

  const auto t0 = Clock::now();
  Extractor extract(extract_name == "ondemand"     ? Extract::ondemand
                    : extract_name == "structural" ? Extract::structural
                                                   : Extract::none);
  // kafka/stream_thread.cc's consumer settings, minus the group machinery uniqd needs
  // and a floor does not (rebalance callback, manual commits).
  const std::vector<std::pair<std::string, std::string>> defaults = {
      {"bootstrap.servers", brokers},           {"group.id", "uniqd-transport-floor"},
      {"client.id", "uniqd-transport-floor"},   {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},    {"auto.offset.reset", "earliest"},
      {"isolation.level", "read_committed"},    {"enable.partition.eof", "true"},
      {"fetch.max.bytes", "67108864"},          {"max.partition.fetch.bytes", "8388608"},
      {"queued.max.messages.kbytes", "262144"},
  };
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  for (const auto& list : {defaults, extra}) {
    for (const auto& [k, v] : list) {
      if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
        std::fprintf(stderr, "uniqd-transport-floor: %s: %s\n", k.c_str(), err.c_str());
        return 2;
      }
    }
  }
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer) {
    std::fprintf(stderr, "uniqd-transport-floor: consumer: %s\n", err.c_str());
    return 1;
  }

  // Every partition of the topic, and its end offset now.
  RdKafka::Metadata* md_raw = nullptr;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(consumer.get(), topic, nullptr, err));
  if (consumer->metadata(false, t.get(), &md_raw, 10000) != RdKafka::ERR_NO_ERROR || md_raw == nullptr) {
    std::fprintf(stderr, "uniqd-transport-floor: no metadata for %s\n", topic.c_str());
    return 1;
  }
  std::unique_ptr<RdKafka::Metadata> md(md_raw);
  std::map<std::int32_t, std::int64_t> end;  // partition -> end offset; erased when reached
  std::vector<RdKafka::TopicPartition*> parts;
  for (const RdKafka::TopicMetadata* tm : *md->topics()) {
    if (tm->topic() != topic) continue;
    if (tm->err() != RdKafka::ERR_NO_ERROR) {
      std::fprintf(stderr, "uniqd-transport-floor: %s: %s\n", topic.c_str(), RdKafka::err2str(tm->err()).c_str());
      return 1;
    }
    for (const RdKafka::PartitionMetadata* pm : *tm->partitions()) {
      std::int64_t low = 0, high = 0;
      if (consumer->query_watermark_offsets(topic, pm->id(), &low, &high, 10000) != RdKafka::ERR_NO_ERROR) {
        std::fprintf(stderr, "uniqd-transport-floor: end offset of %s[%d] unknown\n", topic.c_str(), pm->id());
        return 1;
      }
      if (high > low) end[pm->id()] = high;
      parts.push_back(RdKafka::TopicPartition::create(topic, pm->id(), RdKafka::Topic::OFFSET_BEGINNING));
    }
  }
  if (parts.empty()) {
    std::fprintf(stderr, "uniqd-transport-floor: topic %s has no partitions\n", topic.c_str());
    return 1;
  }
  const auto t1 = Clock::now();
  consumer->assign(parts);
  RdKafka::TopicPartition::destroy(parts);

  std::uint64_t frames = 0, bytes = 0, sink = 0;
  auto last = Clock::now();
  while (!end.empty()) {
    std::unique_ptr<RdKafka::Message> m(consumer->consume(1000));
    switch (m->err()) {
      case RdKafka::ERR_NO_ERROR: {
        ++frames;
        bytes += m->len();
        sink += extract(static_cast<const char*>(m->payload()), m->len());
        last = Clock::now();
        auto it = end.find(m->partition());
        if (it != end.end() && m->offset() + 1 >= it->second) end.erase(it);
        break;
      }
      case RdKafka::ERR__PARTITION_EOF: {
        auto it = end.find(m->partition());
        if (it != end.end() && m->offset() >= it->second) end.erase(it);
        break;
      }
      case RdKafka::ERR__TIMED_OUT:
        if (Clock::now() - last > std::chrono::seconds(60)) {
          std::fprintf(stderr, "uniqd-transport-floor: no message for 60 s, giving up\n");
          return 1;
        }
        break;
      default:
        std::fprintf(stderr, "uniqd-transport-floor: %s\n", m->errstr().c_str());
    }
  }
  const double secs = std::chrono::duration<double>(last - t1).count();
  const double setup = std::chrono::duration<double>(t1 - t0).count();
  consumer->close();
  std::printf(
      "transport frames=%llu bytes=%llu seconds=%.3f frames_per_s=%.0f mb_per_s=%.1f setup_seconds=%.3f touch=%llu "
      "extract=%s\n",
      static_cast<unsigned long long>(frames), static_cast<unsigned long long>(bytes), secs,
      secs > 0 ? frames / secs : 0.0, secs > 0 ? bytes / secs / 1e6 : 0.0, setup, static_cast<unsigned long long>(sink),
      extract_name.c_str());
  return 0;
}
