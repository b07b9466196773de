// The durable store beyond the shared WindowStore cases: what survives a
// reopen, what a crash before write() loses, the changelog round trip, and
// the key layout's ordering promises.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "state/key_codec.h"
#include "state/rocksdb_store.h"
#include "tests/unit/temp_dir.h"

namespace uniqd::state {
namespace {

using processor::hash_uid;
using processor::UidHash;

using test_support::TempDir;

UidHash uid(int i) {
  return hash_uid("user-" + std::to_string(i));
}

// What a test can compare: every window's count.
std::map<WindowKey, std::uint64_t> counts(RocksDbStore& store, const std::vector<WindowKey>& keys) {
  std::map<WindowKey, std::uint64_t> out;
  for (const auto& k : keys) out[k] = store.count(store.open(k));
  return out;
}

bool operator==(const Checkpoint& a, const Checkpoint& b) {
  return a.snapshot == b.snapshot && a.changelog_next == b.changelog_next && a.input_next == b.input_next;
}

// One changelog record as the Kafka side writes it.
struct Record {
  std::string key;
  std::optional<std::string> value;  // nullopt: tombstone
};

// The records of one commit, tombstones before batches (Changes' contract).
std::vector<Record> changelog_records(const Changes& changes) {
  std::vector<Record> out;
  for (const auto& e : changes.erased) {
    for (int shard = 0; shard < static_cast<int>(e.batches.size()); ++shard) {
      for (std::uint32_t seq = 0; seq < e.batches[shard]; ++seq) {
        out.push_back({changelog_batch_key(shard, e.window, seq), std::nullopt});
      }
    }
  }
  for (const auto& b : changes.batches) out.push_back({changelog_batch_key(b.shard, b.window, b.seq), b.hashes});
  return out;
}

Status apply(RocksDbStore& store, const Record& r) {
  if (!r.value) return store.apply_changelog(r.key, nullptr);
  const std::string_view v(*r.value);
  return store.apply_changelog(r.key, &v);
}

class RocksDbStoreTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name = "db") const { return dir_.path() + "/" + name; }

  std::unique_ptr<RocksDbStore> open(int shards = 1, const std::string& name = "db") {
    std::unique_ptr<RocksDbStore> store;
    const auto s = RocksDbStore::open({.path = path(name), .shards = shards}, &store);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return store;
  }

  // Opens and loads; the checkpoint found goes to *checkpoint.
  std::unique_ptr<RocksDbStore> reopen(int shards, std::optional<Checkpoint>* checkpoint,
                                       const std::string& name = "db") {
    auto store = open(shards, name);
    if (!store) return store;
    const auto s = store->load(checkpoint);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(store->take_changes().empty()) << "nothing is pending after load";
    return store;
  }

  TempDir dir_;
};

TEST_F(RocksDbStoreTest, FreshDatabaseLoadsEmptyWithoutCheckpoint) {
  std::optional<Checkpoint> cp{Checkpoint{}};
  auto store = reopen(2, &cp);
  ASSERT_TRUE(store);
  EXPECT_FALSE(cp.has_value());
  EXPECT_EQ(store->pairs(), 0u);
  EXPECT_EQ(store->shards(), 2);
}

TEST_F(RocksDbStoreTest, WriteLoadRoundTrip) {
  const std::vector<WindowKey> keys{{0, -120}, {0, 60}, {1, 3600}, {3, 1700000000}};
  const Checkpoint cp1{std::string("snap\0one", 8), {{0, 10}, {3, 42}}};
  const Checkpoint cp2{"snapshot two", {{0, 11}, {1, 7}, {3, 99}}};
  std::map<WindowKey, std::uint64_t> before;
  std::uint64_t pairs = 0;
  {
    auto store = open(4);
    ASSERT_TRUE(store);
    for (std::size_t w = 0; w < keys.size(); ++w) {
      auto h = store->open(keys[w]);
      for (int i = 0; i < 500 * static_cast<int>(w + 1); ++i) store->insert(h, uid(i));
    }
    ASSERT_TRUE(store->write(store->take_changes(), cp1).ok());
    auto h = store->open(keys[1]);
    for (int i = 0; i < 3000; ++i) store->insert(h, uid(i));  // 2000 new
    ASSERT_TRUE(store->write(store->take_changes(), cp2).ok());
    before = counts(*store, keys);
    pairs = store->pairs();
    EXPECT_GT(store->disk_bytes(), 0u);
  }
  std::optional<Checkpoint> cp;
  auto store = reopen(4, &cp);
  ASSERT_TRUE(store);
  ASSERT_TRUE(cp.has_value());
  EXPECT_TRUE(*cp == cp2);
  EXPECT_EQ(store->pairs(), pairs);
  EXPECT_EQ(counts(*store, keys), before);
  EXPECT_EQ(before[keys[1]], 3000u);
  auto h = store->open(keys[3]);
  EXPECT_FALSE(store->insert(h, uid(1999))) << "loaded pairs are members";
  EXPECT_TRUE(store->insert(h, uid(2000)));
  // Batch numbering continues where it stopped: keys[3] had one batch per
  // shard, keys[1] two.
  h = store->open(keys[1]);
  EXPECT_TRUE(store->insert(h, uid(100000)));
  const auto changes = store->take_changes();
  ASSERT_EQ(changes.batches.size(), 2u);
  for (const auto& b : changes.batches) {
    EXPECT_EQ(b.seq, b.window == keys[1] ? 2u : 1u) << b.window.start;
  }
}

TEST_F(RocksDbStoreTest, ABigCommitIsSplitIntoRecordsKafkaAccepts) {
  const WindowKey w{0, 0};
  const std::size_t n = 2 * kMaxPairsPerBatch + 5;
  {
    auto store = open(1);
    ASSERT_TRUE(store);
    auto h = store->open(w);
    for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(store->insert(h, uid(static_cast<int>(i))));
    const auto changes = store->take_changes();
    ASSERT_EQ(changes.batches.size(), 3u);
    std::size_t total = 0;
    for (std::uint32_t i = 0; i < 3; ++i) {
      EXPECT_EQ(changes.batches[i].seq, i);
      EXPECT_LE(changes.batches[i].hashes.size(), kMaxPairsPerBatch * kPackedHashBytes);
      total += changes.batches[i].hashes.size() / kPackedHashBytes;
    }
    EXPECT_EQ(total, n);
    ASSERT_TRUE(store->write(changes, {}).ok());
  }
  auto store = open(1);
  ASSERT_TRUE(store);
  std::optional<Checkpoint> cp;
  ASSERT_TRUE(store->load(&cp).ok());
  EXPECT_EQ(store->count(store->open(w)), n);
  // The next record of the window numbers on from the split ones.
  ASSERT_TRUE(store->insert(store->open(w), uid(-1)));
  const auto next = store->take_changes();
  ASSERT_EQ(next.batches.size(), 1u);
  EXPECT_EQ(next.batches[0].seq, 3u);
}

TEST_F(RocksDbStoreTest, TakenButUnwrittenCommitIsLostOnCrash) {
  const Checkpoint cp1{"first", {{0, 5}}};
  {
    auto store = open(2);
    ASSERT_TRUE(store);
    auto h = store->open({0, 0});
    for (int i = 0; i < 100; ++i) store->insert(h, uid(i));
    ASSERT_TRUE(store->write(store->take_changes(), cp1).ok());
    for (int i = 100; i < 200; ++i) store->insert(h, uid(i));
    store->erase({0, 0});
    auto h2 = store->open({0, 60});
    store->insert(h2, uid(1));
    const auto lost = store->take_changes();  // the process dies before write()
    EXPECT_EQ(lost.erased.size(), 1u);
  }
  std::optional<Checkpoint> cp;
  auto store = reopen(2, &cp);
  ASSERT_TRUE(store);
  ASSERT_TRUE(cp.has_value());
  EXPECT_TRUE(*cp == cp1);
  EXPECT_EQ(store->pairs(), 100u);
  EXPECT_EQ(store->count(store->open({0, 0})), 100u);
  EXPECT_EQ(store->count(store->open({0, 60})), 0u);
}

TEST_F(RocksDbStoreTest, EraseDeletesTheWindowOnDisk) {
  const WindowKey a{0, 0}, b{0, 60}, c{1, 0};
  {
    auto store = open(4);
    ASSERT_TRUE(store);
    for (const auto& k : {a, b, c}) {
      auto h = store->open(k);
      for (int i = 0; i < 1000; ++i) store->insert(h, uid(i));
    }
    ASSERT_TRUE(store->write(store->take_changes(), {}).ok());
    auto h = store->open(a);
    for (int i = 1000; i < 1100; ++i) store->insert(h, uid(i));
    ASSERT_TRUE(store->write(store->take_changes(), {}).ok());

    store->erase(a);
    store->erase(c);
    auto hc = store->open(c);  // erased and reopened within one commit
    for (int i = 5000; i < 5010; ++i) store->insert(hc, uid(i));
    const auto changes = store->take_changes();
    ASSERT_EQ(changes.erased.size(), 2u);
    EXPECT_EQ(changes.erased[0].window, a);
    EXPECT_EQ(changes.erased[0].batches.size(), 4u);
    for (auto n : changes.erased[0].batches) EXPECT_EQ(n, 2u) << "1000 then 100 uids reach every shard twice";
    for (const auto& batch : changes.batches) EXPECT_EQ(batch.seq, 0u) << "a reopened window numbers from 0";
    ASSERT_TRUE(store->write(changes, {}).ok());
    EXPECT_EQ(store->pairs(), 1010u);
  }
  std::optional<Checkpoint> cp;
  auto store = reopen(4, &cp);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->pairs(), 1010u);
  EXPECT_EQ(store->count(store->open(a)), 0u);
  EXPECT_EQ(store->count(store->open(b)), 1000u);
  EXPECT_EQ(store->count(store->open(c)), 10u);
  // Erasing a loaded window reports it with its batch counts.
  store->erase(b);
  const auto changes = store->take_changes();
  ASSERT_EQ(changes.erased.size(), 1u);
  for (auto n : changes.erased[0].batches) EXPECT_EQ(n, 1u);
}

TEST_F(RocksDbStoreTest, PendingPairsOfAnErasedWindowAreDropped) {
  auto store = open(2);
  ASSERT_TRUE(store);
  auto h = store->open({0, 0});
  for (int i = 0; i < 10; ++i) store->insert(h, uid(i));
  store->erase({0, 0});
  EXPECT_TRUE(store->take_changes().empty()) << "never written, nothing to erase";
  EXPECT_EQ(store->pairs(), 0u);
}

TEST_F(RocksDbStoreTest, BatchSequenceAcrossCommitsAndShards) {
  constexpr int kShards = 4;
  auto store = open(kShards);
  ASSERT_TRUE(store);
  const WindowKey w1{0, 0}, w2{0, 60}, w3{1, 0};
  auto h1 = store->open(w1);
  auto h3 = store->open(w3);
  for (int i = 0; i < 400; ++i) store->insert(h1, uid(i));
  for (int i = 0; i < 40; ++i) store->insert(h3, uid(i));

  auto check = [&](const Changes& changes, std::uint64_t expect_pairs) {
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < changes.batches.size(); ++i) {
      const auto& b = changes.batches[i];
      if (i > 0) {
        const auto& p = changes.batches[i - 1];
        EXPECT_TRUE(std::pair(p.shard, p.window) < std::pair(b.shard, b.window)) << "(shard, window) order";
      }
      EXPECT_TRUE(for_each_packed_hash(b.hashes, [&](const UidHash& h) {
        EXPECT_EQ(h.lo % kShards, static_cast<std::uint64_t>(b.shard));
        ++n;
      }));
    }
    EXPECT_EQ(n, expect_pairs);
  };
  auto c1 = store->take_changes();
  EXPECT_EQ(c1.batches.size(), 2u * kShards);
  for (const auto& b : c1.batches) EXPECT_EQ(b.seq, 0u);
  check(c1, 440);
  EXPECT_TRUE(store->take_changes().empty()) << "nothing new";

  // Only uids of shard 1 and 3 for w1, everything for the new w2.
  int added = 0;
  for (int i = 400; added < 20; ++i) {
    if (uid(i).lo % kShards % 2 == 1) {
      store->insert(h1, uid(i));
      ++added;
    }
  }
  auto h2 = store->open(w2);
  for (int i = 0; i < 100; ++i) store->insert(h2, uid(i));
  auto c2 = store->take_changes();
  check(c2, 120);
  int w1_batches = 0;
  for (const auto& b : c2.batches) {
    if (b.window == w1) {
      ++w1_batches;
      EXPECT_EQ(b.shard % 2, 1);
      EXPECT_EQ(b.seq, 1u);
    } else {
      EXPECT_EQ(b.window, w2);
      EXPECT_EQ(b.seq, 0u);
    }
  }
  EXPECT_EQ(w1_batches, 2);
  for (int i = 1000; i < 1100; ++i) store->insert(h1, uid(i));
  for (const auto& b : store->take_changes().batches) {
    EXPECT_EQ(b.seq, b.shard % 2 == 1 ? 2u : 1u) << "shards count their batches apart";
  }
}

TEST_F(RocksDbStoreTest, ChangelogRestoreMatchesTheOriginal) {
  constexpr int kShards = 3;
  const std::vector<WindowKey> keys{{0, -60}, {0, 0}, {0, 60}, {1, 0}};
  std::vector<Record> log;
  log.push_back({"S", std::string("engine snapshot")});  // not the store's
  auto original = open(kShards, "original");
  ASSERT_TRUE(original);
  for (int commit = 0; commit < 5; ++commit) {
    for (std::size_t w = 0; w < keys.size(); ++w) {
      auto h = original->open(keys[w]);
      for (int i = 0; i < 50 * (commit + 1); ++i) original->insert(h, uid(i * static_cast<int>(w + 1)));
    }
    if (commit == 2) original->erase(keys[0]);
    if (commit == 3) original->erase(keys[0]);  // reopened at commit 3, erased again
    auto changes = original->take_changes();
    for (auto& r : changelog_records(changes)) log.push_back(std::move(r));
    ASSERT_TRUE(original->write(changes, {}).ok());
  }
  auto restored = open(kShards, "restored");
  ASSERT_TRUE(restored);
  for (const auto& r : log) {
    const auto s = apply(*restored, r);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_TRUE(restored->take_changes().empty()) << "restored pairs are durable in Kafka, not pending";
  EXPECT_EQ(restored->pairs(), original->pairs());
  EXPECT_EQ(counts(*restored, keys), counts(*original, keys));

  // Batch counts came back too: the next batches carry the same seqs.
  for (auto* store : {original.get(), restored.get()}) {
    for (const auto& k : keys) store->insert(store->open(k), uid(-1));
  }
  auto a = original->take_changes(), b = restored->take_changes();
  ASSERT_EQ(a.batches.size(), b.batches.size());
  for (std::size_t i = 0; i < a.batches.size(); ++i) {
    EXPECT_EQ(a.batches[i].seq, b.batches[i].seq) << i;
    EXPECT_EQ(a.batches[i].window, b.batches[i].window) << i;
  }
}

TEST_F(RocksDbStoreTest, ChangelogRejectsWhatItCannotRead) {
  auto store = open(2);
  ASSERT_TRUE(store);
  const std::string_view empty;
  EXPECT_TRUE(store->apply_changelog("S", &empty).ok()) << "not a batch key: the Kafka side's";
  EXPECT_TRUE(store->apply_changelog("", nullptr).ok());
  const std::string odd(17, 'x');
  const std::string_view odd_view(odd);
  auto s = store->apply_changelog(changelog_batch_key(0, {0, 0}, 0), &odd_view);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  s = store->apply_changelog("B-short", &empty);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  s = store->apply_changelog(changelog_batch_key(2, {0, 0}, 0), &empty);
  EXPECT_TRUE(s.IsCorruption()) << "shard 2 of 2: " << s.ToString();
  std::string wrong_shard;
  UidHash h{.lo = 3, .hi = 0};  // shard 1
  append_hash(wrong_shard, h);
  const std::string_view wrong_view(wrong_shard);
  s = store->apply_changelog(changelog_batch_key(0, {0, 0}, 0), &wrong_view);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
}

TEST_F(RocksDbStoreTest, WriteAllThenReopenEqualsMemory) {
  constexpr int kShards = 2;
  const std::vector<WindowKey> keys{{0, 0}, {0, 60}, {2, 86400}};
  // Old state on disk that the restore replaces.
  {
    auto store = open(kShards);
    ASSERT_TRUE(store);
    auto h = store->open({0, -3600});
    for (int i = 0; i < 100; ++i) store->insert(h, uid(i));
    ASSERT_TRUE(store->write(store->take_changes(), {"old", {{0, 1}}}).ok());
  }
  std::map<WindowKey, std::uint64_t> before;
  const Checkpoint cp{"restored", {{0, 123}, {1, 456}}};
  {
    auto store = open(kShards);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->wipe().ok());
    std::vector<Record> log;
    for (std::size_t w = 0; w < keys.size(); ++w) {
      std::string hashes[kShards];
      for (int i = 0; i < 1000; ++i) {
        const auto h = uid(i + 7 * static_cast<int>(w));
        append_hash(hashes[h.lo % kShards], h);
      }
      for (int s = 0; s < kShards; ++s) log.push_back({changelog_batch_key(s, keys[w], 4), hashes[s]});
    }
    for (const auto& r : log) ASSERT_TRUE(apply(*store, r).ok());
    ASSERT_TRUE(store->write_all(cp).ok());
    before = counts(*store, keys);
    EXPECT_EQ(store->pairs(), 3000u);
  }
  std::optional<Checkpoint> loaded;
  auto store = reopen(kShards, &loaded);
  ASSERT_TRUE(store);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_TRUE(*loaded == cp);
  EXPECT_EQ(store->pairs(), 3000u);
  EXPECT_EQ(counts(*store, keys), before);
  EXPECT_EQ(store->count(store->open({0, -3600})), 0u) << "wiped";
  store->insert(store->open(keys[0]), uid(-5));
  const auto changes = store->take_changes();
  ASSERT_EQ(changes.batches.size(), 1u);
  EXPECT_EQ(changes.batches[0].seq, 5u) << "the batch count survived write_all";
}

TEST_F(RocksDbStoreTest, WipeDropsEverything) {
  {
    auto store = open(1);
    ASSERT_TRUE(store);
    store->insert(store->open({0, 0}), uid(1));
    ASSERT_TRUE(store->write(store->take_changes(), {"x", {}}).ok());
    ASSERT_TRUE(store->wipe().ok());
    EXPECT_EQ(store->pairs(), 0u);
  }
  std::optional<Checkpoint> cp;
  auto store = reopen(1, &cp);
  ASSERT_TRUE(store);
  EXPECT_FALSE(cp.has_value());
  EXPECT_EQ(store->pairs(), 0u);
}

TEST_F(RocksDbStoreTest, WrongShardCountIsRefused) {
  ASSERT_TRUE(open(2));
  std::unique_ptr<RocksDbStore> store;
  const auto s = RocksDbStore::open({.path = path(), .shards = 3}, &store);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.message().find("shards=2"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("shards=3"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(path()), std::string::npos) << s.message();
  EXPECT_FALSE(store);
  EXPECT_TRUE(RocksDbStore::open({.path = path(), .shards = 0}, &store).IsInvalidArgument());
}

TEST_F(RocksDbStoreTest, OpenFailureNamesThePath) {
  const std::string file = path("a-file");
  { std::ofstream(file) << "not a directory"; }
  std::unique_ptr<RocksDbStore> store;
  const auto s = RocksDbStore::open({.path = file + "/db"}, &store);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(file), std::string::npos) << s.ToString();
}

TEST_F(RocksDbStoreTest, CorruptCheckpointIsReported) {
  {
    auto store = open(1);
    ASSERT_TRUE(store);
    store->insert(store->open({0, 0}), uid(1));
    ASSERT_TRUE(store->write(store->take_changes(), {"good", {{0, 1}}}).ok());
  }
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "c", "\x01garbage").ok());
  }
  auto store = open(1);
  ASSERT_TRUE(store);
  std::optional<Checkpoint> cp;
  const auto s = store->load(&cp);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find("checkpoint"), std::string::npos) << s.message();
  EXPECT_EQ(store->pairs(), 0u) << "a failed load leaves nothing half-loaded";
}

TEST_F(RocksDbStoreTest, PairRunsAndSinglePairKeysLoadAndBadRunsAreReported) {
  const WindowKey w{0, 0};
  { ASSERT_TRUE(open(1)); }
  const UidHash a = uid(1), b = uid(2), c = uid(3);
  std::string run;
  append_hash(run, a);
  append_hash(run, b);
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), path(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), pair_key(0, w, a), run).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), pair_key(0, w, c), "").ok()) << "a store from before runs";
  }
  {
    auto store = open(1);
    ASSERT_TRUE(store);
    std::optional<Checkpoint> cp;
    ASSERT_TRUE(store->load(&cp).ok());
    EXPECT_EQ(store->count(store->open(w)), 3u);
    EXPECT_EQ(store->pairs(), 3u);
  }
  // A run whose first hash is not its key's, or not whole hashes.
  for (const std::string& bad : {run.substr(16) + run.substr(0, 16), run.substr(0, 20)}) {
    {
      rocksdb::DB* raw = nullptr;
      ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), path(), &raw).ok());
      std::unique_ptr<rocksdb::DB> db(raw);
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), pair_key(0, w, a), bad).ok());
    }
    auto store = open(1);
    ASSERT_TRUE(store);
    std::optional<Checkpoint> cp;
    const auto s = store->load(&cp);
    EXPECT_TRUE(s.IsCorruption()) << s.ToString();
    EXPECT_NE(s.message().find("pair run"), std::string::npos) << s.message();
  }
}

TEST(CheckpointCodec, RoundTripAndGarbage) {
  const Checkpoint cp{std::string("\0\xff snapshot", 11),
                      {{-1, 0}, {0, -5}, {7, std::numeric_limits<std::int64_t>::max()}},
                      {{0, 1234}, {3, 99}}};
  const auto bytes = encode_checkpoint(cp);
  Checkpoint back;
  ASSERT_TRUE(decode_checkpoint(bytes, &back).ok());
  EXPECT_TRUE(back == cp);
  ASSERT_TRUE(decode_checkpoint(encode_checkpoint({}), &back).ok());
  EXPECT_TRUE(back == Checkpoint{});

  EXPECT_TRUE(decode_checkpoint("", &back).IsCorruption());
  EXPECT_TRUE(decode_checkpoint("\x03" + bytes.substr(1), &back).IsCorruption()) << "unknown version";
  EXPECT_TRUE(decode_checkpoint("\x01" + bytes.substr(1), &back).IsCorruption())
      << "format 1 has nothing after the changelog offsets";
  for (std::size_t n = 1; n < bytes.size(); ++n) {
    EXPECT_TRUE(decode_checkpoint(bytes.substr(0, n), &back).IsCorruption()) << "truncated to " << n;
  }
  EXPECT_TRUE(decode_checkpoint(bytes + "x", &back).IsCorruption()) << "trailing byte";
  std::string huge = bytes;
  huge[5 + 11] = '\x7f';  // entry count's top byte
  EXPECT_TRUE(decode_checkpoint(huge, &back).IsCorruption());
  std::string twice = encode_checkpoint(Checkpoint{"", {}, {{5, 1}, {6, 2}}});
  twice[1 + 4 + 4 + 4 + 3 + 12] = '\x05';  // the second input partition's low byte: 5 again
  const auto s = decode_checkpoint(twice, &back);
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_NE(s.message().find("input partition 5 appears twice"), std::string::npos) << s.message();
}

TEST(CheckpointCodec, Format1StillLoads) {
  // Written before input offsets were kept: version 1, snapshot "ab", one
  // changelog offset (partition 2 at 7).
  const std::string v1 =
      std::string("\x01\0\0\0\x02", 5) + "ab" + std::string("\0\0\0\x01\0\0\0\x02", 8) + std::string(7, '\0') + "\x07";
  Checkpoint back;
  ASSERT_TRUE(decode_checkpoint(v1, &back).ok());
  EXPECT_EQ(back.snapshot, "ab");
  EXPECT_EQ(back.changelog_next, (std::map<std::int32_t, std::int64_t>{{2, 7}}));
  EXPECT_TRUE(back.input_next.empty());
}

TEST(KeyCodec, StartsSortNumerically) {
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  const std::vector<std::int64_t> starts{kMin, -86400LL * 365, -61, -60, -1, 0, 1, 59, 60, 1700000000, kMax};
  const UidHash lowest{0, 0}, highest{~0ull, ~0ull};
  for (int shard : {0, 1, 65535}) {
    for (std::uint8_t g : {0, 1, 255}) {
      for (std::size_t i = 0; i < starts.size(); ++i) {
        const WindowKey w{g, starts[i]};
        const auto prefix = window_prefix(shard, w), end = window_prefix_end(shard, w);
        EXPECT_LT(prefix, end);
        for (const auto& h : {lowest, highest, hash_uid("x")}) {
          const auto key = pair_key(shard, w, h);
          EXPECT_EQ(key.size(), kPairKeyBytes);
          EXPECT_TRUE(key.starts_with(prefix));
          EXPECT_LT(key, end);
          int s2 = -1;
          WindowKey w2;
          UidHash h2;
          ASSERT_TRUE(decode_pair_key(key, &s2, &w2, &h2));
          EXPECT_EQ(s2, shard);
          EXPECT_EQ(w2, w);
          EXPECT_EQ(h2, h);
        }
        if (i + 1 < starts.size()) {
          const WindowKey next{g, starts[i + 1]};
          EXPECT_LT(pair_key(shard, w, highest), pair_key(shard, next, lowest)) << starts[i];
          EXPECT_LE(end, window_prefix(shard, next)) << "adjacent ranges do not overlap: " << starts[i];
          EXPECT_LT(batch_count_key(shard, w), batch_count_key(shard, next));
          EXPECT_LT(changelog_batch_key(shard, w, ~0u), changelog_batch_key(shard, next, 0));
        }
        std::uint32_t seq = 0;
        int s3 = -1;
        WindowKey w3;
        ASSERT_TRUE(decode_changelog_batch_key(changelog_batch_key(shard, w, 77), &s3, &w3, &seq));
        EXPECT_EQ(s3, shard);
        EXPECT_EQ(w3, w);
        EXPECT_EQ(seq, 77u);
        ASSERT_TRUE(decode_batch_count_key(batch_count_key(shard, w), &s3, &w3));
        EXPECT_EQ(w3, w);
      }
    }
  }
  // Granularity, then shard, rank above the start.
  EXPECT_LT(window_prefix(0, {0, kMax}), window_prefix(0, {1, kMin}));
  EXPECT_LT(window_prefix(0, {255, kMax}), window_prefix(1, {0, kMin}));
  EXPECT_LE(window_prefix_end(0, {255, kMax}), window_prefix(1, {0, kMin}));
  int s = 0;
  WindowKey w;
  UidHash h;
  std::uint32_t seq = 0;
  EXPECT_FALSE(decode_pair_key(pair_key(0, {}, {}).substr(1), &s, &w, &h));
  EXPECT_FALSE(decode_pair_key(batch_count_key(0, {}), &s, &w, &h));
  EXPECT_FALSE(decode_changelog_batch_key(pair_key(0, {}, {}), &s, &w, &seq));
  EXPECT_FALSE(decode_changelog_batch_key(changelog_batch_key(0, {}, 1) + "x", &s, &w, &seq));
}

TEST(KeyCodec, PackedHashes) {
  std::string packed;
  const UidHash a{0x0102030405060708ull, 0x1112131415161718ull}, b = hash_uid("b");
  append_hash(packed, a);
  append_hash(packed, b);
  ASSERT_EQ(packed.size(), 32u);
  EXPECT_EQ(static_cast<unsigned char>(packed[0]), 0x08) << "lo first, little-endian";
  EXPECT_EQ(static_cast<unsigned char>(packed[8]), 0x18) << "then hi";
  std::vector<UidHash> back;
  EXPECT_TRUE(for_each_packed_hash(packed, [&](const UidHash& h) { back.push_back(h); }));
  EXPECT_EQ(back, (std::vector<UidHash>{a, b}));
  EXPECT_FALSE(for_each_packed_hash(packed.substr(1), [](const UidHash&) { FAIL(); }));
}

TEST_F(RocksDbStoreTest, LoadSpeedOfAMillionPairs) {
  constexpr int kShards = 4, kPairs = 1'000'000, kCommits = 10;
  // Wall time and this thread's CPU time: on a shared machine, wall time
  // measures the neighbours as much as the store.
  struct Timer {
    std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
    double cpu = cpu_ms();
    static double cpu_ms() {
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
    }
    void add_to(double* wall_ms, double* cpu_ms_total) const {
      *wall_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - wall).count();
      *cpu_ms_total += cpu_ms() - cpu;
    }
  };
  double write_ms = 0, write_cpu = 0, open_ms = 0, open_cpu = 0, load_ms = 0, load_cpu = 0;
  {
    auto store = open(kShards);
    ASSERT_TRUE(store);
    const WindowKey keys[] = {{0, 0}, {0, 60}, {1, 0}, {2, 0}};
    for (int c = 0; c < kCommits; ++c) {
      for (int i = c * kPairs / kCommits; i < (c + 1) * kPairs / kCommits; ++i) {
        store->insert(store->open(keys[i % 4]), uid(i));
      }
      const Timer t;
      ASSERT_TRUE(store->write(store->take_changes(), {}).ok());
      t.add_to(&write_ms, &write_cpu);
    }
  }
  Timer t;
  auto store = open(kShards);
  ASSERT_TRUE(store);
  t.add_to(&open_ms, &open_cpu);
  t = Timer();
  std::optional<Checkpoint> cp;
  ASSERT_TRUE(store->load(&cp).ok());
  t.add_to(&load_ms, &load_cpu);
  EXPECT_EQ(store->pairs(), static_cast<std::uint64_t>(kPairs));
  std::printf(
      "[ info     ] 1M pairs in %d commits, wall/cpu ms: write %.0f/%.0f, open %.0f/%.0f, load %.0f/%.0f "
      "(%.2f M pairs/s wall); disk %.1f MB\n",
      kCommits, write_ms, write_cpu, open_ms, open_cpu, load_ms, load_cpu, kPairs / load_ms / 1000,
      static_cast<double>(store->disk_bytes()) / 1e6);
  RecordProperty("load_ms", std::to_string(load_ms));
  RecordProperty("write_ms", std::to_string(write_ms));
}

}  // namespace
}  // namespace uniqd::state
