#include "processor/stream_sinks.h"

#include <cerrno>
#include <cstring>

#include "processor/result_json.h"

namespace uniqd::processor {
namespace {

constexpr std::size_t kFlushAt = 1 << 16;

}  // namespace

void StreamWriter::fail(int err) {
  if (!error_.empty()) return;
  error_ = "writing " + what_ + " failed: " + (err != 0 ? std::strerror(err) : "unknown error");
  if (!buf_.empty()) error_ += " (up to " + std::to_string(buf_.size()) + " bytes not written)";
}

bool StreamWriter::maybe_flush() {
  return buf_.size() < kFlushAt || flush();
}

bool StreamWriter::flush() {
  if (!error_.empty()) return false;
  if (out_ == nullptr) {
    buf_.clear();
    return true;
  }
  // Nothing buffered: the stream is not touched.
  if (buf_.empty()) return true;
  // The buffer is cleared only once the bytes reached the file: what stdio
  // took before a failure may or may not be there, so the error counts it.
  errno = 0;
  bool ok = std::fwrite(buf_.data(), 1, buf_.size(), out_) == buf_.size();
  if (ok) {
    errno = 0;
    ok = std::fflush(out_) == 0;
  }
  if (!ok) {
    fail(errno);
    return false;
  }
  buf_.clear();
  return true;
}

bool StreamWriter::close() {
  if (out_ == nullptr) return error_.empty();
  const bool flushed = flush();
  errno = 0;
  const bool closed = std::fclose(out_) == 0;
  out_ = nullptr;
  if (flushed && !closed) fail(errno);
  return flushed && closed;
}

void StreamResultSink::emit(const WindowResult& r) {
  if (!w_.accepting()) return;
  append_result_json(w_.buffer(), r);
  w_.buffer() += '\n';
  w_.maybe_flush();
}

void StreamRejectSink::reject(RejectReason reason, std::string_view bytes, const SourcePosition& pos,
                              std::uint64_t full_size) {
  if (!w_.accepting()) return;
  append_reject_json(w_.buffer(), reason, bytes, pos, full_size, line_numbers_);
  w_.buffer() += '\n';
  w_.maybe_flush();
}

}  // namespace uniqd::processor
