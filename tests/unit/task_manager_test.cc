// kafka/task_manager: the stream thread's commit, abort and rewind decisions,
// driven through fakes of the producer, the consumer and the tasks (no
// broker). The fakes keep a small model of a replica: `live` is what its
// tasks counted since they were last (re)loaded, `stored` what its local
// store holds, and the group's committed offsets move only with a committed
// transaction. Reading input is done by the test (read()), so that after a
// rewind it can read again from wherever the manager sought to, and check
// that every input record is counted exactly once.
#include "kafka/task_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <deque>
#include <map>
#include <sstream>
#include <stdexcept>

#include "processor/logging.h"

namespace uniqd::kafka {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

using Key = std::pair<std::string, std::int32_t>;

// Everything the fakes were asked, in order.
struct Journal {
  std::vector<std::string> calls;
  void add(std::string c) { calls.push_back(std::move(c)); }
  int count(const std::string& c) const { return static_cast<int>(std::count(calls.begin(), calls.end(), c)); }
  // Index of the first call c, or -1.
  int first(const std::string& c) const {
    const auto it = std::find(calls.begin(), calls.end(), c);
    return it == calls.end() ? -1 : static_cast<int>(it - calls.begin());
  }
};

// The group coordinator's committed offsets.
struct Group {
  std::map<Key, std::int64_t> committed;
};

// A scripted answer per call: the front is used and popped; an empty script
// answers ok.
struct Script {
  std::deque<Result> answers;
  Result next() {
    if (answers.empty()) return {};
    Result r = answers.front();
    answers.pop_front();
    return r;
  }
  void then(Failure f, int times = 1, const std::string& what = "scripted") {
    for (int i = 0; i < times; ++i) answers.push_back(Result::fail(f, what));
  }
};

struct FakeProducer : TransactionalProducer {
  Journal& j;
  Group& group;
  Script init, begin, send, commit, abort, flush_script;
  bool replace_throws{false};
  bool in_transaction{false};
  bool initialised{false};
  Offsets pending;  // sent with the open transaction
  std::function<void()> on_init;

  FakeProducer(Journal& journal, Group& g) : j(journal), group(g) {}

  Result init_transactions(milliseconds) override {
    j.add("init");
    if (on_init) on_init();
    Result r = init.next();
    if (r.ok()) {
      initialised = true;
      in_transaction = false;  // a new epoch aborts what the old one left open
      pending.clear();
    }
    return r;
  }
  Result begin_transaction() override {
    j.add("begin");
    EXPECT_TRUE(initialised) << "begin on a producer never initialised";
    Result r = begin.next();
    if (r.ok()) in_transaction = true;
    return r;
  }
  Result send_offsets_to_transaction(const Offsets& offsets, milliseconds) override {
    j.add("send_offsets");
    EXPECT_TRUE(in_transaction);
    Result r = send.next();
    if (r.ok()) pending = offsets;
    return r;
  }
  Result commit_transaction(milliseconds) override {
    j.add("commit");
    EXPECT_TRUE(in_transaction);
    Result r = commit.next();
    if (r.ok()) {
      for (const TopicOffset& o : pending) group.committed[{o.topic, o.partition}] = o.offset;
      pending.clear();
      in_transaction = false;
    }
    return r;
  }
  Result abort_transaction(milliseconds) override {
    j.add("abort");
    Result r = abort.next();
    if (r.ok()) {
      pending.clear();
      in_transaction = false;
    }
    return r;
  }
  void replace() override {
    j.add("replace");
    if (replace_throws) throw std::runtime_error("no memory for a producer");
    initialised = false;
    in_transaction = false;
    pending.clear();
  }
  Result flush(milliseconds) override {
    j.add("flush");
    return flush_script.next();
  }
};

struct FakeConsumer : GroupConsumer {
  Journal& j;
  Group& group;
  Script committed_script, seek_script, commit_script;
  std::map<Key, std::int64_t> position;  // where each partition reads next

  FakeConsumer(Journal& journal, Group& g) : j(journal), group(g) {}

  Result committed(Offsets& ps) override {
    j.add("committed");
    Result r = committed_script.next();
    if (!r.ok()) return r;
    for (TopicOffset& p : ps) {
      const auto it = group.committed.find({p.topic, p.partition});
      p.offset = it == group.committed.end() ? -1001 : it->second;  // librdkafka's OFFSET_INVALID
    }
    return r;
  }
  Result seek(const TopicOffset& p) override {
    j.add("seek " + p.topic + "[" + std::to_string(p.partition) + "]@" + std::to_string(p.offset));
    Result r = seek_script.next();
    if (r.ok()) position[{p.topic, p.partition}] = p.offset == kOffsetBeginning ? 0 : p.offset;
    return r;
  }
  Result commit_offsets(const Offsets& offsets) override {
    j.add("commit_offsets");
    Result r = commit_script.next();
    if (r.ok()) {
      for (const TopicOffset& o : offsets) group.committed[{o.topic, o.partition}] = o.offset;
    }
    return r;
  }
};

// Two input partitions, each a task whose state is the sum of the values
// it read (input record at offset k has value k + 1).
struct FakeTasks : Tasks {
  Journal& j;
  std::vector<Key> tasks{{"in", 0}, {"in", 1}};
  std::map<Key, std::int64_t> live;    // counted since the last (re)load
  std::map<Key, std::int64_t> stored;  // the local store (RocksDB)
  std::map<Key, std::int64_t> next;    // the task's position
  bool post_commit_ok{true};
  bool reload_ok{true};
  bool stop{false};
  bool closed_one{false};  // reload failed: that task was closed

  explicit FakeTasks(Journal& journal) : j(journal) {}

  bool post_commit() override {
    j.add("post_commit");
    stored = live;
    return post_commit_ok;
  }
  bool reload(Offsets& positions) override {
    j.add("reload");
    if (!reload_ok) {
      tasks.pop_back();
      closed_one = true;
    }
    live = stored;
    for (const Key& k : tasks) positions.push_back({k.first, k.second, -1});
    return reload_ok;
  }
  bool stopping() const override { return stop; }

  Offsets positions() const {
    Offsets o;
    for (const Key& k : tasks) {
      const auto it = next.find(k);
      o.push_back({k.first, k.second, it == next.end() ? 0 : it->second});
    }
    return o;
  }
};

struct LogCapture {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger = processor::component_logger("kafka");
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  LogCapture() { logger->sinks().push_back(sink); }
  ~LogCapture() {
    auto& s = logger->sinks();
    s.erase(std::remove(s.begin(), s.end(), sink), s.end());
  }
  std::string text() {
    logger->flush();
    return out.str();
  }
};

struct Replica {
  Journal j;
  Group group;
  FakeProducer producer{j, group};
  FakeConsumer consumer{j, group};
  FakeTasks tasks{j};
  Clock::time_point now{};  // a fake clock: sleeping advances it
  std::vector<milliseconds> slept;
  std::unique_ptr<TaskManager> manager;

  explicit Replica(bool exactly_once = true, CommitBounds b = {}) {
    b.transactional_id = "app-task-0";
    b.sleep = [this](milliseconds d) {
      slept.push_back(d);
      now += d;
    };
    b.now = [this] { return now; };
    manager = std::make_unique<TaskManager>(exactly_once, producer, consumer, tasks, b);
  }

  // The consumer hands each task its records from its position on, up to
  // (not including) offset `until`.
  // Started, a first commit at offset `committed`, then read on to
  // `read_to`: where most failure cases begin.
  void committed_then_read(std::int64_t committed, std::int64_t read_to) {
    ASSERT_TRUE(manager->start());
    read(committed);
    ASSERT_EQ(commit(), TaskManager::Outcome::committed);
    read(read_to);
  }

  void read(std::int64_t until) {
    for (const Key& k : tasks.tasks) {
      std::int64_t& pos = consumer.position[k];
      for (; pos < until; ++pos) tasks.live[k] += pos + 1;
      tasks.next[k] = pos;
    }
  }
  // What each task must hold once it read records [0, until) exactly once.
  static std::int64_t exactly_once_sum(std::int64_t until) { return until * (until + 1) / 2; }

  TaskManager::Outcome commit() { return manager->commit(tasks.positions()); }
};

// ------------------------------------------------------------ exactly_once

TEST(TaskManager, CleanCommitWritesTheStoresOnlyAfterTheTransactionCommitted) {
  Replica r;
  ASSERT_TRUE(r.manager->start());
  r.read(10);
  r.j.calls.clear();
  EXPECT_EQ(r.commit(), TaskManager::Outcome::committed);
  EXPECT_THAT(r.j.calls, ElementsAre("send_offsets", "commit", "post_commit", "begin"));
  EXPECT_EQ(r.group.committed.at({"in", 0}), 10);
  EXPECT_EQ(r.tasks.stored.at({"in", 1}), Replica::exactly_once_sum(10));
  EXPECT_EQ(r.manager->transactions_committed(), 1u);
  EXPECT_FALSE(r.manager->failed());
}

TEST(TaskManager, AbortableCommitErrorAbortsAndRewindsEveryTaskToItsCommittedOffsets) {
  Replica r;
  ASSERT_NO_FATAL_FAILURE(r.committed_then_read(10, 25));
  r.producer.commit.then(Failure::abortable);
  r.j.calls.clear();
  EXPECT_EQ(r.commit(), TaskManager::Outcome::rewound);
  // The store never saw the aborted transaction.
  EXPECT_EQ(r.j.first("post_commit"), -1);
  EXPECT_EQ(r.tasks.stored.at({"in", 0}), Replica::exactly_once_sum(10));
  EXPECT_THAT(r.j.calls, ElementsAre("send_offsets", "commit", "abort", "reload", "committed", "seek in[0]@10",
                                     "seek in[1]@10", "begin"));
  EXPECT_EQ(r.manager->transactions_aborted(), 1u);
  EXPECT_FALSE(r.manager->failed());
  // Read again from the rewound positions: nothing counted twice.
  r.read(25);
  ASSERT_EQ(r.commit(), TaskManager::Outcome::committed);
  for (const Key& k : r.tasks.tasks) {
    EXPECT_EQ(r.tasks.stored.at(k), Replica::exactly_once_sum(25)) << k.first << k.second;
    EXPECT_EQ(r.group.committed.at(k), 25);
  }
}

TEST(TaskManager, RewindOfATaskWithNoCommittedOffsetReadsFromTheBeginning) {
  Replica r;
  ASSERT_TRUE(r.manager->start());
  r.read(7);
  r.producer.send.then(Failure::abortable);
  EXPECT_EQ(r.commit(), TaskManager::Outcome::rewound);
  EXPECT_EQ(r.j.count("seek in[0]@-2"), 1);
  EXPECT_EQ(r.j.count("commit"), 0);  // never after a failed send_offsets
  r.read(7);
  ASSERT_EQ(r.commit(), TaskManager::Outcome::committed);
  EXPECT_EQ(r.tasks.stored.at({"in", 0}), Replica::exactly_once_sum(7));
}

TEST(TaskManager, RetriableCommitErrorsAreRetriedWithinTheBound) {
  Replica r;
  ASSERT_TRUE(r.manager->start());
  r.read(5);
  r.producer.commit.then(Failure::retriable, 3);
  EXPECT_EQ(r.commit(), TaskManager::Outcome::committed);
  EXPECT_EQ(r.j.count("commit"), 4);
  EXPECT_EQ(r.j.count("abort"), 0);
  EXPECT_EQ(r.slept.size(), 3u);
  EXPECT_EQ(r.tasks.stored.at({"in", 0}), Replica::exactly_once_sum(5));
}

TEST(TaskManager, RetriableCommitErrorsPastTheBoundAbortAndRewind) {
  CommitBounds b;
  b.budget = milliseconds(5000);
  b.backoff = milliseconds(500);
  Replica r(true, b);
  ASSERT_TRUE(r.manager->start());
  r.read(5);
  r.producer.commit.then(Failure::retriable, 1000);
  EXPECT_EQ(r.commit(), TaskManager::Outcome::rewound);
  // 5 s of 500 ms backoffs: the first call and ten retries, no more.
  EXPECT_EQ(r.j.count("commit"), 11);
  EXPECT_EQ(r.j.count("abort"), 1);
  EXPECT_EQ(r.j.count("reload"), 1);
  EXPECT_EQ(r.j.count("post_commit"), 0);
  EXPECT_FALSE(r.manager->failed());
}

TEST(TaskManager, FatalProducerIsReplacedAndTheStateReloaded) {
  Replica r;
  ASSERT_NO_FATAL_FAILURE(r.committed_then_read(10, 20));
  r.producer.commit.then(Failure::fatal);
  r.j.calls.clear();
  EXPECT_EQ(r.commit(), TaskManager::Outcome::rewound);
  EXPECT_THAT(r.j.calls, ElementsAre("send_offsets", "commit", "replace", "init", "reload", "committed",
                                     "seek in[0]@10", "seek in[1]@10", "begin"));
  EXPECT_EQ(r.manager->transactions_aborted(), 1u);
  r.read(20);
  ASSERT_EQ(r.commit(), TaskManager::Outcome::committed);
  EXPECT_EQ(r.tasks.stored.at({"in", 1}), Replica::exactly_once_sum(20));
}

TEST(TaskManager, FailedAbortReplacesTheProducer) {
  Replica r;
  ASSERT_TRUE(r.manager->start());
  r.read(3);
  r.producer.commit.then(Failure::abortable);
  r.producer.abort.then(Failure::retriable);
  EXPECT_EQ(r.commit(), TaskManager::Outcome::rewound);
  EXPECT_GT(r.j.first("replace"), r.j.first("abort"));
  EXPECT_GT(r.j.first("reload"), r.j.first("init"));
  EXPECT_FALSE(r.manager->failed());
}

TEST(TaskManager, FencedProducerIsReplacedAndTheStateReloaded) {
  // What a broker that stalled past transaction.timeout.ms answers: it
  // aborted the transaction itself and bumped the epoch.
  LogCapture log;
  Replica r;
  ASSERT_NO_FATAL_FAILURE(r.committed_then_read(10, 20));
  r.producer.commit.then(Failure::fenced, 1, "Local: This instance has been fenced by a newer instance");
  r.j.calls.clear();
  EXPECT_EQ(r.commit(), TaskManager::Outcome::rewound);
  EXPECT_THAT(r.j.calls, ElementsAre("send_offsets", "commit", "replace", "init", "reload", "committed",
                                     "seek in[0]@10", "seek in[1]@10", "begin"));
  EXPECT_FALSE(r.manager->failed());
  EXPECT_THAT(log.text(), HasSubstr("fenced (Local: This instance has been fenced by a newer instance)"));
  r.read(20);
  ASSERT_EQ(r.commit(), TaskManager::Outcome::committed);
  EXPECT_EQ(r.tasks.stored.at({"in", 0}), Replica::exactly_once_sum(20));
  // A commit went through since: the next fencing is a first one again.
  r.read(30);
  r.producer.commit.then(Failure::fenced);
  EXPECT_EQ(r.commit(), TaskManager::Outcome::rewound);
  EXPECT_FALSE(r.manager->failed());
}

TEST(TaskManager, AbortRefusedAsFencedReplacesTheProducer) {
  Replica r;
  ASSERT_TRUE(r.manager->start());
  r.read(3);
  r.producer.commit.then(Failure::abortable);
  r.producer.abort.then(Failure::fenced, 1, "Broker: Producer fenced");
  EXPECT_EQ(r.commit(), TaskManager::Outcome::rewound);
  EXPECT_GT(r.j.first("replace"), r.j.first("abort"));
  EXPECT_GT(r.j.first("reload"), r.j.first("replace"));
  EXPECT_FALSE(r.manager->failed());
}

TEST(TaskManager, FencedTwiceBeforeAnyCommitEndsTheThreadWithoutTouchingTheTasks) {
  // Two live processes with one transactional.id fence each other in turn.
  LogCapture log;
  Replica r;
  ASSERT_TRUE(r.manager->start());
  r.read(3);
  r.producer.commit.then(Failure::fenced);
  ASSERT_EQ(r.commit(), TaskManager::Outcome::rewound);
  r.read(3);
  r.producer.commit.then(Failure::fenced, 1, "Producer fenced by newer instance");
  r.j.calls.clear();
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_TRUE(r.manager->failed());
  EXPECT_THAT(r.j.calls, ElementsAre("send_offsets", "commit"));
  EXPECT_THAT(log.text(), HasSubstr("fenced again before any commit: another process uses transactional.id "
                                    "app-task-0 (Producer fenced by newer instance); is replica_id shared"));
  // Nothing more goes to the producer.
  r.j.calls.clear();
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  r.manager->rewind();
  EXPECT_TRUE(r.j.calls.empty());
}

TEST(TaskManager, ProducerThatCannotBeCreatedEndsTheThread) {
  LogCapture log;
  Replica r;
  ASSERT_TRUE(r.manager->start());
  r.read(3);
  r.producer.commit.then(Failure::fatal);
  r.producer.replace_throws = true;
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_TRUE(r.manager->failed());
  EXPECT_FALSE(r.manager->interrupted());
  EXPECT_EQ(r.j.count("reload"), 0);
  EXPECT_THAT(log.text(), HasSubstr("cannot create a new producer: no memory for a producer"));
  r.j.calls.clear();
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_TRUE(r.j.calls.empty());
}

TEST(TaskManager, NewProducerThatNeverStartsEndsTheThreadWithinTheBound) {
  LogCapture log;
  CommitBounds b;
  b.budget = milliseconds(20000);
  Replica r(true, b);
  ASSERT_TRUE(r.manager->start());
  r.read(3);
  r.producer.commit.then(Failure::fatal);
  r.producer.init.then(Failure::retriable, 1000, "Local: Timed out");  // the broker went away
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_TRUE(r.manager->failed());
  EXPECT_EQ(r.j.count("reload"), 0);
  EXPECT_EQ(r.j.count("begin"), 1);  // the first transaction's only
  // 500 ms doubling to 10 s: 0.5+1+2+4+8 = 15.5 s, then 10 s: past 20 s.
  EXPECT_EQ(r.j.count("init"), 1 + 7);
  EXPECT_THAT(log.text(), HasSubstr("cannot start a new producer; stopping"));
}

TEST(TaskManager, StopWhileStartingANewProducerEndsAsAStop) {
  LogCapture log;
  Replica r;
  ASSERT_TRUE(r.manager->start());
  r.read(3);
  r.producer.commit.then(Failure::fatal);
  r.producer.init.then(Failure::retriable, 1000, "Local: Timed out");
  int inits = 0;
  r.producer.on_init = [&] {
    if (++inits == 3) r.tasks.stop = true;  // SIGTERM during the retry
  };
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_TRUE(r.manager->interrupted());
  EXPECT_FALSE(r.manager->failed());
  EXPECT_EQ(r.j.count("reload"), 0);
  EXPECT_THAT(log.text(), HasSubstr("stopped while starting a new producer"));
  // The uninitialised producer is never used again.
  r.j.calls.clear();
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  r.manager->rewind();
  EXPECT_TRUE(r.j.calls.empty());
}

TEST(TaskManager, StateThatDoesNotReloadEndsTheThread) {
  LogCapture log;
  Replica r;
  ASSERT_NO_FATAL_FAILURE(r.committed_then_read(4, 8));
  r.producer.commit.then(Failure::abortable);
  r.tasks.reload_ok = false;
  r.j.calls.clear();
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_TRUE(r.manager->failed());
  EXPECT_THAT(r.j.calls, ElementsAre("send_offsets", "commit", "abort", "reload"));
  // No seek, no new transaction, and the closed task is not touched again.
  r.j.calls.clear();
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_TRUE(r.j.calls.empty());
}

TEST(TaskManager, ARecordRefusedForGoodAbortsAndEndsTheThreadInsteadOfCommittingWithoutIt) {
  // A record too large for the producer or the topic would be refused again
  // after a rewind: no commit (the input offsets would pass frames whose
  // records were never written), no endless abort-and-rewind; the thread ends.
  LogCapture log;
  Replica r;
  ASSERT_NO_FATAL_FAILURE(r.committed_then_read(4, 8));
  r.producer.commit.then(Failure::unproducible, 1, "a record of 1040100 bytes to dl was refused");
  r.j.calls.clear();
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_TRUE(r.manager->failed());
  EXPECT_THAT(r.j.calls, ElementsAre("send_offsets", "commit", "abort"));
  EXPECT_EQ(r.group.committed.at({"in", 0}), 4) << "the offsets moved past records never written";
  EXPECT_EQ(r.tasks.stored.at({"in", 0}), Replica::exactly_once_sum(4));
  EXPECT_THAT(log.text(), HasSubstr("a record of 1040100 bytes to dl was refused"));
}

TEST(TaskManager, UnreadableCommittedOffsetsOrAFailedSeekEndTheThread) {
  {
    LogCapture log;
    Replica r;
    ASSERT_TRUE(r.manager->start());
    r.read(4);
    r.producer.commit.then(Failure::abortable);
    r.consumer.committed_script.then(Failure::retriable, 1, "Broker: Coordinator not available");
    EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
    EXPECT_TRUE(r.manager->failed());
    EXPECT_EQ(r.j.count("begin"), 1);
    EXPECT_THAT(log.text(), HasSubstr("cannot read the committed offsets to rewind to: Broker: Coordinator"));
  }
  {
    Replica r;
    ASSERT_TRUE(r.manager->start());
    r.read(4);
    r.producer.commit.then(Failure::abortable);
    r.consumer.seek_script.then(Failure::fatal);
    EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
    EXPECT_TRUE(r.manager->failed());
    EXPECT_EQ(r.j.count("begin"), 1);
  }
}

TEST(TaskManager, StoreWriteFailureAfterACommitEndsTheThread) {
  Replica r;
  ASSERT_TRUE(r.manager->start());
  r.read(4);
  r.tasks.post_commit_ok = false;
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_TRUE(r.manager->failed());
  EXPECT_EQ(r.j.count("begin"), 1);
}

TEST(TaskManager, PartitionsLostRewindsToTheLastCommit) {
  Replica r;
  ASSERT_NO_FATAL_FAILURE(r.committed_then_read(6, 9));
  r.j.calls.clear();
  r.manager->rewind();
  EXPECT_THAT(r.j.calls, ElementsAre("abort", "reload", "committed", "seek in[0]@6", "seek in[1]@6", "begin"));
  EXPECT_EQ(r.tasks.live.at({"in", 0}), Replica::exactly_once_sum(6));
}

TEST(TaskManager, StartRetriesUntilTheBrokerAnswersAndStopsOnRefusalOrStop) {
  {
    Replica r;
    r.producer.init.then(Failure::retriable, 5);
    EXPECT_TRUE(r.manager->start());
    EXPECT_EQ(r.j.count("init"), 6);
    EXPECT_EQ(r.j.count("begin"), 1);
  }
  {
    Replica r;
    r.producer.init.then(Failure::denied);
    EXPECT_FALSE(r.manager->start());
    EXPECT_EQ(r.j.count("begin"), 0);
  }
  {
    Replica r;
    r.producer.init.then(Failure::retriable, 1000);
    r.producer.on_init = [&] { r.tasks.stop = r.j.count("init") == 4; };
    EXPECT_FALSE(r.manager->start());
    EXPECT_EQ(r.j.count("init"), 4);
  }
}

// ------------------------------------------------------------ at_least_once

TEST(TaskManager, AtLeastOnceCommitsOffsetsAfterEveryRecordWasAcknowledged) {
  Replica r(false);
  ASSERT_TRUE(r.manager->start());
  EXPECT_TRUE(r.j.calls.empty());  // no transactions
  r.read(5);
  EXPECT_EQ(r.commit(), TaskManager::Outcome::committed);
  EXPECT_THAT(r.j.calls, ElementsAre("flush", "commit_offsets", "post_commit"));
  EXPECT_EQ(r.group.committed.at({"in", 1}), 5);
}

TEST(TaskManager, AtLeastOnceRetriedCommitThatSucceedsIsNotAFailure) {
  Replica r(false);
  r.read(5);
  r.consumer.commit_script.then(Failure::retriable, 2, "Broker: Request timed out");
  EXPECT_EQ(r.commit(), TaskManager::Outcome::committed);
  EXPECT_EQ(r.j.count("commit_offsets"), 3);
  EXPECT_FALSE(r.manager->failed());

  // A commit that fails all its retries is retried at the next one; when
  // that works, nothing failed.
  CommitBounds b;
  b.attempts = 2;
  Replica s(false, b);
  s.read(5);
  s.consumer.commit_script.then(Failure::retriable, 3);
  EXPECT_EQ(s.commit(), TaskManager::Outcome::failed);
  EXPECT_FALSE(s.manager->failed());
  s.read(8);
  EXPECT_EQ(s.commit(), TaskManager::Outcome::committed);
  EXPECT_FALSE(s.manager->failed());
  EXPECT_EQ(s.group.committed.at({"in", 0}), 8);
}

TEST(TaskManager, AtLeastOnceCommitRefusedInARebalanceWaitsForTheNextCommit) {
  Replica r(false);
  r.read(5);
  r.consumer.commit_script.then(Failure::abortable, 1, "Broker: Specified group generation id is not valid");
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_EQ(r.j.count("commit_offsets"), 1);  // no retry before the consumer polled
  EXPECT_TRUE(r.slept.empty());
  EXPECT_FALSE(r.manager->failed());
  EXPECT_EQ(r.commit(), TaskManager::Outcome::committed);
  EXPECT_EQ(r.group.committed.at({"in", 0}), 5);
}

TEST(TaskManager, AtLeastOnceCommitThatKeepsFailingIsRetriedAndReportedEachBound) {
  // A broker away for longer than the bound: exactly_once waits for it, and
  // so does at_least_once (it ended with status 1 after 60 s).
  LogCapture log;
  CommitBounds b;
  b.budget = milliseconds(10000);
  b.attempts = 3;
  Replica r(false, b);
  r.read(5);
  r.consumer.commit_script.then(Failure::retriable, 14 * 4, "Broker: Coordinator not available");
  for (int i = 0; i < 14; ++i) EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_FALSE(r.manager->failed());
  EXPECT_EQ(r.j.count("post_commit"), 0);
  // 3 retries of 500 ms per commit: 10 s pass in the 7th commit, and the
  // next line comes a bound after that one, in the 14th (10.5 s + 10.5 s).
  EXPECT_THAT(log.text(), HasSubstr("no commit succeeded for 10 s (still retrying)"));
  EXPECT_THAT(log.text(), HasSubstr("no commit succeeded for 21 s (still retrying)"));
  // The broker back: the offsets go out.
  EXPECT_EQ(r.commit(), TaskManager::Outcome::committed);
  EXPECT_EQ(r.group.committed.at({"in", 0}), 5);
}

TEST(TaskManager, AtLeastOnceBoundCountsFromTheLastSuccessfulCommit) {
  CommitBounds b;
  b.budget = milliseconds(10000);
  b.attempts = 3;
  Replica r(false, b);
  r.read(5);
  // Five failed commits (7.5 s), one that works, five failed again: never 10 s
  // without a commit.
  r.consumer.commit_script.then(Failure::retriable, 5 * 4);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_EQ(r.commit(), TaskManager::Outcome::committed);
  r.consumer.commit_script.then(Failure::retriable, 5 * 4);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_FALSE(r.manager->failed());
}

TEST(TaskManager, AtLeastOnceFailedDeliveryIsAFailureAndCommitsNoOffsets) {
  Replica r(false);
  r.read(5);
  r.producer.flush_script.then(Failure::fatal, 1, "2 deliveries failed, 0 pending");
  EXPECT_EQ(r.commit(), TaskManager::Outcome::failed);
  EXPECT_TRUE(r.manager->failed());
  EXPECT_EQ(r.j.count("commit_offsets"), 0);
  EXPECT_TRUE(r.group.committed.empty());
}

TEST(TaskManager, AtLeastOnceFlushBetweenTheStepsOfACommitFailsAsACommitDoes) {
  // Acknowledged: the tasks go on to write their snapshots.
  Replica r(false);
  r.read(5);
  EXPECT_TRUE(r.manager->flush_records());
  EXPECT_THAT(r.j.calls, ElementsAre("flush"));
  // Still pending past the bound: no snapshot yet, retried at the next
  // commit; a failed delivery ends the thread.
  CommitBounds b;
  b.attempts = 2;
  Replica s(false, b);
  s.producer.flush_script.then(Failure::retriable, 3, "1 record pending");
  EXPECT_FALSE(s.manager->flush_records());
  EXPECT_FALSE(s.manager->failed());
  EXPECT_EQ(s.j.count("flush"), 3);
  EXPECT_TRUE(s.manager->flush_records());
  s.producer.flush_script.then(Failure::fatal, 1, "1 delivery failed, 0 pending");
  EXPECT_FALSE(s.manager->flush_records());
  EXPECT_TRUE(s.manager->failed());
  EXPECT_EQ(s.j.count("post_commit"), 0);
  // exactly_once: the transaction orders them; nothing to wait for.
  Replica t(true);
  ASSERT_TRUE(t.manager->start());
  t.j.calls.clear();
  EXPECT_TRUE(t.manager->flush_records());
  EXPECT_TRUE(t.j.calls.empty());
}

}  // namespace
}  // namespace uniqd::kafka
