// What a stream thread does at a commit, and when a commit fails (Kafka
// Streams' TaskManager: commit every task, or abort and rewind them), apart
// from librdkafka. The thread hands it three things through the interfaces
// below: its transactional producer, its consumer's offsets, and its tasks.
// kafka/stream_thread.cc implements them on librdkafka; the unit tests
// (tests/unit/task_manager_test.cc) on fakes, so that every error path can be
// taken without a broker.
//
// The rules (exactly_once):
//   * the local state stores are written only after the transaction
//     committed (Tasks::post_commit): they never run ahead of Kafka;
//   * a transaction that cannot commit (an abortable error, or retriable
//     ones that outlast the bound) is aborted and every task goes back to its
//     last commit: state reloaded, positions sought back to the group's
//     committed offsets, so nothing is counted twice;
//   * a producer in a fatal state, or fenced (the coordinator aborted a
//     transaction that outlived its timeout, or another process took the
//     transactional.id), is replaced by a new one with the same id, then the
//     same rewind; fenced twice with no commit in between ends the thread
//     (two live processes with one id would fence each other forever);
//   * a failure while replacing or reloading ends the thread (failed(),
//     status 1, a message); a stop while replacing ends it as a stop
//     (interrupted()): nothing after the last commit was committed, the
//     next owner of the tasks resumes from it.
// at_least_once: the offsets are committed once every record produced
// before them was acknowledged; a failed commit is retried within the call
// and at the next commit, for as long as it fails retriably (a broker away:
// an error line each time the bound passes without a commit), as
// exactly_once retries; a failed delivery ends the thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace uniqd::kafka {

struct TopicOffset {
  std::string topic;
  std::int32_t partition{0};
  std::int64_t offset{-1};
};
using Offsets = std::vector<TopicOffset>;

// librdkafka's RdKafka::Topic::OFFSET_BEGINNING (checked where it is used).
constexpr std::int64_t kOffsetBeginning = -2;

// What a failed call means to the commit logic, as the glue reads
// librdkafka's error flags.
enum class Failure {
  none,
  retriable,     // the same call may succeed later (a timeout, a broker restarting)
  abortable,     // the transaction cannot commit: abort it and rewind (at_least_once:
                 // the offsets cannot be committed now, e.g. in a rebalance)
  fatal,         // this producer (or consumer) is unusable
  fenced,        // the transactional id has a newer epoch (a timed-out transaction, or another process)
  denied,        // a refused ACL or login: reported already (kafka/client.h)
  unproducible,  // a record the producer or broker refuses for good (too large):
                 // a rewind would produce it again, so the thread ends
};

struct Result {
  Failure failure{Failure::none};
  std::string message;
  bool ok() const { return failure == Failure::none; }
  static Result fail(Failure f, std::string m) { return Result{f, std::move(m)}; }
};

// The replica's one producer (kafka/record_collector.h).
class TransactionalProducer {
 public:
  virtual ~TransactionalProducer() = default;
  virtual Result init_transactions(std::chrono::milliseconds timeout) = 0;
  virtual Result begin_transaction() = 0;
  virtual Result send_offsets_to_transaction(const Offsets& offsets, std::chrono::milliseconds timeout) = 0;
  virtual Result commit_transaction(std::chrono::milliseconds timeout) = 0;
  virtual Result abort_transaction(std::chrono::milliseconds timeout) = 0;
  // A new producer with the same transactional.id instead of this one
  // (not yet initialised). Throws when it cannot be created.
  virtual void replace() = 0;
  // at_least_once: waits until every record produced so far is
  // acknowledged. fatal: some delivery failed (those records are lost, the
  // offsets must not be committed); retriable: some still pending.
  virtual Result flush(std::chrono::milliseconds timeout) = 0;
};

// The consumer's side of a commit and a rewind.
class GroupConsumer {
 public:
  virtual ~GroupConsumer() = default;
  // Sets each offset to the group's committed one (negative: none).
  virtual Result committed(Offsets& positions) = 0;
  virtual Result seek(const TopicOffset& position) = 0;
  // at_least_once: commits the offsets to the group.
  virtual Result commit_offsets(const Offsets& offsets) = 0;
};

// The stream thread's tasks.
class Tasks {
 public:
  virtual ~Tasks() = default;
  // The commit went through: the local stores follow it. False when they
  // cannot (said why).
  virtual bool post_commit() = 0;
  // Every task back to the state of the last commit; appends the position
  // of each to rewind (offset unset). False when some task's state cannot be
  // read back (said why; that task is closed, none is left half made).
  virtual bool reload(Offsets& positions) = 0;
  virtual bool stopping() const = 0;
};

struct CommitBounds {
  // How long a commit's retriable failures are retried, and how often
  // at_least_once logs an error while no commit succeeds (it goes on
  // retrying); also the bound on starting a replacement producer. The transaction
  // timeout: past it the coordinator aborts the transaction anyway.
  std::chrono::milliseconds budget{60000};
  int attempts{20};  // retries of one call within the budget
  std::chrono::milliseconds backoff{500};
  std::chrono::milliseconds max_backoff{10000};
  std::string transactional_id;  // for messages
  // Injected by the tests (no real waiting); the real ones by default.
  std::function<void(std::chrono::milliseconds)> sleep;
  std::function<std::chrono::steady_clock::time_point()> now;
};

class TaskManager {
 public:
  enum class Outcome { committed, rewound, failed };

  TaskManager(bool exactly_once, TransactionalProducer& producer, GroupConsumer& consumer, Tasks& tasks,
              CommitBounds bounds = {});

  // exactly_once: initialises the transactions (retried until it works, a
  // stop, or a failure no retry fixes) and begins the first one.
  bool start();
  // Commits what the tasks produced, with their positions.
  Outcome commit(const Offsets& positions);
  // at_least_once, between the steps of a commit: true once every record
  // produced so far is acknowledged (retried within the bounds, failures
  // counted and reported as a failed offset commit's are). The tasks write
  // a snapshot only over records already on their topics, so that a
  // restart may skip what a snapshot covers even when the offsets after it
  // were refused (a rebalance) or never sent (a crash).
  bool flush_records();
  // Aborts the open transaction and rewinds every task to the last commit
  // (partitions lost in a rebalance).
  void rewind();

  // The thread must end with status 1 (said why).
  bool failed() const { return failed_; }
  // A stop came while replacing the producer: nothing more may be committed,
  // and ending is not a failure.
  bool interrupted() const { return interrupted_; }
  std::uint64_t transactions_committed() const { return committed_; }
  std::uint64_t transactions_aborted() const { return aborted_; }

 private:
  Outcome commit_transaction(const Offsets& positions);
  Outcome commit_offsets(const Offsets& positions);
  // A flush or an offset commit that failed after its retries.
  void commit_failed(const Result& r, std::chrono::steady_clock::time_point started);
  // Retries f while it fails retriably, within the bounds from `deadline`.
  Result retried(const char* what, std::chrono::steady_clock::time_point deadline,
                 const std::function<Result(std::chrono::milliseconds)>& f);
  bool init(std::chrono::steady_clock::time_point deadline, bool bounded);
  bool begin();
  void fenced(const std::string& what);
  void replace_producer();
  void reload_and_seek();
  std::chrono::milliseconds left(std::chrono::steady_clock::time_point deadline) const;

  const bool eos_;
  TransactionalProducer& producer_;
  GroupConsumer& consumer_;
  Tasks& tasks_;
  CommitBounds bounds_;
  bool failed_{false};
  bool interrupted_{false};
  bool fenced_since_commit_{false};
  std::uint64_t committed_{0};
  std::uint64_t aborted_{0};
  // at_least_once: when commits began to fail (none: the last one worked).
  std::optional<std::chrono::steady_clock::time_point> failing_since_;
  // ... and when that was last logged as an error.
  std::optional<std::chrono::steady_clock::time_point> reported_since_;
};

}  // namespace uniqd::kafka
