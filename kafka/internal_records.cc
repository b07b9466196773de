#include "kafka/internal_records.h"

#include "processor/snapshot_codec.h"

namespace uniqd::kafka {
namespace {

constexpr char kRepartitionMagic = 'R';
constexpr char kPartialsMagic = 'P';
constexpr std::uint8_t kVersion = 1;
constexpr char kFrame = 'F';
constexpr char kMarker = 'W';
constexpr char kPartial = 'C';

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

std::string header(char magic, std::int32_t source) {
  std::string h;
  h.push_back(magic);
  put<std::uint8_t>(h, kVersion);
  put<std::int32_t>(h, source);
  return h;
}

}  // namespace

void RepartitionWriter::frame(const FrameEntry& f) {
  buf_.push_back(kFrame);
  put<std::int32_t>(buf_, f.pos.partition);
  put<std::int64_t>(buf_, f.pos.offset);
  put<std::int64_t>(buf_, f.frame.ts);
  put<std::uint64_t>(buf_, f.frame.uid.lo);
  put<std::uint64_t>(buf_, f.frame.uid.hi);
  put<std::uint32_t>(buf_, static_cast<std::uint32_t>(f.bytes.size()));
  buf_.append(f.bytes);
}

void RepartitionWriter::marker(const SourceMarker& m) {
  buf_.push_back(kMarker);
  put<std::int32_t>(buf_, m.partition);
  put<std::uint8_t>(buf_, static_cast<std::uint8_t>((m.time ? 1 : 0) | (m.idle ? 2 : 0) | (m.ended ? 4 : 0)));
  put<std::int64_t>(buf_, m.time.value_or(0));
}

std::string RepartitionWriter::take() {
  std::string out = header(kRepartitionMagic, 0);
  out += buf_;
  buf_.clear();
  return out;
}

bool read_repartition(std::string_view record, const RepartitionVisitor& v) {
  processor::SnapshotReader r(record);
  if (r.get<char>() != kRepartitionMagic || r.get<std::uint8_t>() != kVersion) return false;
  r.get<std::int32_t>();
  std::string bytes;
  while (r.ok() && !r.at_end()) {
    const char kind = r.get<char>();
    if (kind == kFrame) {
      FrameEntry f;
      f.pos.partition = r.get<std::int32_t>();
      f.pos.offset = r.get<std::int64_t>();
      f.frame.ts = r.get<std::int64_t>();
      f.frame.uid.lo = r.get<std::uint64_t>();
      f.frame.uid.hi = r.get<std::uint64_t>();
      const auto n = r.get<std::uint32_t>();
      bytes.resize(n);
      for (std::uint32_t i = 0; i < n && r.ok(); ++i) bytes[i] = r.get<char>();
      if (!r.ok()) return false;
      f.bytes = bytes;
      v.frame(f);
    } else if (kind == kMarker) {
      SourceMarker m;
      m.partition = r.get<std::int32_t>();
      const auto flags = r.get<std::uint8_t>();
      const auto t = r.get<std::int64_t>();
      if (!r.ok()) return false;
      if ((flags & 1) != 0) m.time = t;
      m.idle = (flags & 2) != 0;
      m.ended = (flags & 4) != 0;
      v.marker(m);
    } else {
      return false;
    }
  }
  return r.ok();
}

void PartialsWriter::partial(const processor::WindowResult& r) {
  buf_.push_back(kPartial);
  put<std::uint8_t>(buf_, static_cast<std::uint8_t>(r.granularity));
  put<std::int64_t>(buf_, r.start);
  put<std::int64_t>(buf_, r.end);
  put<std::uint64_t>(buf_, r.unique_users);
  put<std::uint64_t>(buf_, r.frames);
  put<std::uint8_t>(buf_, r.final ? 1 : 0);
  put<std::uint32_t>(buf_, r.revision);
}

void PartialsWriter::watermark(std::int64_t wm_ms) {
  buf_.push_back(kMarker);
  put<std::int64_t>(buf_, wm_ms);
}

std::string PartialsWriter::take() {
  std::string out = header(kPartialsMagic, shard_);
  out += buf_;
  buf_.clear();
  return out;
}

bool read_partials(std::string_view record, const PartialsVisitor& v) {
  processor::SnapshotReader r(record);
  if (r.get<char>() != kPartialsMagic || r.get<std::uint8_t>() != kVersion) return false;
  const int shard = r.get<std::int32_t>();
  while (r.ok() && !r.at_end()) {
    const char kind = r.get<char>();
    if (kind == kPartial) {
      processor::WindowResult w;
      const auto g = r.get<std::uint8_t>();
      if (g >= processor::kGranularityCount) return false;
      w.granularity = static_cast<processor::Granularity>(g);
      w.start = r.get<std::int64_t>();
      w.end = r.get<std::int64_t>();
      w.unique_users = r.get<std::uint64_t>();
      w.frames = r.get<std::uint64_t>();
      w.final = r.get<std::uint8_t>() != 0;
      w.revision = r.get<std::uint32_t>();
      if (!r.ok()) return false;
      v.partial(shard, w);
    } else if (kind == kMarker) {
      const auto wm = r.get<std::int64_t>();
      if (!r.ok()) return false;
      v.watermark(shard, wm);
    } else {
      return false;
    }
  }
  return r.ok();
}

int partials_partition(processor::Granularity g, std::int64_t start, int partitions) {
  // Any fixed function of the window will do, the same on every replica.
  const std::uint64_t h = (static_cast<std::uint64_t>(start) * 0x9E3779B97F4A7C15ull) ^ static_cast<std::uint64_t>(g);
  return static_cast<int>((h >> 17) % static_cast<std::uint64_t>(partitions));
}

namespace {
// Not the start of a task's own snapshot, whose first bytes are its version
// (1, little-endian): the snapshots written before the offset was recorded
// still read back.
constexpr std::string_view kPositioned = "POS\x01";
}  // namespace

std::string positioned_snapshot(std::int64_t next, std::string_view snapshot) {
  processor::SnapshotWriter w;
  w.put<std::int64_t>(next);
  std::string out(kPositioned);
  out += w.take();
  out += snapshot;
  return out;
}

std::string_view unposition_snapshot(std::string_view value, std::int64_t* next) {
  *next = -1;
  if (!value.starts_with(kPositioned) || value.size() < kPositioned.size() + sizeof(std::int64_t)) return value;
  processor::SnapshotReader r(value.substr(kPositioned.size(), sizeof(std::int64_t)));
  *next = r.get<std::int64_t>();
  return value.substr(kPositioned.size() + sizeof(std::int64_t));
}

}  // namespace uniqd::kafka
