#include "processor/frame_feed.h"

#include <algorithm>
#include <cstring>

namespace uniqd::processor {

FrameFeed::FrameFeed(EngineRef engine, int parse_threads, std::size_t max_frame_bytes, TsUnit unit)
    : engine_(std::move(engine)), max_frame_bytes_(max_frame_bytes) {
  if (parse_threads > 0) parallel_ = std::make_unique<ParallelParser>(parse_threads, max_frame_bytes, unit);
  apply_ = [this](const ParsedLine& l) { apply(l); };
}

void FrameFeed::apply(const ParsedLine& l) {
  if (l.blank) {
    engine_().note_blank();
  } else if (l.too_large) {
    engine_().process_too_large(l.bytes, l.full_size, l.pos);
  } else {
    engine_().process_parsed(l.why, l.frame, l.bytes, l.pos);
  }
}

void FrameFeed::add(std::string_view frame, const SourcePosition& pos) {
  if (frame.size() > max_frame_bytes_) {
    add_too_large(frame, frame.size(), pos);
  } else if (is_blank_frame(frame)) {
    add_blank();
  } else if (parallel_) {
    parallel_->add_line(frame.data(), frame.size(), pos, apply_);
  } else {
    if (padded_.empty()) padded_.resize(max_frame_bytes_ + kFramePadding + 1);
    std::memcpy(padded_.data(), frame.data(), frame.size());
    engine_().process(padded_.data(), frame.size(), pos);
  }
}

void FrameFeed::add_padded(const char* data, std::size_t size, const SourcePosition& pos) {
  if (parallel_) {
    parallel_->add_line(data, size, pos, apply_);
  } else {
    engine_().process(data, size, pos);
  }
}

void FrameFeed::add_too_large(std::string_view prefix, std::uint64_t full_size, const SourcePosition& pos) {
  prefix = prefix.substr(0, std::min(prefix.size(), kRejectPrefixBytes));
  if (parallel_) {
    parallel_->add_too_large(prefix, full_size, pos, apply_);
  } else {
    engine_().process_too_large(prefix, full_size, pos);
  }
}

void FrameFeed::add_blank() {
  // Nothing to parse and no order to keep: the count is the same whenever
  // it is taken.
  engine_().note_blank();
}

void FrameFeed::add_lines(const char* data, std::size_t size) {
  parallel_->add_lines(data, size, apply_);
}

void FrameFeed::apply_pending() {
  if (parallel_) parallel_->finish(apply_);
}

bool FrameFeed::holds_frames() const {
  return parallel_ && parallel_->holds_lines();
}

}  // namespace uniqd::processor
