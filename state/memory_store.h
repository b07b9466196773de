// WindowStore in memory: one open-addressing flat hash set per window
// (Boost's unordered_flat_set: 16-byte keys in contiguous slots, one probe
// line per lookup in the common case).
#pragma once

#include <boost/unordered/unordered_flat_set.hpp>
#include <map>
#include <memory>

#include "state/window_store.h"

namespace uniqd::state {

struct UidHashHasher {
  // The key is already an XXH3 output: its low word is uniformly spread, so
  // tell Boost not to mix it again.
  using is_avalanching = void;
  std::size_t operator()(const processor::UidHash& h) const noexcept { return h.lo; }
};

using UidSet = boost::unordered_flat_set<processor::UidHash, UidHashHasher>;

class MemoryStore final : public WindowStore {
 public:
  Handle open(const WindowKey& key) override;
  bool insert(Handle window, const processor::UidHash& uid) override {
    return static_cast<UidSet*>(window)->insert(uid).second;
  }
  std::uint64_t count(Handle window) const override { return static_cast<const UidSet*>(window)->size(); }
  void erase(const WindowKey& key) override;
  std::size_t memory_bytes() const override;
  std::uint64_t pairs() const override;

 private:
  std::map<WindowKey, std::unique_ptr<UidSet>> windows_;
};

}  // namespace uniqd::state
