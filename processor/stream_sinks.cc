#include "processor/stream_sinks.h"

#include "processor/result_json.h"

namespace uniqd::processor {
namespace {

constexpr std::size_t kFlushAt = 1 << 16;

// Nothing buffered means nothing to do: the stream is not touched, so a
// flush after the file was closed (a destructor at exit) is harmless.
bool write_all(std::FILE* out, std::string& buf) {
  if (out == nullptr || buf.empty()) {
    buf.clear();
    return true;
  }
  const bool ok = std::fwrite(buf.data(), 1, buf.size(), out) == buf.size() && std::fflush(out) == 0;
  buf.clear();
  return ok;
}

}  // namespace

void StreamResultSink::emit(const WindowResult& r) {
  append_result_json(buf_, r);
  buf_ += '\n';
  if (buf_.size() >= kFlushAt) flush();
}

bool StreamResultSink::flush() { return write_all(out_, buf_); }

void StreamRejectSink::reject(RejectReason reason, std::string_view bytes, const SourcePosition& pos,
                              std::uint64_t full_size) {
  if (out_ == nullptr) return;
  append_reject_json(buf_, reason, bytes, pos, full_size, line_numbers_);
  buf_ += '\n';
  if (buf_.size() >= kFlushAt) flush();
}

bool StreamRejectSink::flush() { return write_all(out_, buf_); }

}  // namespace uniqd::processor
