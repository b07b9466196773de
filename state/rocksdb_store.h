// The durable window store: open windows stay in memory (the same flat sets
// as MemoryStore, so the hot path costs the same), and every commit writes
// the pairs that are new since the previous one to RocksDB, together with the
// task's checkpoint, in one atomic WriteBatch. The same new pairs go to the
// changelog topic (kafka/), so a replica without this disk can rebuild the
// store from the changelog alone.
//
// Keys (state/key_codec.h) put shard, granularity and window start first,
// big-endian, so one window of one shard is one contiguous key range and
// expiring it is one DeleteRange.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "state/memory_store.h"
#include "state/status.h"
#include "state/window_store.h"

namespace rocksdb {
class DB;
class Cache;
class WriteBufferManager;
}  // namespace rocksdb

namespace uniqd::state {

struct RocksDbOptions {
  // Directory of the database; created when missing.
  std::string path;
  // Shards partition the uid space: shard = hash.lo % shards. One changelog
  // partition per shard. Default: 1.
  int shards{1};
  // Shared LRU block cache. Default: 64 MiB.
  std::size_t block_cache_bytes{64u << 20};
  // Memtables in total, charged to the block cache (write buffer manager).
  // Default: 64 MiB.
  std::size_t write_buffer_bytes{64u << 20};
};

// The pairs of one window and shard that one commit added: the unit written
// to the changelog (one record) and to RocksDB (one key per pair).
struct PairBatch {
  int shard{0};
  WindowKey window;
  // Per (shard, window) sequence number of the batch, from 0: the changelog
  // key's last part, so that compaction keeps every batch of a live window.
  std::uint32_t seq{0};
  // 16 bytes per uid hash: lo then hi, each little-endian.
  std::string hashes;
};

// A window erased since the previous commit: in RocksDB one DeleteRange per
// shard; in the changelog one tombstone per batch key that was written
// (seqs 0 .. batches-1 of each shard).
struct ErasedWindow {
  WindowKey window;
  std::vector<std::uint32_t> batches;  // by shard: how many batches were written
};

// A window erased and reopened since the previous commit appears in both
// lists, its new batches numbered from 0 again: apply the erasures first
// (write() does; the changelog must send the tombstones before the batches).
struct Changes {
  std::vector<PairBatch> batches;
  std::vector<ErasedWindow> erased;
  bool empty() const { return batches.empty() && erased.empty(); }
};

// What a restart needs besides the pairs: the engine snapshot of the same
// commit and, per changelog partition, the offset to replay the changelog
// from (everything before it is already in this database). input_next, per
// input partition, is the offset the same commit sent to the consumer group:
// the group's own committed offsets are what a restart resumes from (they
// are committed atomically with the output), so these only let a restart
// see that the group's offsets went back behind the state (a reset), which
// would count frames twice.
struct Checkpoint {
  std::string snapshot;
  std::map<std::int32_t, std::int64_t> changelog_next;
  std::map<std::int32_t, std::int64_t> input_next{};
};

class RocksDbStore final : public WindowStore {
 public:
  // Opens or creates the database at opts.path. A database written with a
  // different shard count is refused (InvalidArgument naming both counts).
  static Status open(const RocksDbOptions& opts, std::unique_ptr<RocksDbStore>* out);
  ~RocksDbStore() override;

  // WindowStore: the in-memory sets; insert() also records a new pair as
  // pending for the next take_changes().
  Handle open(const WindowKey& key) override;
  bool insert(Handle window, const processor::UidHash& uid) override;
  std::uint64_t count(Handle window) const override;
  // Drops the window from memory and its pending pairs; the next
  // take_changes() reports it as erased (when anything of it was written).
  void erase(const WindowKey& key) override;
  std::size_t memory_bytes() const override;
  std::uint64_t pairs() const override;

  // Everything new since the previous call, with batch sequence numbers
  // assigned; pending state is cleared. Batches come in (shard, window) order.
  Changes take_changes();
  // Whether take_changes() would return anything.
  bool has_changes() const;

  // One atomic WriteBatch: every pair of changes.batches, a DeleteRange per
  // erased window and shard, the batch counts, and the checkpoint.
  Status write(const Changes& changes, const Checkpoint& checkpoint);

  // Reads the whole database into memory (replacing what memory held):
  // every pair into its window's set, batch counts, and the checkpoint
  // (nullopt when none was ever written). Nothing is pending afterwards.
  Status load(std::optional<Checkpoint>* checkpoint);

  // Changelog restore: one record of the changelog topic (value nullptr: a
  // tombstone). Pair batches are inserted into memory (not pending: they
  // are durable in Kafka already); a tombstone of a window's batch drops the
  // window from memory. Keys that are not pair batches (not starting with
  // 'B', e.g. the snapshot record) are ignored with OK. Returns Corruption on
  // a batch key or value it cannot read, or one of a shard >= shards().
  // Call write_all() afterwards to persist the restored state.
  Status apply_changelog(std::string_view key, const std::string_view* value);
  // After a changelog restore, memory holds pairs RocksDB does not: persist
  // every window wholly (used once, after restore). Pending and erased state
  // is cleared. Large states go in several WriteBatches; the first one drops
  // the old checkpoint and the last one writes the new one, so a crash
  // midway leaves no checkpoint (load() gives nullopt: restore again).
  Status write_all(const Checkpoint& checkpoint);

  // Drops every window, in memory and on disk (an empty state directory's
  // twin, before a restore from the changelog alone).
  Status wipe();

  int shards() const { return opts_.shards; }
  // Bytes RocksDB holds on disk (live SST files) and in memtables.
  std::uint64_t disk_bytes() const;

 private:
  struct Window;
  explicit RocksDbStore(RocksDbOptions opts);
  // The window's entry, created (empty, nothing written) when absent.
  Window* window_at(const WindowKey& key);
  void clear_memory();

  RocksDbOptions opts_;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::shared_ptr<rocksdb::WriteBufferManager> wbm_;
  std::unique_ptr<rocksdb::DB> db_;
  // A write failed: the destructor leaves the database to the exit.
  bool write_failed_{false};
  Status checked(Status s);
  std::map<WindowKey, std::unique_ptr<Window>> windows_;
  std::vector<ErasedWindow> erased_;
  std::uint64_t pairs_{0};
};

}  // namespace uniqd::state
