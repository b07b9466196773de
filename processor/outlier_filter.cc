#include "processor/outlier_filter.h"

#include <algorithm>

namespace uniqd::processor {

bool OutlierFilter::near(std::int64_t a, std::int64_t b) const {
  return (a > b ? a - b : b - a) <= opts_.threshold;
}

std::size_t OutlierFilter::pending() const {
  std::size_t n = 0;
  for (const Cluster& c : clusters_) n += c.members.size();
  return n;
}

void OutlierFilter::save(SnapshotWriter& w, bool with_bytes) const {
  w.put<std::uint8_t>(ptime_ ? 1 : 0);
  w.put<std::int64_t>(ptime_.value_or(0));
  w.put<std::uint64_t>(recent_.size());
  for (std::int64_t t : recent_) w.put<std::int64_t>(t);
  w.put<std::uint64_t>(next_slot_);
  w.put<std::uint64_t>(arrivals_);
  w.put<std::uint64_t>(clusters_.size());
  for (const Cluster& c : clusters_) {
    w.put<std::int64_t>(c.anchor);
    w.put<std::int32_t>(c.against);
    w.put<std::uint64_t>(c.members.size());
    for (const Held& h : c.members) {
      w.put<std::int64_t>(h.frame.ts);
      w.put<std::uint64_t>(h.frame.uid.lo);
      w.put<std::uint64_t>(h.frame.uid.hi);
      w.put<std::int32_t>(h.pos.partition);
      w.put<std::int64_t>(h.pos.offset);
      w.put<std::uint64_t>(h.arrival);
      w.put_bytes(with_bytes ? std::string_view(h.bytes) : std::string_view());
    }
  }
}

bool OutlierFilter::load(SnapshotReader& r) {
  const bool has = r.get<std::uint8_t>() != 0;
  const auto t = r.get<std::int64_t>();
  ptime_ = has ? std::optional<std::int64_t>(t) : std::nullopt;
  recent_.resize(r.get_count(8));
  for (std::int64_t& v : recent_) v = r.get<std::int64_t>();
  next_slot_ = r.get<std::uint64_t>();
  if (!recent_.empty() && next_slot_ >= recent_.size()) return false;
  arrivals_ = r.get<std::uint64_t>();
  clusters_.clear();
  const std::uint64_t n = r.get_count(20);
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    Cluster c{r.get<std::int64_t>(), {}, r.get<std::int32_t>()};
    const std::uint64_t m = r.get_count(52);
    for (std::uint64_t j = 0; j < m && r.ok(); ++j) {
      Held h;
      h.frame.ts = r.get<std::int64_t>();
      h.frame.uid.lo = r.get<std::uint64_t>();
      h.frame.uid.hi = r.get<std::uint64_t>();
      h.pos.partition = r.get<std::int32_t>();
      h.pos.offset = r.get<std::int64_t>();
      h.arrival = r.get<std::uint64_t>();
      h.bytes = r.get_bytes();
      c.members.push_back(std::move(h));
    }
    clusters_.push_back(std::move(c));
  }
  return r.ok();
}

void OutlierFilter::accept(const FrameRef& f, FrameVerdicts& out) {
  const auto k = static_cast<std::size_t>(opts_.partition_time_confirm);
  // A snapshot taken under a larger N: start the ring over (ptime stays).
  if (recent_.size() > k) {
    recent_.clear();
    next_slot_ = 0;
  }
  if (recent_.size() < k) {
    recent_.push_back(f.frame.ts);
  } else {
    recent_[next_slot_] = f.frame.ts;
    next_slot_ = (next_slot_ + 1) % k;
  }
  const std::optional<std::int64_t> before = ptime_;
  const std::int64_t low = *std::min_element(recent_.begin(), recent_.end());
  if (!ptime_ || low > *ptime_) ptime_ = low;
  if (!before || (f.frame.ts - *before) * 1000 <= opts_.immediate_step_ms) ptime_ = std::max(*ptime_, f.frame.ts);
  out.accept(f);
}

void OutlierFilter::reject(Cluster& c, FrameVerdicts& out) {
  for (const Held& h : c.members) out.reject_outlier(FrameRef{h.frame, h.bytes, h.pos});
}

template <class Pred, class Fn>
void OutlierFilter::drain(Pred pred, Fn fn) {
  scratch_.clear();
  for (Cluster& c : clusters_) {
    auto keep = c.members.begin();
    for (auto it = c.members.begin(); it != c.members.end(); ++it) {
      if (pred(*it)) {
        scratch_.push_back(std::move(*it));
      } else {
        if (keep != it) *keep = std::move(*it);
        ++keep;
      }
    }
    c.members.erase(keep, c.members.end());
  }
  std::erase_if(clusters_, [](const Cluster& c) { return c.members.empty(); });
  std::sort(scratch_.begin(), scratch_.end(), [](const Held& a, const Held& b) { return a.arrival < b.arrival; });
  for (const Held& h : scratch_) fn(h);
}

void OutlierFilter::confirm(std::size_t index, FrameVerdicts& out) {
  Cluster confirmed = std::move(clusters_[index]);
  clusters_.erase(clusters_.begin() + static_cast<std::ptrdiff_t>(index));
  for (const Held& h : confirmed.members) accept(FrameRef{h.frame, h.bytes, h.pos}, out);
  // The partition moved: suspects of other clusters that are close to where
  // it now stands were not outliers after all.
  const std::int64_t moved_to = *ptime_;
  drain([&](const Held& h) { return near(h.frame.ts, moved_to); },
        [&](const Held& h) {
          accept(FrameRef{h.frame, h.bytes, h.pos}, out);
        });
}

void OutlierFilter::offer(const FrameRef& f, FrameVerdicts& out) {
  // Fast path: nothing pending and the frame is close to the partition time.
  if (clusters_.empty() && ptime_ && near(f.frame.ts, *ptime_)) {
    accept(f, out);
    return;
  }

  std::optional<std::size_t> joined;
  if (ptime_ && near(f.frame.ts, *ptime_)) {
    accept(f, out);
  } else {
    for (std::size_t i = 0; i < clusters_.size(); ++i) {
      if (near(f.frame.ts, clusters_[i].anchor)) {
        joined = i;
        break;
      }
    }
    if (!joined) {
      if (clusters_.size() >= opts_.max_clusters) {
        reject(clusters_.front(), out);
        clusters_.pop_front();
      }
      clusters_.push_back(Cluster{f.frame.ts, {}, 0});
      joined = clusters_.size() - 1;
    }
    clusters_[*joined].members.push_back(Held{f.frame, std::string(f.bytes), f.pos, arrivals_++});
  }
  for (std::size_t i = 0; i < clusters_.size(); ++i) {
    if (!joined || i != *joined) ++clusters_[i].against;
  }

  if (joined && static_cast<int>(clusters_[*joined].members.size()) >= opts_.confirm) confirm(*joined, out);

  while (true) {
    auto it =
        std::find_if(clusters_.begin(), clusters_.end(), [&](const Cluster& c) { return c.against >= opts_.confirm; });
    if (it == clusters_.end()) break;
    reject(*it, out);
    clusters_.erase(it);
  }
}

void OutlierFilter::finish(FrameVerdicts& out) {
  if (!ptime_ && !clusters_.empty()) {
    // With no partition time at all, a short input is not all outliers: the
    // biggest group of frames that agree with each other wins.
    std::size_t best = 0;
    for (std::size_t i = 1; i < clusters_.size(); ++i) {
      if (clusters_[i].members.size() > clusters_[best].members.size()) best = i;
    }
    confirm(best, out);
  }
  drain([](const Held&) { return true; },
        [&](const Held& h) {
          out.reject_outlier(FrameRef{h.frame, h.bytes, h.pos});
        });
}

}  // namespace uniqd::processor
