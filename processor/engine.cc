#include "processor/engine.h"

#include <chrono>

namespace uniqd::processor {

std::uint64_t EngineStats::rejected_total() const {
  std::uint64_t n = 0;
  for (std::uint64_t r : rejected) n += r;
  return n;
}

WallClock system_wall_clock() {
  return [] {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

Engine::Engine(EngineOptions opts, state::WindowStore& store, ResultSink& results, RejectSink& rejects, WallClock clock)
    : opts_(std::move(opts)),
      parser_(opts_.max_frame_bytes, opts_.ts_unit),
      counter_(opts_.counter, store, *this),
      results_(results),
      rejects_(rejects),
      clock_(std::move(clock)),
      now_(clock_()),
      partitions_() {
  for (int p = 0; p < opts_.partitions; ++p) assign_partition(p);
}

Engine::Partition& Engine::partition(std::int32_t p) {
  if (p < 0) p = 0;
  while (static_cast<std::size_t>(p) >= partitions_.size()) partitions_.emplace_back(opts_.outlier);
  return partitions_[static_cast<std::size_t>(p)];
}

void Engine::assign_partition(std::int32_t p) {
  Partition& part = partition(p);
  part.active = true;
  part.idle = false;
}

void Engine::revoke_partition(std::int32_t p) {
  partition(p).active = false;
  update_watermark();
}

void Engine::set_partition_idle(std::int32_t p, bool idle) {
  Partition& part = partition(p);
  if (part.idle == idle) return;
  part.idle = idle;
  if (forwarder_ != nullptr) {
    report(p);
  } else {
    update_watermark();
  }
}

void Engine::report(std::int32_t p) {
  Partition& part = partition(p);
  const std::optional<std::int64_t> t = part.filter.partition_time();
  if (part.reported && part.reported_time == t && part.reported_idle == part.idle &&
      part.reported_ended == part.ended) {
    return;
  }
  part.reported = true;
  part.reported_time = t;
  part.reported_idle = part.idle;
  part.reported_ended = part.ended;
  forwarder_->source_changed(p, t, part.idle, part.ended);
}

void Engine::finish_partition(std::int32_t p) {
  Partition& part = partition(p);
  part.filter.finish(*this);
  part.ended = true;
  part.idle = true;
  report(p);
}

std::string Engine::partition_snapshot(std::int32_t p) {
  const Partition& part = partition(p);
  SnapshotWriter w;
  w.put<std::uint32_t>(1);
  w.put<std::uint8_t>(part.idle ? 1 : 0);
  w.put<std::uint8_t>(part.ended ? 1 : 0);
  // It goes to the ingest changelog topic: no raw frame (uid) in the state.
  part.filter.save(w, false);
  return w.take();
}

bool Engine::restore_partition(std::int32_t p, std::string_view snapshot) {
  Partition& part = partition(p);
  SnapshotReader r(snapshot);
  if (r.get<std::uint32_t>() != 1) return false;
  part.idle = r.get<std::uint8_t>() != 0;
  part.ended = r.get<std::uint8_t>() != 0;
  if (!part.filter.load(r) || !r.ok() || !r.at_end()) return false;
  part.reported = false;
  return true;
}

void Engine::process(const char* data, std::size_t size, const SourcePosition& pos) {
  ParsedFrame f;
  const std::optional<RejectReason> why =
      size > opts_.max_frame_bytes ? std::optional(RejectReason::too_large) : parser_.parse(data, size, f);
  process_parsed(why, f, std::string_view(data, size), pos);
}

void Engine::process_parsed(std::optional<RejectReason> why, const ParsedFrame& f, std::string_view bytes,
                            const SourcePosition& pos) {
  ++stats_.frames;
  stats_.bytes += bytes.size();
  if (why) {
    reject(*why, bytes, pos, bytes.size());
    return;
  }
  // The wall clock only matters to seconds; reading it once per 1024 frames
  // keeps a syscall-ish call off the per-frame path.
  if (++frames_since_clock_ >= 1024) {
    frames_since_clock_ = 0;
    now_ = clock_();
  }
  if (f.ts > now_ + opts_.max_future_skew) {
    reject(RejectReason::future, bytes, pos, bytes.size());
    return;
  }
  Partition& part = partition(pos.partition);
  if (part.idle) {
    part.idle = false;
    if (forwarder_ != nullptr) report(pos.partition);
  }
  part.filter.offer(FrameRef{f, bytes, pos}, *this);
}

void Engine::process_too_large(std::string_view prefix, std::uint64_t full_size, const SourcePosition& pos) {
  ++stats_.frames;
  stats_.bytes += full_size;
  reject(RejectReason::too_large, prefix, pos, full_size);
}

void Engine::accept(const FrameRef& f) {
  ++stats_.accepted;
  if (forwarder_ != nullptr) {
    forwarder_->forward(f);
    report(f.pos.partition);
    return;
  }
  const int counted = counter_.count(f.frame);
  if (counted == 0) {
    --stats_.accepted;
    reject(RejectReason::late, f.bytes, f.pos, f.bytes.size());
  } else if (counted != static_cast<int>(opts_.counter.granularities.size())) {
    ++stats_.counted_partially;
  }
  update_watermark();
}

void Engine::reject_outlier(const FrameRef& f) {
  reject(RejectReason::outlier, f.bytes, f.pos, f.bytes.size());
}

void Engine::reject(RejectReason reason, std::string_view bytes, const SourcePosition& pos, std::uint64_t size) {
  ++stats_.rejected[static_cast<std::size_t>(reason)];
  rejects_.reject(reason, bytes, pos, size);
}

void Engine::update_watermark() {
  // The task's watermark is its slowest busy partition's. A busy partition
  // that has accepted nothing yet holds everything back; idle ones hold
  // nothing back, unless all are idle (then the slowest of them counts, so
  // the watermark does not run ahead of every partition).
  if (forwarder_ != nullptr) return;  // count tasks merge the partitions' reports
  SlowestSource slowest;
  for (const Partition& p : partitions_) {
    if (p.active) slowest.add(p.idle, p.filter.partition_time());
  }
  if (const auto low = slowest.time()) counter_.advance(*low * 1000 - opts_.lateness_ms);
}

namespace {
// 2: without the partitions' replay offsets (resuming from a safe offset
// went with scale-out: tasks restore from their changelogs).
constexpr std::uint32_t kSnapshotVersion = 2;
}  // namespace

std::string Engine::snapshot() const {
  SnapshotWriter w;
  w.put<std::uint32_t>(kSnapshotVersion);
  counter_.save(w);
  w.put<std::uint64_t>(partitions_.size());
  for (const Partition& p : partitions_) {
    w.put<std::uint8_t>(p.active ? 1 : 0);
    w.put<std::uint8_t>(p.idle ? 1 : 0);
    p.filter.save(w);
  }
  return w.take();
}

bool Engine::restore(std::string_view snapshot) {
  SnapshotReader r(snapshot);
  if (r.get<std::uint32_t>() != kSnapshotVersion) return false;
  if (!counter_.load(r)) return false;
  const std::uint64_t n = r.get_count(18);
  partitions_.clear();
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    Partition& p = partitions_.emplace_back(opts_.outlier);
    p.active = r.get<std::uint8_t>() != 0;
    p.idle = r.get<std::uint8_t>() != 0;
    if (!p.filter.load(r)) return false;
  }
  return r.ok() && r.at_end();
}

std::vector<std::pair<std::int32_t, std::int64_t>> Engine::partition_times() const {
  std::vector<std::pair<std::int32_t, std::int64_t>> out;
  for (std::size_t p = 0; p < partitions_.size(); ++p) {
    if (!partitions_[p].active) continue;
    if (auto t = partitions_[p].filter.partition_time()) out.emplace_back(static_cast<std::int32_t>(p), *t);
  }
  return out;
}

void Engine::emit(const WindowResult& r) {
  ++(r.final ? stats_.results_final : stats_.results_early);
  ++stats_.results_by_window[static_cast<std::size_t>(r.granularity)][r.final ? 1 : 0];
  results_.emit(r);
}

void Engine::finish() {
  for (Partition& p : partitions_) p.filter.finish(*this);
  counter_.flush();
}

}  // namespace uniqd::processor
