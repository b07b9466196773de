// The watermark rule shared by every place that merges event-time sources
// (docs/SEMANTICS.md §3): the slowest busy source decides; a busy source that
// has no time yet holds everything back (a partition not read yet must not
// see its windows closed by the others); idle sources hold nothing back,
// unless every source is idle, when the slowest of them counts, so that the
// watermark never runs ahead of every source.
//
// The engine applies it to its input partitions, a count task to the input
// partitions' markers it receives through the repartition topic, so both
// modes close windows by the same rule.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

namespace uniqd::processor {

class SlowestSource {
 public:
  // One active source: whether it is idle, and its time when it has one.
  void add(bool idle, std::optional<std::int64_t> time) {
    if (idle) {
      if (time) low_idle_ = std::min(low_idle_, *time);
      return;
    }
    if (!time) {
      held_ = true;
      return;
    }
    any_busy_ = true;
    low_ = std::min(low_, *time);
  }
  // The merged time, or nullopt while held back or when nothing has a time.
  std::optional<std::int64_t> time() const {
    if (held_) return std::nullopt;
    const std::int64_t t = any_busy_ ? low_ : low_idle_;
    if (t == INT64_MAX) return std::nullopt;
    return t;
  }

 private:
  std::int64_t low_{INT64_MAX};
  std::int64_t low_idle_{INT64_MAX};
  bool any_busy_{false};
  bool held_{false};
};

}  // namespace uniqd::processor
