// Results and rejects as JSON lines on a stdio stream (stdout, a file).
// Buffered; flush() is called before the source blocks so results never wait
// for more input.
//
// A write that fails (disk full, a closed pipe, EIO) is never forgotten: the
// sink turns failed(), keeps the bytes it could not write (and accepts no
// more, so memory stays bounded), and error() says what happened, naming the
// stream. The caller stops on failed(): results or rejects that cannot be
// written must end uniqd with a non-zero status, not vanish.
#pragma once

#include <cstdio>
#include <string>

#include "processor/engine.h"

namespace uniqd::processor {

// The buffer and failure state both sinks share.
class StreamWriter {
 public:
  // what names the stream in errors: "results on standard output",
  // "rejects to '/path'".
  StreamWriter(std::FILE* out, std::string what) : out_(out), what_(std::move(what)) {}
  std::string& buffer() { return buf_; }
  // Writes the buffer once it is large; true while the stream is good.
  bool maybe_flush();
  // Writes and fflush()es the buffer. False (and failed()) when the stream
  // failed now or before.
  bool flush();
  // Closes the stream (fclose: its last error shows here too); nothing is
  // written afterwards. False when anything failed.
  bool close();
  bool failed() const { return !error_.empty(); }
  // "writing results on standard output failed: No space left on device
  // (812 bytes not written)"; empty while nothing failed.
  const std::string& error() const { return error_; }
  bool accepting() const { return out_ != nullptr && error_.empty(); }

 private:
  void fail(int err);
  std::FILE* out_;
  std::string what_;
  std::string buf_;
  std::string error_;
};

class StreamResultSink final : public ResultSink {
 public:
  // what: see StreamWriter.
  explicit StreamResultSink(std::FILE* out, std::string what = "results on standard output")
      : w_(out, std::move(what)) {}
  void emit(const WindowResult& r) override;
  bool flush() { return w_.flush(); }
  bool failed() const { return w_.failed(); }
  const std::string& error() const { return w_.error(); }

 private:
  StreamWriter w_;
};

class StreamRejectSink final : public RejectSink {
 public:
  // out may be null: rejects are then only counted.
  StreamRejectSink(std::FILE* out, bool line_numbers, std::string what = "rejects")
      : w_(out, std::move(what)), line_numbers_(line_numbers) {}
  void reject(RejectReason reason, std::string_view bytes, const SourcePosition& pos, std::uint64_t full_size) override;
  bool flush() { return w_.flush(); }
  // fclose()s the file (see StreamWriter::close).
  bool close() { return w_.close(); }
  bool failed() const { return w_.failed(); }
  const std::string& error() const { return w_.error(); }

 private:
  StreamWriter w_;
  bool line_numbers_;
};

}  // namespace uniqd::processor
