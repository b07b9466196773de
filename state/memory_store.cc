#include "state/memory_store.h"

namespace uniqd::state {

WindowStore::Handle MemoryStore::open(const WindowKey& key) {
  auto& slot = windows_[key];
  if (!slot) slot = std::make_unique<UidSet>();
  return slot.get();
}

void MemoryStore::erase(const WindowKey& key) {
  windows_.erase(key);
}

std::size_t MemoryStore::memory_bytes() const {
  std::size_t bytes = 0;
  for (const auto& [key, set] : windows_) {
    // Slots plus one metadata byte per slot (Boost groups 15 slots with a
    // 16-byte metadata word).
    bytes += set->bucket_count() * (sizeof(processor::UidHash) + 1) + sizeof(UidSet);
  }
  return bytes;
}

std::uint64_t MemoryStore::pairs() const {
  std::uint64_t n = 0;
  for (const auto& [key, set] : windows_) n += set->size();
  return n;
}

}  // namespace uniqd::state
