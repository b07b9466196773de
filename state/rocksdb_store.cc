#include "state/rocksdb_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <cstdarg>
#include <filesystem>
#include <system_error>

#include "state/key_codec.h"

namespace uniqd::state {

struct RocksDbStore::Window {
  WindowKey key;
  UidSet set;
  // By shard: pairs inserted since the last take_changes().
  std::vector<std::vector<processor::UidHash>> pending;
  // By shard: how many batches were taken so far (the next batch's seq).
  std::vector<std::uint32_t> batches;
  // Pairs of it reached RocksDB outside of numbered batches (write_all(),
  // load()): erasing it must still delete them.
  bool persisted{false};
};

namespace {

// Bounds every WriteBatch of write_all() so that rebuilding a large state
// does not hold it twice in memory.
constexpr std::size_t kWriteAllChunkPairs = 1u << 20;

// Whole-database scans read far ahead and bypass the block cache, which
// belongs to the (few) point reads.
constexpr std::size_t kScanReadaheadBytes = 8u << 20;

Status from_rocksdb(const rocksdb::Status& s, const std::string& what) {
  std::string msg = what + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(std::move(msg));
  if (s.IsInvalidArgument() || s.IsNotSupported()) return Status::InvalidArgument(std::move(msg));
  if (s.IsNotFound()) return Status::NotFound(std::move(msg));
  return Status::IOError(std::move(msg));
}

// Every write goes to the WAL but none waits for fsync: what must survive is
// the process (kill -9, a crash), whose WAL writes the kernel already holds.
// Losing the machine loses at most the last unsynced commits of this disk;
// the changelog in Kafka covers those.
Status write_batch(rocksdb::DB& db, rocksdb::WriteBatch& batch, const std::string& path, const char* what) {
  rocksdb::WriteOptions wo;
  wo.sync = false;
  wo.disableWAL = false;
  auto s = db.Write(wo, &batch);
  if (!s.ok()) return from_rocksdb(s, "rocksdb store " + path + ": " + what);
  return Status::OK();
}

// A run of a window's pairs in one shard, as one key: the pair key of its
// first hash (unique, for no pair is in two runs of a window), the packed
// hashes as value. Per-pair keys made every commit, flush and reopen pay
// per pair (~1 s per million pairs); a run costs one key.
void put_run(rocksdb::WriteBatch& batch, int shard, const WindowKey& window, std::string_view packed,
             std::string* key) {
  pair_key(shard, window, read_packed_hash(packed.data()), key);
  batch.Put(*key, rocksdb::Slice(packed.data(), packed.size())).PermitUncheckedError();
}

std::string window_name(int shard, const WindowKey& w) {
  return "shard " + std::to_string(shard) + " granularity " + std::to_string(w.granularity) + " start " +
         std::to_string(w.start);
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes.substr(0, 64)) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  if (bytes.size() > 64) out += "...";
  return out;
}

// RocksDB's diagnostics, dropped. Its default LOG file in the store's
// directory is a write like any other: on a full disk this RocksDB build
// asserts on the next write to a file whose previous write failed (its
// file writer's sync_without_flush_called_), so the info log aborted uniqd
// (SIGABRT) where a Status should have come back. Every failure that
// matters does come back as a Status, which uniqd logs with the store's
// path; the info log's tuning chatter is not missed.
class DroppedLogger final : public rocksdb::Logger {
 public:
  DroppedLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::HEADER_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

rocksdb::Options db_options(const RocksDbOptions& opts, const std::shared_ptr<rocksdb::Cache>& cache,
                            const std::shared_ptr<rocksdb::WriteBufferManager>& wbm) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.info_log = std::make_shared<DroppedLogger>();
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  // No bloom filter: the store never looks a pair up, it only writes them
  // and scans them back at start-up, where a filter would be pure cost.
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  o.write_buffer_manager = wbm;
  // A vector memtable: the store only ever writes pairs and scans them back
  // at start-up, the bulk-load pattern it is made for. An insert is an
  // append; the sort happens once, when the memtable flushes (a background
  // thread). The default skip list costs the committing thread ~5x more per
  // pair (a comparison-heavy descent per key), measured with 1M pairs.
  o.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  o.allow_concurrent_memtable_write = false;  // the vector takes one writer
  // Two memtables fit the budget: one filling while the other flushes.
  o.write_buffer_size = std::max<std::size_t>(opts.write_buffer_bytes / 2, 1u << 20);
  const auto supported = rocksdb::GetSupportedCompressions();
  const bool lz4 = std::find(supported.begin(), supported.end(), rocksdb::kLZ4Compression) != supported.end();
  o.compression = lz4 ? rocksdb::kLZ4Compression : rocksdb::kNoCompression;
  return o;
}

}  // namespace

RocksDbStore::RocksDbStore(RocksDbOptions opts) : opts_(std::move(opts)) {}

RocksDbStore::~RocksDbStore() {
  // Nothing to report to at this point: a failed flush or close leaves the
  // WAL, which the next open replays. Flushing first makes a graceful stop
  // cheap to reopen: replaying a large WAL into the vector memtable costs
  // seconds, reading SST files does not.
  if (db_ && write_failed_) {
    // After a failed write (a full disk) this RocksDB build asserts on the
    // next write to a file whose writer saw the error: caught aborting uniqd
    // in its info-LOG writer (dropped, see DroppedLogger); the WAL's writer
    // has the same check, and the teardown's flush and close write to it.
    // So the handle is left to the exit, and uniqd ends with its status and
    // message; the next open replays the WAL as after a crash.
    static_cast<void>(db_.release());
    return;
  }
  if (db_) {
    db_->Flush(rocksdb::FlushOptions()).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
}

Status RocksDbStore::checked(Status s) {
  if (!s.ok()) write_failed_ = true;
  return s;
}

Status RocksDbStore::open(const RocksDbOptions& opts, std::unique_ptr<RocksDbStore>* out) {
  if (opts.path.empty()) return Status::InvalidArgument("rocksdb store: empty path");
  if (opts.shards < 1 || opts.shards > kMaxShards) {
    return Status::InvalidArgument("rocksdb store " + opts.path + ": shards must be 1.." + std::to_string(kMaxShards) +
                                   ", not " + std::to_string(opts.shards));
  }
  std::error_code ec;
  std::filesystem::create_directories(opts.path, ec);
  if (ec) return Status::IOError("rocksdb store " + opts.path + ": cannot create the directory: " + ec.message());

  std::unique_ptr<RocksDbStore> store(new RocksDbStore(opts));
  store->cache_ = rocksdb::NewLRUCache(opts.block_cache_bytes);
  store->wbm_ = std::make_shared<rocksdb::WriteBufferManager>(opts.write_buffer_bytes, store->cache_);
  rocksdb::DB* db = nullptr;
  auto s = rocksdb::DB::Open(db_options(opts, store->cache_, store->wbm_), opts.path, &db);
  if (!s.ok()) return from_rocksdb(s, "rocksdb store " + opts.path + ": open");
  store->db_.reset(db);

  // The shard count decides which key every pair lives under: a database
  // written with another count cannot be read with this one.
  std::string value;
  s = store->db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(kMetaKey.data(), kMetaKey.size()), &value);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = store->db_->Put(wo, rocksdb::Slice(kMetaKey.data(), kMetaKey.size()),
                        encode_u32_value(static_cast<std::uint32_t>(opts.shards)));
    if (!s.ok()) return from_rocksdb(s, "rocksdb store " + opts.path + ": write shard count");
  } else if (!s.ok()) {
    return from_rocksdb(s, "rocksdb store " + opts.path + ": read shard count");
  } else {
    std::uint32_t stored = 0;
    if (!decode_u32_value(value, &stored)) {
      return Status::Corruption("rocksdb store " + opts.path + ": unreadable shard count 0x" + hex(value));
    }
    if (stored != static_cast<std::uint32_t>(opts.shards)) {
      return Status::InvalidArgument("rocksdb store " + opts.path +
                                     " was written with shards=" + std::to_string(stored) +
                                     ", cannot open it with shards=" + std::to_string(opts.shards));
    }
  }
  *out = std::move(store);
  return Status::OK();
}

RocksDbStore::Window* RocksDbStore::window_at(const WindowKey& key) {
  auto& slot = windows_[key];
  if (!slot) {
    slot = std::make_unique<Window>();
    slot->key = key;
    slot->pending.resize(opts_.shards);
    slot->batches.assign(opts_.shards, 0);
  }
  return slot.get();
}

void RocksDbStore::clear_memory() {
  windows_.clear();
  erased_.clear();
  pairs_ = 0;
}

WindowStore::Handle RocksDbStore::open(const WindowKey& key) {
  return window_at(key);
}

bool RocksDbStore::insert(Handle window, const processor::UidHash& uid) {
  auto* w = static_cast<Window*>(window);
  if (!w->set.insert(uid).second) return false;
  w->pending[uid.lo % static_cast<std::uint64_t>(opts_.shards)].push_back(uid);
  ++pairs_;
  return true;
}

std::uint64_t RocksDbStore::count(Handle window) const {
  return static_cast<const Window*>(window)->set.size();
}

void RocksDbStore::erase(const WindowKey& key) {
  auto it = windows_.find(key);
  if (it == windows_.end()) return;
  Window& w = *it->second;
  pairs_ -= w.set.size();
  const bool written = w.persisted || std::any_of(w.batches.begin(), w.batches.end(), [](auto n) { return n > 0; });
  if (written) erased_.push_back(ErasedWindow{key, std::move(w.batches)});
  windows_.erase(it);
}

std::size_t RocksDbStore::memory_bytes() const {
  std::size_t bytes = 0;
  for (const auto& [key, w] : windows_) {
    // As MemoryStore: slots plus one metadata byte per slot.
    bytes += sizeof(Window) + w->set.bucket_count() * (sizeof(processor::UidHash) + 1);
    bytes += w->batches.capacity() * sizeof(std::uint32_t);
    for (const auto& p : w->pending) bytes += sizeof(p) + p.capacity() * sizeof(processor::UidHash);
  }
  return bytes;
}

std::uint64_t RocksDbStore::pairs() const {
  return pairs_;
}

bool RocksDbStore::has_changes() const {
  if (!erased_.empty()) return true;
  for (const auto& [key, w] : windows_) {
    for (const auto& pending : w->pending) {
      if (!pending.empty()) return true;
    }
  }
  return false;
}

Changes RocksDbStore::take_changes() {
  Changes out;
  for (auto& [key, w] : windows_) {
    for (int shard = 0; shard < opts_.shards; ++shard) {
      auto& pending = w->pending[shard];
      if (pending.empty()) {
        // A window that went a whole commit without a new pair has most
        // likely closed: give its buffer back rather than hold the largest
        // batch it ever had until retention drops it.
        if (pending.capacity() > 0) std::vector<processor::UidHash>().swap(pending);
        continue;
      }
      // Key order (hi, lo): the write batch then holds sorted runs, which
      // the flush's sort and the changelog's compression both like.
      std::sort(pending.begin(), pending.end(), [](const processor::UidHash& x, const processor::UidHash& y) {
        return x.hi != y.hi ? x.hi < y.hi : x.lo < y.lo;
      });
      for (std::size_t from = 0; from < pending.size(); from += kMaxPairsPerBatch) {
        const std::size_t to = std::min(pending.size(), from + kMaxPairsPerBatch);
        PairBatch batch{shard, key, w->batches[shard]++, {}};
        batch.hashes.reserve((to - from) * kPackedHashBytes);
        for (std::size_t i = from; i < to; ++i) append_hash(batch.hashes, pending[i]);
        out.batches.push_back(std::move(batch));
      }
      pending.clear();
    }
  }
  // Windows come in map order per shard already; stable keeps that.
  std::stable_sort(out.batches.begin(), out.batches.end(),
                   [](const PairBatch& a, const PairBatch& b) { return a.shard < b.shard; });
  out.erased = std::move(erased_);
  erased_.clear();
  return out;
}

Status RocksDbStore::write(const Changes& changes, const Checkpoint& checkpoint) {
  rocksdb::WriteBatch batch;
  // Erasures first: a window erased and reopened since the previous commit
  // has its new pairs below, which must outlive the DeleteRange.
  for (const auto& e : changes.erased) {
    for (int shard = 0; shard < opts_.shards; ++shard) {
      batch.DeleteRange(window_prefix(shard, e.window), window_prefix_end(shard, e.window)).PermitUncheckedError();
      batch.Delete(batch_count_key(shard, e.window)).PermitUncheckedError();
    }
  }
  std::string key;
  for (const auto& b : changes.batches) {
    if (b.shard < 0 || b.shard >= opts_.shards) {
      return Status::InvalidArgument("rocksdb store " + opts_.path + ": batch of " + window_name(b.shard, b.window) +
                                     " but shards=" + std::to_string(opts_.shards));
    }
    if (b.hashes.size() % kPackedHashBytes != 0) {
      return Status::InvalidArgument("rocksdb store " + opts_.path + ": batch of " + window_name(b.shard, b.window) +
                                     " is " + std::to_string(b.hashes.size()) + " bytes, not whole hashes");
    }
    if (!b.hashes.empty()) {
      put_run(batch, b.shard, b.window, b.hashes, &key);
    }
    batch.Put(batch_count_key(b.shard, b.window), encode_u32_value(b.seq + 1)).PermitUncheckedError();
  }
  batch.Put(rocksdb::Slice(kCheckpointKey.data(), kCheckpointKey.size()), encode_checkpoint(checkpoint))
      .PermitUncheckedError();
  return checked(write_batch(*db_, batch, opts_.path, "commit"));
}

Status RocksDbStore::load(std::optional<Checkpoint>* checkpoint) {
  clear_memory();
  std::optional<Checkpoint> loaded;
  auto fail = [&](Status s) {
    clear_memory();
    return s;
  };
  auto corrupt = [&](std::string_view what, const rocksdb::Slice& k) {
    return fail(Status::Corruption("rocksdb store " + opts_.path + ": " + std::string(what) + " 0x" +
                                   hex(std::string_view(k.data(), k.size()))));
  };
  const auto shards = static_cast<std::uint64_t>(opts_.shards);

  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = kScanReadaheadBytes;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  // Keys of one (shard, window) are adjacent: remember the last window to
  // skip the map lookup for all but the first of them.
  Window* last = nullptr;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    const std::string_view key(k.data(), k.size());
    int shard = 0;
    WindowKey window;
    if (key.empty()) return corrupt("empty key", k);
    switch (key[0]) {
      case kPairTag: {
        processor::UidHash first;
        if (!decode_pair_key(key, &shard, &window, &first) || first.lo % shards != static_cast<std::uint64_t>(shard)) {
          return corrupt("bad pair key", k);
        }
        if (last == nullptr || !(last->key == window)) last = window_at(window);
        const rocksdb::Slice v = it->value();
        const std::string_view run(v.data(), v.size());
        bool same_shard = true;
        const bool whole = for_each_packed_hash(run, [&](const processor::UidHash& uid) {
          same_shard = same_shard && uid.lo % shards == static_cast<std::uint64_t>(shard);
          if (last->set.insert(uid).second) ++pairs_;
        });
        if (!whole || !same_shard || (!run.empty() && !(read_packed_hash(run.data()) == first))) {
          return corrupt("bad pair run", k);
        }
        // An empty value is a single pair: the key's own.
        if (run.empty() && last->set.insert(first).second) ++pairs_;
        break;
      }
      case kBatchCountTag: {
        std::uint32_t n = 0;
        const rocksdb::Slice v = it->value();
        if (!decode_batch_count_key(key, &shard, &window) || shard >= opts_.shards ||
            !decode_u32_value(std::string_view(v.data(), v.size()), &n)) {
          return corrupt("bad batch count key", k);
        }
        window_at(window)->batches[shard] = n;
        break;
      }
      case kCheckpointTag: {
        if (key != kCheckpointKey) return corrupt("bad checkpoint key", k);
        Checkpoint c;
        const rocksdb::Slice v = it->value();
        if (auto s = decode_checkpoint(std::string_view(v.data(), v.size()), &c); !s.ok()) {
          return fail(Status::Corruption("rocksdb store " + opts_.path + ": " + s.message()));
        }
        loaded = std::move(c);
        break;
      }
      case kMetaTag:
        if (key != kMetaKey) return corrupt("bad meta key", k);
        break;  // checked by open()
      default:
        return corrupt("unknown key", k);
    }
  }
  if (!it->status().ok()) return fail(from_rocksdb(it->status(), "rocksdb store " + opts_.path + ": load"));
  for (auto& [key, w] : windows_) w->persisted = true;
  *checkpoint = std::move(loaded);
  return Status::OK();
}

Status RocksDbStore::apply_changelog(std::string_view key, const std::string_view* value) {
  // Other record kinds (the snapshot) belong to the Kafka side.
  if (key.empty() || key[0] != kChangelogBatchTag) return Status::OK();
  int shard = 0;
  WindowKey window;
  std::uint32_t seq = 0;
  if (!decode_changelog_batch_key(key, &shard, &window, &seq)) {
    return Status::Corruption("changelog: bad batch key 0x" + hex(key));
  }
  if (shard >= opts_.shards) {
    return Status::Corruption("changelog: batch of " + window_name(shard, window) +
                              " but the store has shards=" + std::to_string(opts_.shards));
  }
  if (value == nullptr) {
    // Any tombstone of a window means the whole window was erased. It is
    // erased in Kafka already, so it is not reported by take_changes().
    if (auto it = windows_.find(window); it != windows_.end()) {
      pairs_ -= it->second->set.size();
      windows_.erase(it);
    }
    return Status::OK();
  }
  if (value->size() % kPackedHashBytes != 0) {
    return Status::Corruption("changelog: batch " + std::to_string(seq) + " of " + window_name(shard, window) + " is " +
                              std::to_string(value->size()) + " bytes, not whole hashes");
  }
  const auto shards = static_cast<std::uint64_t>(opts_.shards);
  Window* w = window_at(window);
  for (std::size_t i = 0; i < value->size(); i += kPackedHashBytes) {
    const auto uid = read_packed_hash(value->data() + i);
    if (uid.lo % shards != static_cast<std::uint64_t>(shard)) {
      return Status::Corruption("changelog: batch " + std::to_string(seq) + " of " + window_name(shard, window) +
                                " holds a hash of shard " + std::to_string(uid.lo % shards));
    }
    if (w->set.insert(uid).second) ++pairs_;
  }
  w->batches[shard] = std::max(w->batches[shard], seq + 1);
  return Status::OK();
}

Status RocksDbStore::write_all(const Checkpoint& checkpoint) {
  rocksdb::WriteBatch batch;
  std::size_t keys = 0;
  auto flush = [&] {
    auto s = checked(write_batch(*db_, batch, opts_.path, "write all"));
    batch.Clear();
    keys = 0;
    return s;
  };
  // The checkpoint goes first and comes back last: until then the database
  // holds part of the state, which no checkpoint may vouch for.
  batch.DeleteRange(std::string(1, kBatchCountTag), std::string(1, static_cast<char>(kBatchCountTag + 1)))
      .PermitUncheckedError();
  batch.Delete(rocksdb::Slice(kCheckpointKey.data(), kCheckpointKey.size())).PermitUncheckedError();
  batch.DeleteRange(std::string(1, kPairTag), std::string(1, static_cast<char>(kPairTag + 1))).PermitUncheckedError();
  const auto shards = static_cast<std::uint64_t>(opts_.shards);
  std::string key;
  std::vector<std::string> runs(static_cast<std::size_t>(opts_.shards));
  for (auto& entry : windows_) {
    // Not a structured binding: lambdas may not capture those (C++20, clang).
    const WindowKey& window = entry.first;
    auto& w = entry.second;
    auto put = [&](int shard) -> Status {
      std::string& run = runs[static_cast<std::size_t>(shard)];
      if (run.empty()) return Status::OK();
      put_run(batch, shard, window, run, &key);
      keys += run.size() / kPackedHashBytes;
      run.clear();
      if (keys >= kWriteAllChunkPairs) return flush();
      return Status::OK();
    };
    for (const auto& uid : w->set) {
      const int shard = static_cast<int>(uid.lo % shards);
      append_hash(runs[static_cast<std::size_t>(shard)], uid);
      if (runs[static_cast<std::size_t>(shard)].size() >= kMaxPairsPerBatch * kPackedHashBytes) {
        if (auto s = put(shard); !s.ok()) return s;
      }
    }
    for (int shard = 0; shard < opts_.shards; ++shard) {
      if (auto s = put(shard); !s.ok()) return s;
    }
    for (int shard = 0; shard < opts_.shards; ++shard) {
      if (w->batches[shard] > 0) {
        batch.Put(batch_count_key(shard, window), encode_u32_value(w->batches[shard])).PermitUncheckedError();
        ++keys;
      }
      w->pending[shard].clear();
    }
    w->persisted = true;
  }
  erased_.clear();
  batch.Put(rocksdb::Slice(kCheckpointKey.data(), kCheckpointKey.size()), encode_checkpoint(checkpoint))
      .PermitUncheckedError();
  return flush();
}

Status RocksDbStore::wipe() {
  rocksdb::WriteBatch batch;
  // 'b' and 'c' are adjacent: one range covers batch counts and checkpoint.
  batch.DeleteRange(std::string(1, kBatchCountTag), std::string(1, static_cast<char>(kCheckpointTag + 1)))
      .PermitUncheckedError();
  batch.DeleteRange(std::string(1, kPairTag), std::string(1, static_cast<char>(kPairTag + 1))).PermitUncheckedError();
  clear_memory();
  return checked(write_batch(*db_, batch, opts_.path, "wipe"));
}

std::uint64_t RocksDbStore::disk_bytes() const {
  std::uint64_t sst = 0, mem = 0;
  db_->GetIntProperty(rocksdb::DB::Properties::kLiveSstFilesSize, &sst);
  db_->GetIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &mem);
  return sst + mem;
}

}  // namespace uniqd::state
