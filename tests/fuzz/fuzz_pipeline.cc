// libFuzzer target: any bytes as a whole stdin stream (lines, CRLF, blank,
// oversized lines) through the reader, the engine and both sinks. Every frame
// must come out accepted or rejected with a reason: frames == accepted +
// rejected, and results are well-formed JSON text.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "processor/engine.h"
#include "processor/line_reader.h"
#include "processor/result_json.h"
#include "state/memory_store.h"

namespace {

struct CountingResults : uniqd::processor::ResultSink {
  std::string text;
  void emit(const uniqd::processor::WindowResult& r) override {
    text.clear();
    uniqd::processor::append_result_json(text, r);
    if (text.front() != '{' || text.back() != '}') std::abort();
  }
};

struct CountingRejects : uniqd::processor::RejectSink {
  std::uint64_t n{0};
  std::string text;
  void reject(uniqd::processor::RejectReason reason, std::string_view bytes,
              const uniqd::processor::SourcePosition& pos, std::uint64_t full) override {
    ++n;
    text.clear();
    uniqd::processor::append_reject_json(text, reason, bytes, pos, full, true);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = memfd_create("frames", 0);
  if (fd < 0) return 0;
  if (size > 0 && ::write(fd, data, size) != static_cast<ssize_t>(size)) std::abort();
  ::lseek(fd, 0, SEEK_SET);

  uniqd::processor::EngineOptions opts;
  opts.max_frame_bytes = 256;  // small, so oversized lines are reachable
  opts.outlier.threshold = 100;
  opts.counter.late_policy = size % 2 ? uniqd::processor::LatePolicy::update : uniqd::processor::LatePolicy::drop;
  opts.counter.retention_ms = 60'000;
  uniqd::state::MemoryStore store;
  CountingResults results;
  CountingRejects rejects;
  uniqd::processor::Engine engine(opts, store, results, rejects, [] { return std::int64_t{2'000'000'000}; });
  uniqd::processor::LineReader reader(fd, opts.max_frame_bytes, 64 + size % 61);
  while (true) {
    const auto line = reader.next();
    if (line.kind == uniqd::processor::LineReader::Kind::end) break;
    if (line.kind == uniqd::processor::LineReader::Kind::error) std::abort();
    const uniqd::processor::SourcePosition pos{0, static_cast<std::int64_t>(line.number)};
    if (line.kind == uniqd::processor::LineReader::Kind::line) engine.process(line.data, line.size, pos);
    if (line.kind == uniqd::processor::LineReader::Kind::blank) engine.note_blank();
    if (line.kind == uniqd::processor::LineReader::Kind::too_large) {
      engine.process_too_large({line.data, line.size}, line.full_size, pos);
    }
  }
  engine.finish();
  ::close(fd);
  const auto& s = engine.stats();
  if (s.frames != s.accepted + s.rejected_total() || rejects.n != s.rejected_total()) std::abort();
  return 0;
}
