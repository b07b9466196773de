// Parsing on several cores, applying in order on one.
//
// Parsing and validating a 2 KB frame costs ~20x more than counting it, and
// parsing is independent per frame, while event-time rules are sequential.
// So lines are copied into batches, worker threads parse whole batches, and
// the caller's thread applies the verdicts in input order: the results are
// byte for byte those of the single-threaded path.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "processor/frame.h"
#include "processor/frame_parser.h"

namespace uniqd::processor {

struct ParsedLine {
  std::string_view bytes;  // the line (or a too-large line's kept prefix)
  std::uint64_t full_size{0};
  SourcePosition pos;  // line number (offset) in a file; partition, offset in Kafka
  bool too_large{false};
  bool blank{false};  // only from add_lines: the caller's to count
  std::optional<RejectReason> why;
  ParsedFrame frame;
};

// The lines of data[0, size), as LineReader cuts them: a line ends at \n,
// a \r before it is not part of the frame, the last line may lack its \n;
// then too large by size (bytes: its first kRejectPrefixBytes), then blank
// (is_blank_frame). Appended to lines, unparsed, without positions.
void split_lines(const char* data, std::size_t size, std::size_t max_frame_bytes, std::vector<ParsedLine>& lines);

class ParallelParser {
 public:
  // threads >= 1 workers; at most `in_flight` batches queued or being parsed.
  ParallelParser(int threads, std::size_t max_frame_bytes, TsUnit unit, std::size_t in_flight = 8);
  ~ParallelParser();

  using Apply = std::function<void(const ParsedLine&)>;

  // Adds a line to the batch being filled; when that fills the batch, hands
  // it to the workers and applies what is finished, waiting while
  // `in_flight` batches are out (so memory stays bounded).
  void add_line(const char* data, std::size_t size, SourcePosition pos, const Apply& apply);
  void add_too_large(std::string_view prefix, std::uint64_t full_size, SourcePosition pos, const Apply& apply);
  // Hands over whole lines in place, not copied: data[0, size) ends with a
  // newline, or with the input. data + size + kFramePadding must stay
  // readable, and the bytes unchanged, until finish() has applied them (a
  // mapped file). A worker splits them as LineReader does (a \r before the
  // \n is not part of the frame; too large and blank lines are marked) and
  // parses them; lines are numbered on from first_line, counted over every
  // add_lines call. Not to be mixed with add_line in one input.
  void add_lines(const char* data, std::size_t size, const Apply& apply);
  void set_first_line(std::uint64_t line) { next_line_ = line; }
  // Hands over the partial batch and applies every line handed over so far
  // (end of input, or before a blocking read).
  void finish(const Apply& apply);
  // True when lines were handed over that finish() has not applied yet.
  bool holds_lines() const;

 private:
  struct Batch {
    std::string data;  // the lines, back to back, with padding after the last
    std::vector<ParsedLine> lines;
    std::vector<std::pair<std::size_t, std::size_t>> spans;  // offset, length in data
    const char* in_place{nullptr};                           // add_lines: the bytes a worker splits
    std::size_t in_place_size{0};
    bool done{false};
  };
  std::unique_ptr<Batch> take_batch();
  void recycle(std::shared_ptr<Batch>&& b);
  void submit(const Apply& apply);
  // Applies finished batches in order; with wait, all handed-over ones.
  void drain(const Apply& apply, bool wait);
  void drain_one(const Apply& apply);
  void work(std::size_t max_frame_bytes, TsUnit unit);

  std::size_t in_flight_;
  std::unique_ptr<Batch> filling_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<std::shared_ptr<Batch>> pending_;  // in input order, parsed or not
  std::deque<std::shared_ptr<Batch>> todo_;     // not yet taken by a worker
  // Applied batches, kept with their buffers: a fresh 1 MiB buffer per batch
  // cost page faults and zeroing on the reading thread.
  std::vector<std::unique_ptr<Batch>> spare_;
  std::uint64_t next_line_{1};
  bool stopping_{false};
  std::vector<std::thread> workers_;
};

}  // namespace uniqd::processor
