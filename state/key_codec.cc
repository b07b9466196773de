#include "state/key_codec.h"

namespace uniqd::state {
namespace {

constexpr std::uint64_t kSignBit = 0x8000000000000000ull;

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_be(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Flipping the sign bit maps int64 order onto unsigned order, so negative
// starts sort before positive ones byte-wise.
std::uint64_t flip(std::int64_t start) {
  return static_cast<std::uint64_t>(start) ^ kSignBit;
}
std::int64_t unflip(std::uint64_t v) {
  return static_cast<std::int64_t>(v ^ kSignBit);
}

void append_window_part(std::string& out, char tag, int shard, const WindowKey& w) {
  out.push_back(tag);
  put_be(out, static_cast<std::uint16_t>(shard), 2);
  out.push_back(static_cast<char>(w.granularity));
  put_be(out, flip(w.start), 8);
}

std::string window_part(char tag, int shard, const WindowKey& w, std::size_t reserve) {
  std::string out;
  out.reserve(reserve);
  append_window_part(out, tag, shard, w);
  return out;
}

bool decode_window_part(std::string_view key, char tag, int* shard, WindowKey* w) {
  if (key.size() < kWindowPrefixBytes || key[0] != tag) return false;
  *shard = static_cast<int>(get_be(key.data() + 1, 2));
  w->granularity = static_cast<std::uint8_t>(key[3]);
  w->start = unflip(get_be(key.data() + 4, 8));
  return true;
}

// A bounds-checked reader: every get fails once, and for good, when the value
// is shorter than what the format says.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool get(int bytes, std::uint64_t* v) {
    if (in_.size() < static_cast<std::size_t>(bytes)) return false;
    *v = get_be(in_.data(), bytes);
    in_.remove_prefix(bytes);
    return true;
  }
  bool get(std::size_t n, std::string* s) {
    if (in_.size() < n) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  std::size_t left() const { return in_.size(); }

 private:
  std::string_view in_;
};

}  // namespace

void pair_key(int shard, const WindowKey& window, const processor::UidHash& uid, std::string* out) {
  out->clear();
  append_window_part(*out, kPairTag, shard, window);
  put_be(*out, uid.hi, 8);
  put_be(*out, uid.lo, 8);
}

std::string pair_key(int shard, const WindowKey& window, const processor::UidHash& uid) {
  std::string out;
  out.reserve(kPairKeyBytes);
  pair_key(shard, window, uid, &out);
  return out;
}

std::string window_prefix(int shard, const WindowKey& window) {
  return window_part(kPairTag, shard, window, kWindowPrefixBytes);
}

std::string window_prefix_end(int shard, const WindowKey& window) {
  auto out = window_prefix(shard, window);
  // The shortest key above every key with this prefix: drop trailing 0xff
  // bytes and increment the last one. The tag 'p' is never 0xff, so one is
  // always left.
  while (static_cast<unsigned char>(out.back()) == 0xff) out.pop_back();
  out.back() = static_cast<char>(static_cast<unsigned char>(out.back()) + 1);
  return out;
}

bool decode_pair_key(std::string_view key, int* shard, WindowKey* window, processor::UidHash* uid) {
  if (key.size() != kPairKeyBytes || !decode_window_part(key, kPairTag, shard, window)) return false;
  uid->hi = get_be(key.data() + kWindowPrefixBytes, 8);
  uid->lo = get_be(key.data() + kWindowPrefixBytes + 8, 8);
  return true;
}

std::string batch_count_key(int shard, const WindowKey& window) {
  return window_part(kBatchCountTag, shard, window, kWindowPrefixBytes);
}

bool decode_batch_count_key(std::string_view key, int* shard, WindowKey* window) {
  return key.size() == kWindowPrefixBytes && decode_window_part(key, kBatchCountTag, shard, window);
}

std::string encode_u32_value(std::uint32_t v) {
  std::string out;
  put_be(out, v, 4);
  return out;
}

bool decode_u32_value(std::string_view value, std::uint32_t* v) {
  if (value.size() != 4) return false;
  *v = static_cast<std::uint32_t>(get_be(value.data(), 4));
  return true;
}

namespace {

void put_offsets(std::string& out, const std::map<std::int32_t, std::int64_t>& offsets) {
  put_be(out, offsets.size(), 4);
  for (const auto& [partition, offset] : offsets) {
    put_be(out, static_cast<std::uint32_t>(partition), 4);
    put_be(out, static_cast<std::uint64_t>(offset), 8);
  }
}

// what: "changelog" or "input", for the message. last: nothing may follow.
Status get_offsets(Reader& in, const char* what, bool last, std::map<std::int32_t, std::int64_t>* out) {
  std::uint64_t entries = 0;
  if (!in.get(4, &entries))
    return Status::Corruption(std::string("checkpoint: truncated before the ") + what + " offsets");
  // Checked before the loop so that a garbage count cannot make it spin.
  if (last ? in.left() != entries * 12 : in.left() < entries * 12) {
    return Status::Corruption("checkpoint: " + std::to_string(entries) + " " + what + " offsets need " +
                              std::to_string(entries * 12) + " bytes, " + std::to_string(in.left()) + " left");
  }
  for (std::uint64_t i = 0; i < entries; ++i) {
    std::uint64_t partition = 0, offset = 0;
    (void)in.get(4, &partition);
    (void)in.get(8, &offset);
    const auto p = static_cast<std::int32_t>(static_cast<std::uint32_t>(partition));
    if (!out->emplace(p, static_cast<std::int64_t>(offset)).second) {
      return Status::Corruption(std::string("checkpoint: ") + what + " partition " + std::to_string(p) +
                                " appears twice");
    }
  }
  return Status::OK();
}

}  // namespace

std::string encode_checkpoint(const Checkpoint& checkpoint) {
  std::string out;
  out.reserve(1 + 4 + checkpoint.snapshot.size() + 8 +
              12 * (checkpoint.changelog_next.size() + checkpoint.input_next.size()));
  out.push_back(static_cast<char>(kCheckpointFormat));
  put_be(out, checkpoint.snapshot.size(), 4);
  out.append(checkpoint.snapshot);
  put_offsets(out, checkpoint.changelog_next);
  put_offsets(out, checkpoint.input_next);
  return out;
}

Status decode_checkpoint(std::string_view value, Checkpoint* checkpoint) {
  Reader in(value);
  std::uint64_t version = 0, snapshot_bytes = 0;
  if (!in.get(1, &version)) return Status::Corruption("checkpoint: empty value");
  if (version != 1 && version != kCheckpointFormat) {
    return Status::Corruption("checkpoint: unknown format version " + std::to_string(version));
  }
  Checkpoint out;
  if (!in.get(4, &snapshot_bytes) || !in.get(static_cast<std::size_t>(snapshot_bytes), &out.snapshot)) {
    return Status::Corruption("checkpoint: truncated (" + std::to_string(value.size()) + " bytes)");
  }
  const bool has_input = version >= 2;
  if (auto s = get_offsets(in, "changelog", !has_input, &out.changelog_next); !s.ok()) return s;
  if (has_input) {
    if (auto s = get_offsets(in, "input", true, &out.input_next); !s.ok()) return s;
  }
  *checkpoint = std::move(out);
  return Status::OK();
}

std::string changelog_batch_key(int shard, const WindowKey& window, std::uint32_t seq) {
  auto out = window_part(kChangelogBatchTag, shard, window, kChangelogBatchKeyBytes);
  put_be(out, seq, 4);
  return out;
}

bool decode_changelog_batch_key(std::string_view key, int* shard, WindowKey* window, std::uint32_t* seq) {
  if (key.size() != kChangelogBatchKeyBytes || !decode_window_part(key, kChangelogBatchTag, shard, window)) {
    return false;
  }
  *seq = static_cast<std::uint32_t>(get_be(key.data() + kWindowPrefixBytes, 4));
  return true;
}

}  // namespace uniqd::state
