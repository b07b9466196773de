// Results and rejects as JSON lines on a stdio stream (stdout, a file).
// Buffered; flush() is called before the source blocks so results never wait
// for more input.
#pragma once

#include <cstdio>
#include <string>

#include "processor/engine.h"

namespace uniqd::processor {

class StreamResultSink final : public ResultSink {
 public:
  explicit StreamResultSink(std::FILE* out) : out_(out) {}
  ~StreamResultSink() override { flush(); }
  void emit(const WindowResult& r) override;
  // False when the stream failed (disk full, closed pipe).
  bool flush();

 private:
  std::FILE* out_;
  std::string buf_;
};

class StreamRejectSink final : public RejectSink {
 public:
  // out may be null: rejects are then only counted.
  StreamRejectSink(std::FILE* out, bool line_numbers) : out_(out), line_numbers_(line_numbers) {}
  ~StreamRejectSink() override { flush(); }
  void reject(RejectReason reason, std::string_view bytes, const SourcePosition& pos,
              std::uint64_t full_size) override;
  bool flush();

 private:
  std::FILE* out_;
  bool line_numbers_;
  std::string buf_;
};

}  // namespace uniqd::processor
