// The byte layouts of the state: RocksDB keys and values, and the changelog
// records' keys and values. Every integer in a key is big-endian (window
// starts with the sign bit flipped), so that byte order is numeric order:
// one window of one shard is one contiguous key range, adjacent windows'
// ranges do not overlap, and a scan visits windows in time order.
//
// RocksDB keys:
//   'p' shard:u16 granularity:u8 start:u64 hash.hi:u64 hash.lo:u64  -> packed hashes
//       a run of the window's pairs in that shard (a changelog batch, or a
//       chunk of write_all()), keyed by its first hash; "" (older stores) is
//       the key's hash alone. Runs of one window are disjoint.
//   'b' shard:u16 granularity:u8 start:u64                           -> batches:u32
//   'c'                                                              -> checkpoint
//   'm'                                                              -> shards:u32
// Changelog record keys (Kafka, not RocksDB):
//   'B' shard:u16 granularity:u8 start:u64 seq:u32  -> packed hashes
// Packed hashes: 16 bytes per hash, lo then hi, each little-endian (the
// host's order on every machine we run on, so packing is two memcpy).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "processor/frame.h"
#include "state/rocksdb_store.h"
#include "state/status.h"
#include "state/window_store.h"

namespace uniqd::state {

inline constexpr char kPairTag = 'p';
inline constexpr char kBatchCountTag = 'b';
inline constexpr char kCheckpointTag = 'c';
inline constexpr char kMetaTag = 'm';
inline constexpr char kChangelogBatchTag = 'B';
inline constexpr std::string_view kCheckpointKey{"c"};
inline constexpr std::string_view kMetaKey{"m"};
// 2 adds the input offsets; 1 (changelog offsets only) still loads.
inline constexpr std::uint8_t kCheckpointFormat = 2;

inline constexpr std::size_t kWindowPrefixBytes = 1 + 2 + 1 + 8;
inline constexpr std::size_t kPairKeyBytes = kWindowPrefixBytes + 16;
inline constexpr std::size_t kChangelogBatchKeyBytes = kWindowPrefixBytes + 4;
inline constexpr std::size_t kPackedHashBytes = 16;
// Pairs per changelog record at most: 512 KiB of hashes, under Kafka's
// default 1 MB record limit (broker message.max.bytes, librdkafka's
// message.max.bytes) whatever the backlog puts into one commit.
inline constexpr std::size_t kMaxPairsPerBatch = 32768;

// Shards are u16 in keys.
inline constexpr int kMaxShards = 65535;

// --- pairs ---------------------------------------------------------------
std::string pair_key(int shard, const WindowKey& window, const processor::UidHash& uid);
// The same into a reused buffer: no allocation per pair on the commit path.
void pair_key(int shard, const WindowKey& window, const processor::UidHash& uid, std::string* out);
// Every pair key of (shard, window) starts with this prefix...
std::string window_prefix(int shard, const WindowKey& window);
// ...and sorts before this one (the prefix's successor), which is at most
// the next window's prefix: [window_prefix, window_prefix_end) is exactly
// the window's range, for DeleteRange.
std::string window_prefix_end(int shard, const WindowKey& window);
bool decode_pair_key(std::string_view key, int* shard, WindowKey* window, processor::UidHash* uid);

// --- batch counts and meta (u32 values) -----------------------------------
std::string batch_count_key(int shard, const WindowKey& window);
bool decode_batch_count_key(std::string_view key, int* shard, WindowKey* window);
std::string encode_u32_value(std::uint32_t v);
bool decode_u32_value(std::string_view value, std::uint32_t* v);

// --- checkpoint -------------------------------------------------------------
// version:u8 (1) | snapshot length:u32 | snapshot | entries:u32 |
// entries x (partition:i32, next offset:i64), all big-endian.
std::string encode_checkpoint(const Checkpoint& checkpoint);
// Corruption for anything but exactly one well-formed version-1 encoding.
Status decode_checkpoint(std::string_view value, Checkpoint* checkpoint);

// --- changelog ----------------------------------------------------------------
std::string changelog_batch_key(int shard, const WindowKey& window, std::uint32_t seq);
bool decode_changelog_batch_key(std::string_view key, int* shard, WindowKey* window, std::uint32_t* seq);

// --- packed hashes --------------------------------------------------------------
inline void append_hash(std::string& out, const processor::UidHash& h) {
  static_assert(std::endian::native == std::endian::little, "packed hashes are little-endian");
  char bytes[kPackedHashBytes];
  std::memcpy(bytes, &h.lo, 8);
  std::memcpy(bytes + 8, &h.hi, 8);
  out.append(bytes, sizeof bytes);
}
// Reads the hash packed at p (kPackedHashBytes readable bytes).
inline processor::UidHash read_packed_hash(const char* p) {
  processor::UidHash h;
  std::memcpy(&h.lo, p, 8);
  std::memcpy(&h.hi, p + 8, 8);
  return h;
}
// Calls f(hash) for every hash of a packed value; false (and no call) when
// the length is not a whole number of hashes.
template <typename F>
bool for_each_packed_hash(std::string_view packed, F&& f) {
  if (packed.size() % kPackedHashBytes != 0) return false;
  for (std::size_t i = 0; i < packed.size(); i += kPackedHashBytes) f(read_packed_hash(packed.data() + i));
  return true;
}

}  // namespace uniqd::state
