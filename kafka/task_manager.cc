#include "kafka/task_manager.h"
#include "kafka/log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "processor/logging.h"

namespace uniqd::kafka {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Per-call timeouts librdkafka is given, at most (each also bounded by what
// is left of the budget).
constexpr milliseconds kCallTimeout{60000};
constexpr milliseconds kInitTimeout{30000};

}  // namespace

TaskManager::TaskManager(bool exactly_once, TransactionalProducer& producer, GroupConsumer& consumer, Tasks& tasks,
                         CommitBounds bounds)
    : eos_(exactly_once), producer_(producer), consumer_(consumer), tasks_(tasks), bounds_(std::move(bounds)) {
  if (!bounds_.sleep) bounds_.sleep = [](milliseconds d) { std::this_thread::sleep_for(d); };
  if (!bounds_.now) bounds_.now = [] { return Clock::now(); };
}

milliseconds TaskManager::left(Clock::time_point deadline) const {
  return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - bounds_.now()));
}

bool TaskManager::start() {
  if (!eos_) return true;
  return init(Clock::time_point::max(), false) && begin();
}

// Unbounded at start (a broker still starting is waited for, until a stop),
// bounded by the budget when replacing a producer mid-run.
bool TaskManager::init(Clock::time_point deadline, bool bounded) {
  milliseconds backoff = bounds_.backoff;
  while (!tasks_.stopping()) {
    const milliseconds timeout = bounded ? std::min(kInitTimeout, left(deadline)) : kInitTimeout;
    const Result r = producer_.init_transactions(timeout);
    if (r.ok()) return true;
    if (r.failure == Failure::denied) return false;  // reported already
    if (r.failure != Failure::retriable) {
      klog().error("init_transactions: {}", r.message);
      return false;
    }
    if (bounded && bounds_.now() >= deadline) {
      klog().error("init_transactions: {} (still failing after {} s)", r.message,
                   std::chrono::duration_cast<std::chrono::seconds>(bounds_.budget).count());
      return false;
    }
    klog().warn("init_transactions: {} (retrying in {} ms)", r.message, backoff.count());
    bounds_.sleep(backoff);
    backoff = std::min(backoff * 2, bounds_.max_backoff);
  }
  return false;
}

bool TaskManager::begin() {
  const Result r = producer_.begin_transaction();
  if (r.ok()) return true;
  klog().error("begin_transaction: {}", r.message);
  failed_ = true;
  return false;
}

Result TaskManager::retried(const char* what, Clock::time_point deadline,
                            const std::function<Result(milliseconds)>& f) {
  Result r;
  for (int attempt = 0;; ++attempt) {
    r = f(std::min(kCallTimeout, left(deadline)));
    if (r.failure != Failure::retriable || attempt >= bounds_.attempts || bounds_.now() >= deadline ||
        tasks_.stopping()) {
      return r;
    }
    klog().warn("{}: {} (retrying)", what, r.message);
    bounds_.sleep(bounds_.backoff);
  }
}

TaskManager::Outcome TaskManager::commit(const Offsets& positions) {
  if (failed_ || interrupted_) return Outcome::failed;
  return eos_ ? commit_transaction(positions) : commit_offsets(positions);
}

TaskManager::Outcome TaskManager::commit_transaction(const Offsets& positions) {
  const Clock::time_point deadline = bounds_.now() + bounds_.budget;
  Result r;
  // The offsets go with the group's metadata: a replica that lost its
  // partitions in a rebalance is refused here (exactly_once_v2's fencing).
  if (!positions.empty()) {
    r = retried("send_offsets_to_transaction", deadline,
                [&](milliseconds t) { return producer_.send_offsets_to_transaction(positions, t); });
  }
  if (r.ok())
    r = retried("commit_transaction", deadline, [&](milliseconds t) { return producer_.commit_transaction(t); });
  if (r.ok()) {
    ++committed_;
    fenced_since_commit_ = false;
    // Only now the local stores: they never run ahead of Kafka, and a crash
    // between the two is made good by replaying the changelog.
    if (!tasks_.post_commit()) {
      failed_ = true;
      return Outcome::failed;
    }
    return begin() ? Outcome::committed : Outcome::failed;
  }
  switch (r.failure) {
    case Failure::denied:
      failed_ = true;
      return Outcome::failed;
    case Failure::unproducible:
      klog().error("{}: the transaction is aborted and the replica ends (its input is read again at the next start)",
                   r.message);
      producer_.abort_transaction(kCallTimeout);
      failed_ = true;
      return Outcome::failed;
    case Failure::fenced:
      fenced(r.message);
      break;
    case Failure::fatal:
      klog().warn("producer failed fatally: {}; replacing it and rewinding to the last commit", r.message);
      replace_producer();
      break;
    default:  // abortable, or retriable past the bound
      klog().warn("transaction failed: {}; aborting and rewinding to the last commit", r.message);
      rewind();
  }
  return failed_ || interrupted_ ? Outcome::failed : Outcome::rewound;
}

TaskManager::Outcome TaskManager::commit_offsets(const Offsets& positions) {
  const Clock::time_point started = bounds_.now();
  const Clock::time_point deadline = started + bounds_.budget;
  const Result r = retried("offset commit", deadline, [&](milliseconds t) {
    // Offsets only after every record they cover was acknowledged.
    Result f = producer_.flush(t);
    if (!f.ok() || positions.empty()) return f;
    return consumer_.commit_offsets(positions);
  });
  if (r.ok()) {
    failing_since_.reset();
    reported_since_.reset();
    ++committed_;
    if (!tasks_.post_commit()) failed_ = true;
    return failed_ ? Outcome::failed : Outcome::committed;
  }
  commit_failed(r, started);
  return Outcome::failed;
}

bool TaskManager::flush_records() {
  if (eos_ || failed_) return !failed_;
  const Clock::time_point started = bounds_.now();
  const Result r = retried("flush", started + bounds_.budget, [&](milliseconds t) { return producer_.flush(t); });
  if (r.ok()) return true;
  commit_failed(r, started);
  return false;
}

void TaskManager::commit_failed(const Result& r, Clock::time_point started) {
  if (r.failure == Failure::fatal || r.failure == Failure::fenced || r.failure == Failure::denied) {
    // A failed delivery is a lost record: a restart must read its input again.
    if (r.failure != Failure::denied) klog().error("not committing offsets: {}", r.message);
    failed_ = true;
    return;
  }
  // Retriable past the call's bound, or abortable (a rebalance under way:
  // only polling the consumer moves it on): the next commit tries again. A
  // broker away for longer is waited for, as exactly_once waits for it; an
  // error line says so each time the bound passes without a commit.
  const Clock::time_point now = bounds_.now();
  if (!failing_since_) failing_since_ = started;
  if (!reported_since_) reported_since_ = *failing_since_;
  if (now - *reported_since_ >= bounds_.budget) {
    klog().error("offset commit failed: {}; no commit succeeded for {} s (still retrying)", r.message,
                 std::chrono::duration_cast<std::chrono::seconds>(now - *failing_since_).count());
    reported_since_ = now;
  } else {
    klog().warn("offset commit failed (retried at the next commit): {}", r.message);
  }
}

void TaskManager::rewind() {
  if (failed_ || interrupted_) return;
  const Result r = producer_.abort_transaction(std::min(kCallTimeout, bounds_.budget));
  if (!r.ok()) {
    if (r.failure == Failure::denied) {
      failed_ = true;
      return;
    }
    if (r.failure == Failure::fenced) {
      fenced("abort_transaction: " + r.message);
      return;
    }
    klog().warn("abort_transaction: {}; replacing the producer", r.message);
    replace_producer();
    return;
  }
  ++aborted_;
  reload_and_seek();
}

// Fenced: the coordinator gave the transactional id a newer epoch. Either it
// aborted this transaction itself (it outlived transaction.timeout.ms: a
// stall of this process or of the broker) and a new producer goes on from the
// last commit, or another live process uses the same id: then the two would
// fence each other in turn, so a second fencing before any commit ends this
// one.
void TaskManager::fenced(const std::string& what) {
  if (fenced_since_commit_) {
    klog().error(
        "fenced again before any commit: another process uses transactional.id {} ({}); is replica_id "
        "shared by two replicas?",
        bounds_.transactional_id, what);
    failed_ = true;
    return;
  }
  fenced_since_commit_ = true;
  klog().warn(
      "fenced ({}): the transaction coordinator gave transactional.id {} a newer epoch (a transaction that "
      "outlived transaction.timeout.ms, or another process with this id); replacing the producer and "
      "rewinding to the last commit",
      what, bounds_.transactional_id);
  replace_producer();
}

void TaskManager::replace_producer() {
  try {
    producer_.replace();
  } catch (const std::exception& e) {
    klog().error("cannot create a new producer: {}; stopping", e.what());
    failed_ = true;
    return;
  }
  if (!init(bounds_.now() + bounds_.budget, true)) {
    if (tasks_.stopping()) {
      klog().info("stopped while starting a new producer: the last commit stands");
      interrupted_ = true;
    } else {
      klog().error("cannot start a new producer; stopping (a restart resumes from the last commit)");
      failed_ = true;
    }
    return;
  }
  // The new producer's init aborted the old one's open transaction.
  ++aborted_;
  reload_and_seek();
}

void TaskManager::reload_and_seek() {
  Offsets positions;
  if (!tasks_.reload(positions)) {
    failed_ = true;
    return;
  }
  if (!positions.empty()) {
    const Result r = consumer_.committed(positions);
    if (!r.ok()) {
      klog().error("cannot read the committed offsets to rewind to: {}", r.message);
      failed_ = true;
      return;
    }
    for (TopicOffset& p : positions) {
      if (p.offset < 0) p.offset = kOffsetBeginning;
      const Result s = consumer_.seek(p);
      if (!s.ok()) {
        klog().error("seek {}[{}] to {}: {}", p.topic, p.partition, p.offset, s.message);
        failed_ = true;
        return;
      }
    }
  }
  if (eos_) begin();
}

}  // namespace uniqd::kafka
