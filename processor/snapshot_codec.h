// A small binary codec for the engine's snapshot (everything but the uid
// sets, which the state store keeps): fixed-width little-endian integers and
// length-prefixed bytes. The reader never throws and never reads past the
// end; a short or corrupt snapshot leaves ok() false.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace uniqd::processor {

class SnapshotWriter {
 public:
  template <class T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void put_bytes(std::string_view b) {
    put<std::uint64_t>(b.size());
    out_.append(b);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class SnapshotReader {
 public:
  explicit SnapshotReader(std::string_view in) : in_(in) {}
  template <class T>
  T get() {
    T v{};
    if (!ok_ || in_.size() < sizeof v) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, in_.data(), sizeof v);
    in_.remove_prefix(sizeof v);
    return v;
  }
  std::string get_bytes() {
    const auto n = get<std::uint64_t>();
    if (!ok_ || in_.size() < n) {
      ok_ = false;
      return {};
    }
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  // A count of items that follow, each at least min_item_bytes long: bounds
  // it by what is left, so a corrupt count cannot make a huge allocation.
  std::uint64_t get_count(std::size_t min_item_bytes) {
    const auto n = get<std::uint64_t>();
    if (n > in_.size() / (min_item_bytes == 0 ? 1 : min_item_bytes)) ok_ = false;
    return ok_ ? n : 0;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return in_.empty(); }

 private:
  std::string_view in_;
  bool ok_{true};
};

}  // namespace uniqd::processor
