#include "tools/gen/kafka_sink.h"

#include <librdkafka/rdkafkacpp.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "config/secrets.h"
#include "kafka/client.h"
#include "processor/logging.h"

namespace uniqd::gen {
namespace {

[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stderr, "uniqd-gen: %s\n", msg.c_str());
  std::exit(2);
}

std::int64_t user_of(std::string_view truth_line) {
  const auto at = truth_line.find("\"user\":");
  std::int64_t user = -1;
  if (at != std::string_view::npos) {
    const char* b = truth_line.data() + at + 7;
    std::from_chars(b, truth_line.data() + truth_line.size(), user);
  }
  return user;
}

struct Failures : RdKafka::DeliveryReportCb {
  std::uint64_t failed{0};
  std::string last;
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() != RdKafka::ERR_NO_ERROR) {
      ++failed;
      last = m.errstr();
    }
  }
};

}  // namespace

struct KafkaSink::Impl {
  Failures failures;
  std::unique_ptr<RdKafka::Producer> producer;
};

KafkaSink::KafkaSink(const KafkaSinkOptions& o) : impl_(std::make_unique<Impl>()), o_(o) {
  if (o_.partitions < 1) fail("--partitions must be at least 1");
  per_partition_.assign(static_cast<std::size_t>(o_.partitions), 0);
  try {
    for (const auto& [name, value] : o_.client) {
      if (config::is_secret_property(name)) processor::redact_in_logs(value);
    }
    kafka::set_client_properties(o_.client);
    kafka::ensure_topics(o_.brokers, {{o_.topic, o_.partitions, 1, {}}}, std::chrono::seconds(30));
    auto conf = kafka::make_conf({{"bootstrap.servers", o_.brokers},
                                  {"enable.idempotence", "true"},
                                  {"linger.ms", "20"},
                                  {"batch.size", "1000000"},
                                  {"compression.type", "lz4"},
                                  {"queue.buffering.max.kbytes", "1048576"}},
                                 {}, "producer");
    std::string err;
    conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&impl_->failures), err);
    impl_->producer.reset(RdKafka::Producer::create(conf.get(), err));
    if (!impl_->producer) fail("producer: " + err);
    const int existing = kafka::partition_count(*impl_->producer, o_.topic, std::chrono::seconds(10));
    if (existing < o_.partitions) {
      fail("topic " + o_.topic + " has " + std::to_string(existing) + " partitions, fewer than --partitions " +
           std::to_string(o_.partitions));
    }
  } catch (const kafka::KafkaError& e) {
    fail(e.what());
  }
}

KafkaSink::~KafkaSink() = default;

int KafkaSink::partition_for(const KafkaSinkOptions& o, std::uint64_t line_no, std::int64_t user) {
  if (o.key_by_uid && user >= 0)
    return static_cast<int>(static_cast<std::uint64_t>(user) % static_cast<std::uint64_t>(o.partitions));
  return static_cast<int>(line_no % static_cast<std::uint64_t>(o.partitions));
}

void KafkaSink::write(std::string& lines, std::string& truth) {
  std::size_t lp = 0, tp = 0;
  while (lp < lines.size()) {
    std::size_t le = lines.find('\n', lp);
    if (le == std::string::npos) le = lines.size();
    std::size_t te = truth.find('\n', tp);
    if (te == std::string::npos) te = truth.size();
    const std::string_view t(truth.data() + tp, te - tp);
    const std::int64_t user = user_of(t);
    const int part = partition_for(o_, line_no_++, user);
    const std::string key = o_.key_by_uid && user >= 0 ? std::to_string(user) : std::string();
    while (true) {
      const RdKafka::ErrorCode e =
          impl_->producer->produce(o_.topic, part, RdKafka::Producer::RK_MSG_COPY, lines.data() + lp, le - lp,
                                   key.empty() ? nullptr : key.data(), key.size(), 0, nullptr);
      if (e == RdKafka::ERR_NO_ERROR) break;
      if (e != RdKafka::ERR__QUEUE_FULL) fail("produce to " + o_.topic + ": " + RdKafka::err2str(e));
      impl_->producer->poll(100);
    }
    ++per_partition_[static_cast<std::size_t>(part)];
    impl_->producer->poll(0);
    lp = le + 1;
    tp = te + 1;
  }
  lines.clear();
  truth.clear();
}

void KafkaSink::close() {
  for (int i = 0; i < 600 && impl_->producer->outq_len() > 0; ++i) impl_->producer->flush(1000);
  if (impl_->producer->outq_len() > 0) fail("gave up waiting for deliveries to " + o_.brokers);
  if (impl_->failures.failed > 0) {
    fail(std::to_string(impl_->failures.failed) + " frames were not delivered: " + impl_->failures.last);
  }
}

}  // namespace uniqd::gen
