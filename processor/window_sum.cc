#include "processor/window_sum.h"

#include <algorithm>
#include <tuple>

#include "processor/snapshot_codec.h"

namespace uniqd::processor {
namespace {

constexpr std::int64_t ms(std::int64_t seconds) {
  return seconds * 1000;
}

std::int64_t minute_of(std::int64_t wm_ms) {
  return wm_ms >= 0 ? wm_ms / 60000 : -((-wm_ms + 59999) / 60000);
}

constexpr std::uint32_t kSnapshotVersion = 1;

}  // namespace

WindowSum::WindowSum(CounterOptions opts, int shards, ResultSink& sink)
    : opts_(std::move(opts)), sink_(sink), shard_wm_(static_cast<std::size_t>(std::max(shards, 1)), kNoWatermark) {}

WindowSum::Part WindowSum::total(const Slot& s) const {
  Part t;
  for (const Part& p : s.parts) {
    t.users += p.users;
    t.frames += p.frames;
  }
  return t;
}

std::size_t WindowSum::waiting() const {
  std::size_t n = 0;
  for (const auto& [key, s] : windows_) n += s.final ? 0 : 1;
  return n;
}

void WindowSum::emit(Slot& s, bool final) {
  const Part t = total(s);
  WindowResult r;
  r.granularity = s.granularity;
  r.start = s.start;
  r.end = s.end;
  r.unique_users = t.users;
  r.frames = t.frames;
  r.final = final;
  if (final) {
    r.revision = s.next_revision++;
    s.final = true;
  }
  s.emitted_users = t.users;
  s.emitted_frames = t.frames;
  sink_.emit(r);
}

void WindowSum::partial(int shard, const WindowResult& r) {
  if (shard < 0 || static_cast<std::size_t>(shard) >= shard_wm_.size()) return;
  const state::WindowKey key{static_cast<std::uint8_t>(r.granularity), r.start};
  if (opts_.late_policy == LatePolicy::drop && ms(r.end) <= wm_ && windows_.find(key) == windows_.end()) {
    // Published and forgotten already: with drop no shard opens a window
    // after every shard closed it, so this is a partial seen before.
    return;
  }
  auto [it, created] = windows_.try_emplace(key);
  Slot& s = it->second;
  if (created) {
    s.granularity = r.granularity;
    s.start = r.start;
    s.end = r.end;
    s.parts.resize(shard_wm_.size());
  }
  const Part value{r.unique_users, r.frames};
  const auto i = static_cast<std::size_t>(shard);
  // Each shard sends a window's final before the watermark that closed it:
  // what comes after that watermark is a late revision.
  if (ms(s.end) > shard_wm_[i]) {
    s.parts[i] = value;
    return;
  }
  if (!s.final && ms(s.end) > wm_) {
    s.pending.emplace_back(shard, value);
    return;
  }
  s.parts[i] = value;
  if (!s.final || total(s).users != s.emitted_users) emit(s, true);
}

void WindowSum::shard_watermark(int shard, std::int64_t wm_ms) {
  if (shard < 0 || static_cast<std::size_t>(shard) >= shard_wm_.size()) return;
  std::int64_t& w = shard_wm_[static_cast<std::size_t>(shard)];
  if (wm_ms <= w) return;
  w = wm_ms;
  advance(*std::min_element(shard_wm_.begin(), shard_wm_.end()));
}

void WindowSum::advance(std::int64_t wm_ms) {
  if (wm_ms <= wm_) return;
  const std::int64_t old = wm_;
  wm_ = wm_ms;
  std::vector<Slot*> due;
  for (auto& [key, s] : windows_) {
    if (!s.final && ms(s.end) <= wm_) due.push_back(&s);
  }
  std::sort(due.begin(), due.end(), [](const Slot* a, const Slot* b) {
    return std::tie(a->end, a->granularity, a->start) < std::tie(b->end, b->granularity, b->start);
  });
  for (Slot* s : due) {
    std::size_t first = 0;
    if (total(*s).frames == 0 && !s->pending.empty()) {
      // No shard had the window on time: a late frame opened it (as a
      // single process does, its first result is the final, revision 0).
      s->parts[static_cast<std::size_t>(s->pending[0].first)] = s->pending[0].second;
      first = 1;
    }
    emit(*s, true);
    for (std::size_t i = first; i < s->pending.size(); ++i) {
      const auto& [shard, value] = s->pending[i];
      s->parts[static_cast<std::size_t>(shard)] = value;
      if (total(*s).users != s->emitted_users) emit(*s, true);
    }
    s->pending.clear();
  }
  const std::int64_t keep_ms = opts_.late_policy == LatePolicy::update ? opts_.retention_ms : 0;
  for (auto it = windows_.begin(); it != windows_.end();) {
    // end + keep past INT64_MAX (a retention meaning "for ever") is never
    // reached; wrapped around, it would free the window at once.
    std::int64_t kept_until = 0;
    const bool kept = __builtin_add_overflow(ms(it->second.end), keep_ms, &kept_until) || kept_until > wm_;
    if (it->second.final && (wm_ == INT64_MAX || !kept)) {
      it = windows_.erase(it);
    } else {
      ++it;
    }
  }
  if (opts_.early_results && old != kNoWatermark && wm_ != INT64_MAX && minute_of(old) < minute_of(wm_)) {
    for (auto& [key, s] : windows_) {
      if (s.final || s.granularity == Granularity::minute) continue;
      const Part t = total(s);
      if (t.users == s.emitted_users && t.frames == s.emitted_frames) continue;
      emit(s, false);
    }
  }
}

std::string WindowSum::snapshot() const {
  SnapshotWriter w;
  w.put<std::uint32_t>(kSnapshotVersion);
  w.put<std::int64_t>(wm_);
  w.put<std::uint64_t>(shard_wm_.size());
  for (std::int64_t v : shard_wm_) w.put<std::int64_t>(v);
  w.put<std::uint64_t>(windows_.size());
  for (const auto& [key, s] : windows_) {
    w.put<std::uint8_t>(key.granularity);
    w.put<std::int64_t>(s.start);
    w.put<std::int64_t>(s.end);
    w.put<std::uint8_t>(s.final ? 1 : 0);
    w.put<std::uint32_t>(s.next_revision);
    w.put<std::uint64_t>(s.emitted_users);
    w.put<std::uint64_t>(s.emitted_frames);
    for (const Part& p : s.parts) {
      w.put<std::uint64_t>(p.users);
      w.put<std::uint64_t>(p.frames);
    }
    w.put<std::uint64_t>(s.pending.size());
    for (const auto& [shard, p] : s.pending) {
      w.put<std::int32_t>(shard);
      w.put<std::uint64_t>(p.users);
      w.put<std::uint64_t>(p.frames);
    }
  }
  return w.take();
}

bool WindowSum::restore(std::string_view snapshot) {
  SnapshotReader r(snapshot);
  if (r.get<std::uint32_t>() != kSnapshotVersion) return false;
  wm_ = r.get<std::int64_t>();
  const std::uint64_t shards = r.get_count(8);
  if (shards != shard_wm_.size()) return false;
  for (std::int64_t& v : shard_wm_) v = r.get<std::int64_t>();
  windows_.clear();
  const std::uint64_t n = r.get_count(38);
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    const auto g = r.get<std::uint8_t>();
    if (g >= kGranularityCount) return false;
    Slot s;
    s.granularity = static_cast<Granularity>(g);
    s.start = r.get<std::int64_t>();
    s.end = r.get<std::int64_t>();
    s.final = r.get<std::uint8_t>() != 0;
    s.next_revision = r.get<std::uint32_t>();
    s.emitted_users = r.get<std::uint64_t>();
    s.emitted_frames = r.get<std::uint64_t>();
    s.parts.resize(shard_wm_.size());
    for (Part& p : s.parts) {
      p.users = r.get<std::uint64_t>();
      p.frames = r.get<std::uint64_t>();
    }
    const std::uint64_t pending = r.get_count(20);
    for (std::uint64_t j = 0; j < pending && r.ok(); ++j) {
      const int shard = r.get<std::int32_t>();
      if (shard < 0 || static_cast<std::size_t>(shard) >= shard_wm_.size()) return false;
      Part p;
      p.users = r.get<std::uint64_t>();
      p.frames = r.get<std::uint64_t>();
      s.pending.emplace_back(shard, p);
    }
    windows_[state::WindowKey{g, s.start}] = std::move(s);
  }
  return r.ok() && r.at_end();
}

}  // namespace uniqd::processor
