// The window state interface: one set of uid hashes per (granularity,
// window start). The counter (processor/counter.h) owns the emit rules and
// talks to the state only through this interface, so the in-memory store and
// the RocksDB store are interchangeable and share one test suite.
#pragma once

#include <cstddef>
#include <cstdint>

#include "processor/frame.h"

namespace uniqd::state {

struct WindowKey {
  std::uint8_t granularity{0};  // processor::Granularity
  std::int64_t start{0};        // unix seconds
  auto operator<=>(const WindowKey&) const = default;
};

class WindowStore {
 public:
  virtual ~WindowStore() = default;

  // An opaque handle to one window's set, valid until erase() of that window.
  // Hot-path inserts go through it to skip the lookup by key.
  using Handle = void*;

  // Opens (creating if absent) the window's set.
  virtual Handle open(const WindowKey& key) = 0;
  // Adds a uid hash; true when it was not in the window yet.
  virtual bool insert(Handle window, const processor::UidHash& uid) = 0;
  // Distinct uids in the window.
  virtual std::uint64_t count(Handle window) const = 0;
  // Drops the window and its uids (a window past retention).
  virtual void erase(const WindowKey& key) = 0;

  // Bytes held for uid sets, and pairs held, for the memory report.
  virtual std::size_t memory_bytes() const = 0;
  virtual std::uint64_t pairs() const = 0;
};

}  // namespace uniqd::state
