#include "processor/counter.h"

#include <algorithm>
#include <array>
#include <tuple>

namespace uniqd::processor {
namespace {

constexpr std::int64_t ms(std::int64_t seconds) {
  return seconds * 1000;
}

// When a final window ends its retention: end + keep, at most INT64_MAX. A
// retention as long as it can be written means "keep for ever"; wrapped
// around, the sum would lie in the past and drop every late update.
constexpr std::int64_t kept_until(std::int64_t end_ms, std::int64_t keep_ms) {
  std::int64_t out = 0;
  return __builtin_add_overflow(end_ms, keep_ms, &out) ? INT64_MAX : out;
}

// kNestedIn[g]: the granularities (bit per Granularity) whose windows lie
// inside a window of g: every shorter one but the week, which a day, a month
// or a year boundary can cut.
constexpr std::array<unsigned, kGranularityCount> kNestedIn = [] {
  std::array<unsigned, kGranularityCount> t{};
  for (int g = 0; g < kGranularityCount; ++g) {
    for (int h = 0; h < g; ++h) {
      if (static_cast<Granularity>(h) != Granularity::week) t[static_cast<std::size_t>(g)] |= 1u << h;
    }
  }
  return t;
}();
static_assert(kNestedIn[static_cast<int>(Granularity::week)] == 0b111);
static_assert(kNestedIn[static_cast<int>(Granularity::year)] == 0b10111);

std::int64_t minute_of(std::int64_t wm_ms) {
  return wm_ms >= 0 ? wm_ms / 60000 : -((-wm_ms + 59999) / 60000);
}

}  // namespace

WindowCounter::WindowCounter(CounterOptions opts, state::WindowStore& store, ResultSink& sink)
    : opts_(std::move(opts)), store_(store), sink_(sink) {
  std::sort(opts_.granularities.begin(), opts_.granularities.end());
  opts_.granularities.erase(std::unique(opts_.granularities.begin(), opts_.granularities.end()),
                            opts_.granularities.end());
}

void WindowCounter::save(SnapshotWriter& w) const {
  w.put<std::int64_t>(wm_);
  w.put<std::uint64_t>(late_partial_);
  w.put<std::uint64_t>(windows_.size());
  for (const auto& [key, s] : windows_) {
    w.put<std::uint8_t>(key.granularity);
    w.put<std::int64_t>(key.start);
    w.put<std::int64_t>(s.window.end);
    w.put<std::uint64_t>(s.frames);
    w.put<std::uint8_t>(s.final ? 1 : 0);
    w.put<std::uint32_t>(s.next_revision);
    w.put<std::uint64_t>(s.early_users);
    w.put<std::uint64_t>(s.early_frames);
    // Once each window's smallest offset per partition (for restarts from a
    // safe offset, gone with scale-out): an empty list keeps the format, so
    // count tasks' changelogs written before and after read alike.
    w.put<std::uint64_t>(0);
  }
}

bool WindowCounter::load(SnapshotReader& r) {
  windows_.clear();
  for (Cached& c : cache_) c = Cached{};
  wm_ = r.get<std::int64_t>();
  late_partial_ = r.get<std::uint64_t>();
  const std::uint64_t n = r.get_count(50);
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    const auto g = r.get<std::uint8_t>();
    const state::WindowKey key{g, r.get<std::int64_t>()};
    if (g >= kGranularityCount) return false;
    Slot& s = windows_[key];
    s.granularity = static_cast<Granularity>(g);
    s.window = Window{key.start, r.get<std::int64_t>()};
    s.frames = r.get<std::uint64_t>();
    s.final = r.get<std::uint8_t>() != 0;
    s.next_revision = r.get<std::uint32_t>();
    s.early_users = r.get<std::uint64_t>();
    s.early_frames = r.get<std::uint64_t>();
    for (std::uint64_t skip = r.get_count(8); skip > 0 && r.ok(); --skip) r.get<std::int64_t>();
    s.set = store_.open(key);
  }
  recompute_next_due();
  return r.ok();
}

void WindowCounter::sort_for_emission(std::vector<Slot*>& slots) {
  std::sort(slots.begin(), slots.end(), [](const Slot* a, const Slot* b) {
    return std::tie(a->window.end, a->granularity, a->window.start) <
           std::tie(b->window.end, b->granularity, b->window.start);
  });
}

WindowCounter::Slot& WindowCounter::slot_for(Granularity g, const Window& w) {
  const state::WindowKey key{static_cast<std::uint8_t>(g), w.start};
  auto [it, created] = windows_.try_emplace(key);
  Slot& s = it->second;
  if (created) {
    s.window = w;
    s.granularity = g;
    s.set = store_.open(key);
    // A window created after its end passed (a late update) is final at once.
    s.final = ms(w.end) <= wm_;
    next_due_ = std::min(next_due_, s.final ? kept_until(ms(w.end), opts_.retention_ms) : ms(w.end));
  }
  return s;
}

int WindowCounter::count(const ParsedFrame& f) {
  int counted = 0;
  // Bit g: this frame's uid is known to be in its window of granularity g
  // already. UTC windows nest (minute in hour in day, day in week and in
  // month, month in year; a week in no longer one), and a frame that a
  // window takes is taken by every longer window around it (that ends no
  // earlier, so is open or retained whenever the shorter one is), so a uid
  // already in the shorter window is in the longer ones: their insert would
  // change nothing and is skipped. On long inputs most uids repeat within the
  // hour, which spares four of the six hash-set probes per frame.
  unsigned present = 0;
  for (Granularity g : opts_.granularities) {
    Cached& c = cache_[static_cast<int>(g)];
    Window w;
    Slot* s = nullptr;
    if (c.slot != nullptr && f.ts >= c.window.start && f.ts < c.window.end) {
      w = c.window;
      s = c.slot;
    } else {
      w = window_of(g, f.ts);
    }
    if (ms(w.end) > wm_) {
      if (s == nullptr) {
        s = &slot_for(g, w);
        c = Cached{w, s};
      }
      if ((present & kNestedIn[static_cast<int>(g)]) != 0 || !store_.insert(s->set, f.uid)) {
        present |= 1u << static_cast<int>(g);
      }
      ++s->frames;
      ++counted;
      continue;
    }
    if (opts_.late_policy == LatePolicy::update && kept_until(ms(w.end), opts_.retention_ms) > wm_) {
      if (s == nullptr) s = &slot_for(g, w);
      const bool added = (present & kNestedIn[static_cast<int>(g)]) == 0 && store_.insert(s->set, f.uid);
      if (!added) present |= 1u << static_cast<int>(g);
      ++s->frames;
      ++counted;
      if (added) revised_.push_back(s);
    }
  }
  if (!revised_.empty()) {
    sort_for_emission(revised_);
    for (Slot* s : revised_) emit(*s, true);
    revised_.clear();
  }
  if (counted != 0 && counted != static_cast<int>(opts_.granularities.size())) ++late_partial_;
  return counted;
}

void WindowCounter::emit(Slot& s, bool final) {
  WindowResult r;
  r.granularity = s.granularity;
  r.start = s.window.start;
  r.end = s.window.end;
  r.unique_users = store_.count(s.set);
  r.frames = s.frames;
  r.final = final;
  if (final) {
    r.revision = s.next_revision++;
    s.final = true;
  } else {
    s.early_users = r.unique_users;
    s.early_frames = r.frames;
  }
  sink_.emit(r);
}

void WindowCounter::advance(std::int64_t watermark_ms) {
  if (watermark_ms <= wm_) return;
  const std::int64_t old = wm_;
  wm_ = watermark_ms;
  if (wm_ >= next_due_) {
    sample_memory();
    emit_finals(false);
    free_expired();
    recompute_next_due();
  }
  if (opts_.early_results && old != kNoWatermark && minute_of(old) < minute_of(wm_)) emit_early();
}

void WindowCounter::emit_finals(bool all_open) {
  scratch_.clear();
  for (auto& [key, s] : windows_) {
    if (!s.final && (all_open || ms(s.window.end) <= wm_)) scratch_.push_back(&s);
  }
  sort_for_emission(scratch_);
  for (Slot* s : scratch_) emit(*s, true);
}

void WindowCounter::free_expired() {
  const std::int64_t keep_ms = opts_.late_policy == LatePolicy::update ? opts_.retention_ms : 0;
  for (auto it = windows_.begin(); it != windows_.end();) {
    Slot& s = it->second;
    if (s.final && kept_until(ms(s.window.end), keep_ms) <= wm_) {
      Cached& c = cache_[static_cast<int>(s.granularity)];
      if (c.slot == &s) c = Cached{};
      store_.erase(it->first);
      it = windows_.erase(it);
    } else {
      ++it;
    }
  }
}

void WindowCounter::recompute_next_due() {
  const std::int64_t keep_ms = opts_.late_policy == LatePolicy::update ? opts_.retention_ms : 0;
  next_due_ = INT64_MAX;
  for (const auto& [key, s] : windows_) {
    next_due_ = std::min(next_due_, s.final ? kept_until(ms(s.window.end), keep_ms) : ms(s.window.end));
  }
}

void WindowCounter::emit_early() {
  for (auto& [key, s] : windows_) {
    if (s.final || s.granularity == Granularity::minute) continue;
    if (store_.count(s.set) == s.early_users && s.frames == s.early_frames) continue;
    emit(s, false);
  }
}

void WindowCounter::sample_memory() {
  const std::uint64_t pairs = store_.pairs();
  if (pairs > peak_pairs_) {
    peak_pairs_ = pairs;
    peak_bytes_ = store_.memory_bytes();
  }
}

void WindowCounter::flush() {
  sample_memory();
  emit_finals(true);
  // Input is over: event time has, in effect, reached infinity. Keeping the
  // watermark consistent with that makes any later frame late, not a silent
  // change to a window already reported final.
  wm_ = INT64_MAX;
  free_expired();
  next_due_ = INT64_MAX;
}

}  // namespace uniqd::processor
