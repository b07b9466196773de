// Splits a byte stream (stdin, a file) into frames, one per line, without
// ever holding more than max_frame_bytes of one line: a 100 MB line costs its
// first kRejectPrefixBytes (frame.h), not 100 MB. Lines handed out keep
// kFramePadding readable bytes after them, so the parser can read them in
// place.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "processor/frame.h"

namespace uniqd::processor {

class LineReader {
 public:
  // blank: is_blank_frame (frame.h), after the size check.
  enum class Kind { line, blank, too_large, end, error };
  struct Line {
    Kind kind{Kind::end};
    const char* data{nullptr};  // line (no \n, no trailing \r) or kept prefix
    std::size_t size{0};
    std::uint64_t full_size{0};  // too_large: the whole line's length
    std::uint64_t number{0};     // 1-based line number
  };

  // fd is read with read(2) in chunks of read_chunk bytes; the reader does
  // not close it. Small chunks are for tests that probe refill edges.
  LineReader(int fd, std::size_t max_frame_bytes, std::size_t read_chunk = 4u << 20);

  // The next line. Kind::error: errno-style message in error().
  Line next();
  // Called before a read that would block, so that results wait on nothing:
  // on a slow pipe they appear as soon as they are final. A hook that
  // returns false (its output failed) ends the input: Kind::end, aborted()
  // true, so that the caller stops instead of waiting for more.
  void set_before_read(bool (*hook)(void*), void* arg) {
    hook_ = hook;
    hook_arg_ = arg;
  }
  // A flag set by a signal handler: a read interrupted while it is set ends
  // the input (Kind::end, interrupted() true).
  void set_stop_flag(const volatile std::sig_atomic_t* flag) { stop_ = flag; }
  // After interrupted() or aborted(), a partial last line (no \n yet) is not
  // handed out: it is not a frame, only the part of one read so far.
  bool interrupted() const { return interrupted_; }
  bool aborted() const { return aborted_; }
  const std::string& error() const { return error_; }
  std::uint64_t bytes_read() const { return bytes_read_; }

 private:
  bool fill();  // false on EOF or error

  int fd_;
  std::size_t max_;
  std::size_t chunk_;
  std::size_t full_size_;  // the most buf_ grows to
  std::vector<char> buf_;
  std::size_t begin_{0};  // first unconsumed byte
  std::size_t end_{0};    // one past the last valid byte
  std::size_t scanned_{0};
  bool eof_{false};
  std::uint64_t line_no_{0};
  std::uint64_t bytes_read_{0};
  std::string prefix_;
  std::string error_;
  bool (*hook_)(void*){nullptr};
  void* hook_arg_{nullptr};
  const volatile std::sig_atomic_t* stop_{nullptr};
  bool interrupted_{false};
  bool aborted_{false};
};

}  // namespace uniqd::processor
