#include "kafka/count_task.h"

#include "processor/snapshot_codec.h"
#include "processor/watermark.h"

namespace uniqd::kafka {
namespace {
constexpr std::uint32_t kSnapshotVersion = 1;
}

CountTask::CountTask(int shard, int sources, const processor::EngineOptions& opts,
                     std::unique_ptr<state::RocksDbStore> store, PartialsSink& partials, processor::RejectSink& late)
    : shard_(shard),
      opts_(opts),
      store_(std::move(store)),
      partials_(partials),
      late_sink_(late),
      counter_(opts.counter, *store_, *this),
      sources_(static_cast<std::size_t>(std::max(sources, 1))) {}

void CountTask::frame(const FrameEntry& f) {
  dirty_ = true;
  if (counter_.count(f.frame) == 0) {
    ++late_;
    late_sink_.reject(processor::RejectReason::late, f.bytes, f.pos, f.bytes.size());
    return;
  }
  ++counted_;
}

void CountTask::marker(int source, const SourceMarker& m) {
  if (source < 0 || static_cast<std::size_t>(source) >= sources_.size()) return;
  dirty_ = true;
  Source& s = sources_[static_cast<std::size_t>(source)];
  s.time = m.time;
  s.idle = m.idle || m.ended;
  s.ended = m.ended;
  update_watermark();
}

void CountTask::update_watermark() {
  bool all_ended = true;
  processor::SlowestSource slowest;
  for (const Source& s : sources_) {
    slowest.add(s.idle, s.time);
    all_ended = all_ended && s.ended;
  }
  if (const auto low = slowest.time()) counter_.advance(*low * 1000 - opts_.lateness_ms);
  if (all_ended && !flushed_) {
    // Every input partition reached its end (--until-end): as at the end of
    // a file, every open window is final.
    counter_.flush();
    flushed_ = true;
  }
}

void CountTask::publish_watermark() {
  const std::int64_t wm = counter_.watermark_ms();
  if (wm == published_wm_) return;
  published_wm_ = wm;
  partials_.shard_watermark(shard_, wm);
}

void CountTask::emit(const processor::WindowResult& r) {
  partials_.partial(shard_, r);
}

std::string CountTask::snapshot() const {
  processor::SnapshotWriter w;
  w.put<std::uint32_t>(kSnapshotVersion);
  counter_.save(w);
  w.put<std::uint8_t>(flushed_ ? 1 : 0);
  w.put<std::int64_t>(published_wm_);
  w.put<std::uint64_t>(late_);
  w.put<std::uint64_t>(counted_);
  w.put<std::uint64_t>(sources_.size());
  for (const Source& s : sources_) {
    w.put<std::uint8_t>(static_cast<std::uint8_t>((s.time ? 1 : 0) | (s.idle ? 2 : 0) | (s.ended ? 4 : 0)));
    w.put<std::int64_t>(s.time.value_or(0));
  }
  return w.take();
}

bool CountTask::restore(std::string_view snapshot) {
  processor::SnapshotReader r(snapshot);
  if (r.get<std::uint32_t>() != kSnapshotVersion) return false;
  if (!counter_.load(r)) return false;
  flushed_ = r.get<std::uint8_t>() != 0;
  published_wm_ = r.get<std::int64_t>();
  late_ = r.get<std::uint64_t>();
  counted_ = r.get<std::uint64_t>();
  const std::uint64_t n = r.get_count(9);
  if (n != sources_.size()) return false;
  for (Source& s : sources_) {
    const auto flags = r.get<std::uint8_t>();
    const auto t = r.get<std::int64_t>();
    s.time = (flags & 1) != 0 ? std::optional<std::int64_t>(t) : std::nullopt;
    s.idle = (flags & 2) != 0;
    s.ended = (flags & 4) != 0;
  }
  return r.ok() && r.at_end();
}

}  // namespace uniqd::kafka
