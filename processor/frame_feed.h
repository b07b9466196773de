// The step every input mode shares between reading a frame and counting it
// (docs/SEMANTICS.md §1): a frame is too_large, blank, or parsed — on the
// parse threads when there are any (parallel_parser.h), then applied to the
// engine in input order — and each verdict goes to the engine.
//
// File mode feeds LineReader's lines; Kafka mode feeds message values. Both
// call apply_pending() before anything that depends on what the engine has
// counted (a blocking read, a commit, a rebalance, the end of input), so that
// parsing in parallel never changes a result.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "processor/engine.h"
#include "processor/frame.h"
#include "processor/frame_parser.h"
#include "processor/parallel_parser.h"

namespace uniqd::processor {

class FrameFeed {
 public:
  // Looked up at every frame applied, so that the engine may be replaced
  // (a Kafka rewind builds a new one) without telling the feed.
  using EngineRef = std::function<Engine&()>;

  // parse_threads <= 0: each frame is parsed and applied at once, on the
  // calling thread; otherwise that many parse threads (see parse_threads()
  // in application.h).
  FrameFeed(EngineRef engine, int parse_threads, std::size_t max_frame_bytes, TsUnit unit);
  FrameFeed(const FrameFeed&) = delete;
  FrameFeed& operator=(const FrameFeed&) = delete;

  // One whole frame (a Kafka message value; a null value is the empty
  // view). Size first: over max_frame_bytes it is too_large (its first
  // kRejectPrefixBytes kept); then blank (is_blank_frame); else parsed. The
  // bytes need no padding and may go once this returns (they are copied).
  void add(std::string_view frame, const SourcePosition& pos);

  // A frame already known to be neither too large nor blank whose bytes stay
  // readable kFramePadding past their end until this returns (LineReader's
  // lines): parsed in place when inline.
  void add_padded(const char* data, std::size_t size, const SourcePosition& pos);
  // A frame over max_frame_bytes of which only a prefix was kept (at most
  // kRejectPrefixBytes of it go to the reject).
  void add_too_large(std::string_view prefix, std::uint64_t full_size, const SourcePosition& pos);
  void add_blank();
  // Whole lines in place, parallel only (ParallelParser::add_lines: a mapped
  // file's piece, split into frames by the parse threads as LineReader would).
  void add_lines(const char* data, std::size_t size);

  // Applies every frame handed over so far, in input order.
  void apply_pending();
  // True when frames were handed to the parse threads and not yet applied
  // (Kafka: poll without waiting, then apply).
  bool holds_frames() const;
  bool parallel() const { return parallel_ != nullptr; }

 private:
  void apply(const ParsedLine& l);

  EngineRef engine_;
  std::size_t max_frame_bytes_;
  std::unique_ptr<ParallelParser> parallel_;
  ParallelParser::Apply apply_;
  // Inline parsing of unpadded bytes: a copy with simdjson's padding after
  // it (a 2 KB copy is cheap next to parsing it). Allocated on first use.
  std::vector<char> padded_;
};

}  // namespace uniqd::processor
