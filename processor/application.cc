#include "processor/application.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "processor/cores.h"
#include "processor/frame_feed.h"
#include "processor/line_reader.h"
#include "processor/mapped_file.h"
#include "processor/metrics.h"
#include "processor/stop_signal.h"
#include "processor/stream_sinks.h"
#include "state/memory_store.h"

namespace uniqd::processor {
namespace {

// The end of the next piece of a mapped file: about `bytes` from p, cut just
// after a line end (or at the end of the file).
const char* piece_end(const char* p, const char* end, std::size_t bytes) {
  const char* cut = p + std::min<std::size_t>(bytes, static_cast<std::size_t>(end - p));
  if (cut < end) {
    const void* nl = std::memchr(cut - 1, '\n', static_cast<std::size_t>(end - cut + 1));
    cut = nl != nullptr ? static_cast<const char*>(nl) + 1 : end;
  }
  return cut;
}

std::string human_bytes(double b) {
  char buf[32];
  if (b >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  else if (b >= 1e6)
    std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.0f KB", b / 1e3);
  return buf;
}

// The progress line: redrawn in place a few times a second on a terminal.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}
  // frames: how many were handed over since the last call.
  void maybe_draw(const EngineStats& s, std::int64_t wm_ms, std::uint32_t frames = 1) {
    if (!enabled_ || (calls_ += frames) < 1024) return;
    calls_ = 0;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(250)) return;
    last_ = now;
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::string wm = wm_ms == kNoWatermark ? "-" : format_utc(wm_ms / 1000);
    std::fprintf(stderr, "\r\033[K%llu frames  %.1f MB/s  watermark %s  rejects %llu",
                 static_cast<unsigned long long>(s.frames), secs > 0 ? s.bytes / secs / 1e6 : 0.0, wm.c_str(),
                 static_cast<unsigned long long>(s.rejected_total()));
    drawn_ = true;
  }
  void clear() {
    if (drawn_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  bool enabled_;
  std::uint32_t calls_{0};
  bool drawn_{false};
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_{};
};

// Runs before every blocking read: results and rejects go out, and the
// metrics show where the task stands while it waits.
struct BeforeRead {
  FrameFeed* feed;
  StreamResultSink* results;
  StreamRejectSink* rejects;
  MetricsServer* metrics;
  const Engine* engine;
  const state::WindowStore* store;
  void publish() const {
    if (metrics == nullptr) return;
    MetricsSnapshot s = snapshot_of(*engine, *store);
    s.ready = true;
    metrics->publish(std::move(s));
  }
  // False when results or rejects could not be written: reading stops.
  static bool call(void* self) {
    auto* f = static_cast<BeforeRead*>(self);
    f->feed->apply_pending();
    const bool results_ok = f->results->flush();
    const bool rejects_ok = f->rejects->flush();
    f->publish();
    return results_ok && rejects_ok;
  }
};

}  // namespace

int parse_threads(const config::Config& c) {
  if (c.parse_threads != 0) return c.parse_threads;
  const unsigned cores = available_cores();
  return cores >= 2 ? static_cast<int>(std::min(cores, 8u)) : -1;
}

EngineOptions make_engine_options(const config::Config& c) {
  const config::EngineOptions& e = c.engine;
  EngineOptions o;
  o.counter.granularities.clear();
  if (e.windows.empty())
    throw ConfigError("windows", "at least one window is needed (minute hour day week month year)");
  for (const std::string& name : e.windows) {
    auto g = parse_granularity(name);
    if (!g)
      throw ConfigError("windows", "unknown window '" + name + "' (expected minute, hour, day, week, month or year)");
    o.counter.granularities.push_back(*g);
  }
  o.counter.late_policy = e.late_policy == config::LatePolicy::update ? LatePolicy::update : LatePolicy::drop;
  o.counter.retention_ms = e.retention.count();
  o.counter.early_results = e.early_results;
  if (e.late_policy == config::LatePolicy::update && e.retention < e.lateness) {
    throw ConfigError("retention", "must be at least lateness, or late updates could never land");
  }
  o.lateness_ms = e.lateness.count();
  o.outlier.threshold = e.outlier_threshold.count() / 1000;
  if (o.outlier.threshold < 1) throw ConfigError("outlier_threshold", "must be at least 1s");
  if (e.outlier_confirm < 1) throw ConfigError("outlier_confirm", "must be at least 1");
  o.outlier.confirm = e.outlier_confirm;
  if (e.partition_time_confirm < 1) throw ConfigError("partition_time_confirm", "must be at least 1");
  o.outlier.partition_time_confirm = e.partition_time_confirm;
  o.outlier.immediate_step_ms = e.partition_time_step.count();
  o.max_future_skew = e.max_future_skew.count() / 1000;
  o.ts_unit = e.ts_unit == config::TsUnit::ms ? TsUnit::milliseconds : TsUnit::seconds;
  if (e.max_frame_bytes < 2 || e.max_frame_bytes > (1ull << 30)) {
    throw ConfigError("max_frame_bytes", "must be between 2 bytes and 1GiB");
  }
  o.max_frame_bytes = e.max_frame_bytes;
  return o;
}

std::string summary_line(const EngineStats& s, double seconds, std::uint64_t peak_pairs, std::size_t peak_bytes) {
  std::string out = std::to_string(s.frames) + " frames (" + human_bytes(static_cast<double>(s.bytes)) + ") in ";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%.2f s, %.0f frames/s, %.1f MB/s; ", seconds, seconds > 0 ? s.frames / seconds : 0.0,
                seconds > 0 ? s.bytes / seconds / 1e6 : 0.0);
  out += buf;
  out += "accepted " + std::to_string(s.accepted) + ", rejected " + std::to_string(s.rejected_total());
  if (s.rejected_total() > 0) {
    out += " (";
    bool first = true;
    for (int i = 0; i < kRejectReasonCount; ++i) {
      if (s.rejected[static_cast<std::size_t>(i)] == 0) continue;
      if (!first) out += ' ';
      first = false;
      out += std::string(reject_reason_name(static_cast<RejectReason>(i))) + "=" +
             std::to_string(s.rejected[static_cast<std::size_t>(i)]);
    }
    out += ")";
  }
  out += ", blank " + std::to_string(s.blank);
  out += "; results " + std::to_string(s.results_final) + " final, " + std::to_string(s.results_early) + " early";
  if (peak_pairs > 0) {
    std::snprintf(buf, sizeof buf, "; peak %llu open (window, uid) pairs in %s, %.1f bytes/pair",
                  static_cast<unsigned long long>(peak_pairs), human_bytes(static_cast<double>(peak_bytes)).c_str(),
                  static_cast<double>(peak_bytes) / static_cast<double>(peak_pairs));
    out += buf;
  }
  return out;
}

namespace {

// Where --rejects writes.
struct RejectsTarget {
  std::FILE* file{nullptr};
  bool owned{false};  // opened here, closed here
};

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// A file of its own, or a stream already open when the path names it ("-",
// /dev/stdout, the file standard output or error was redirected to): a second
// handle on that file would write at its own offset, and results and rejects
// would overwrite each other. The input itself is refused (status 2): opening
// it for writing would empty it before it is read. nullopt: go on.
std::optional<int> open_rejects(const std::string& path, int input_fd, RejectsTarget& out) {
  if (path == "-") {
    out.file = stdout;
    return std::nullopt;
  }
  struct stat target {};
  if (::stat(path.c_str(), &target) == 0) {
    struct stat st {};
    if (::fstat(input_fd, &st) == 0 && same_file(target, st) && !S_ISCHR(target.st_mode)) {
      spdlog::error("rejects: '{}' is the input: writing rejects there would destroy the frames not read yet", path);
      return 2;
    }
    for (const auto& [fd, stream] : {std::pair{STDOUT_FILENO, stdout}, std::pair{STDERR_FILENO, stderr}}) {
      if (::fstat(fd, &st) == 0 && same_file(target, st)) {
        out.file = stream;
        return std::nullopt;
      }
    }
  }
  out.file = std::fopen(path.c_str(), "w");
  if (out.file == nullptr) {
    spdlog::error("rejects: cannot open '{}' for writing: {}", path, std::strerror(errno));
    return 1;
  }
  out.owned = true;
  return std::nullopt;
}

std::string input_name(const config::Config& c) {
  return c.input == config::InputKind::file && c.input_path != "-" ? "'" + c.input_path + "'" : "standard input";
}

}  // namespace

int run_stream(const config::Config& c) {
  const EngineOptions opts = make_engine_options(c);

  int fd = STDIN_FILENO;
  if (c.input == config::InputKind::file && c.input_path != "-") {
    fd = ::open(c.input_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      spdlog::error("input: cannot open '{}': {}", c.input_path, std::strerror(errno));
      return 1;
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  RejectsTarget rejects_to;
  if (!c.rejects_path.empty()) {
    if (auto status = open_rejects(c.rejects_path, fd, rejects_to)) {
      if (fd != STDIN_FILENO) ::close(fd);
      return *status;
    }
  }

  std::unique_ptr<MetricsServer> metrics;
  if (!c.metrics_address.empty()) {
    try {
      metrics = std::make_unique<MetricsServer>(c.metrics_address);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return 2;
    }
    spdlog::info("metrics on http://{}:{}/metrics", c.metrics_address.substr(0, c.metrics_address.rfind(':')),
                 metrics->port());
  }
  install_stop_signal_handlers();
  StreamResultSink results(stdout, "results on standard output");
  StreamRejectSink rejects(rejects_to.file, true, "rejects to '" + c.rejects_path + "'");
  state::MemoryStore store;
  Engine engine(opts, store, results, rejects);
  LineReader reader(fd, opts.max_frame_bytes);
  FrameFeed feed([&engine]() -> Engine& { return engine; }, parse_threads(c), opts.max_frame_bytes, opts.ts_unit);
  BeforeRead before_read{&feed, &results, &rejects, metrics.get(), &engine, &store};
  reader.set_before_read(&BeforeRead::call, &before_read);
  reader.set_stop_flag(stop_flag());
  Progress progress(c.progress && ::isatty(STDERR_FILENO) == 1);

  // A regular file is mapped: pieces of it cut at line ends go to the parse
  // threads in place, which split them into lines too, so this thread only
  // cuts and counts; on one core its lines are parsed in place, without the
  // read(2) copy (processor/mapped_file.h).
  std::unique_ptr<MappedFile> mapped;
  if (fd != STDIN_FILENO) mapped = MappedFile::map(fd, nullptr);
  if (mapped) mapped->exit_if_truncated(c.input_path);
  bool stopped = false;

  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  if (mapped && feed.parallel()) {
    constexpr std::size_t kPieceBytes = 1 << 20;
    // Pieces older than the parse threads' queue can hold are applied: their
    // pages can go (ParallelParser keeps at most 8 batches in flight).
    constexpr std::size_t kKeptPieces = 16;
    std::array<const char*, kKeptPieces> starts{};
    std::size_t pieces = 0;
    const char* p = mapped->data();
    const char* const end = p + mapped->size();
    while (p < end && !results.failed() && !rejects.failed()) {
      if (stop_requested()) {
        stopped = true;
        break;
      }
      const char* cut = piece_end(p, end, kPieceBytes);
      feed.add_lines(p, static_cast<std::size_t>(cut - p));
      if (pieces >= kKeptPieces) mapped->release_before(starts[pieces % kKeptPieces]);
      starts[pieces++ % kKeptPieces] = p;
      p = cut;
      progress.maybe_draw(engine.stats(), engine.watermark_ms(), 512);  // about the lines of a piece
    }
    feed.apply_pending();
  }
  if (mapped && !feed.parallel()) {
    // One core: the lines are parsed where they lie, as they are cut.
    constexpr std::size_t kPieceBytes = 1 << 20;
    std::vector<ParsedLine> lines;
    std::uint64_t line_no = 0;
    const char* p = mapped->data();
    const char* const end = p + mapped->size();
    while (p < end && !results.failed() && !rejects.failed()) {
      if (stop_requested()) {
        stopped = true;
        break;
      }
      const char* cut = piece_end(p, end, kPieceBytes);
      lines.clear();
      split_lines(p, static_cast<std::size_t>(cut - p), opts.max_frame_bytes, lines);
      for (const ParsedLine& l : lines) {
        const SourcePosition pos{0, static_cast<std::int64_t>(++line_no)};
        if (l.blank) {
          feed.add_blank();
        } else if (l.too_large) {
          feed.add_too_large(l.bytes, l.full_size, pos);
        } else {
          feed.add_padded(l.bytes.data(), l.bytes.size(), pos);
        }
      }
      mapped->release_before(p);
      p = cut;
      progress.maybe_draw(engine.stats(), engine.watermark_ms(), static_cast<std::uint32_t>(lines.size()));
    }
  }
  while (!mapped) {
    const LineReader::Line line = reader.next();
    if (line.kind == LineReader::Kind::end) break;
    const SourcePosition pos{0, static_cast<std::int64_t>(line.number)};
    switch (line.kind) {
      case LineReader::Kind::line:
        feed.add_padded(line.data, line.size, pos);
        break;
      case LineReader::Kind::blank:
        feed.add_blank();
        break;
      case LineReader::Kind::too_large:
        feed.add_too_large(std::string_view(line.data, line.size), line.full_size, pos);
        break;
      case LineReader::Kind::error:
        spdlog::error("input {}: read failed after line {}: {}", input_name(c), line.number, reader.error());
        status = 1;
        break;
      case LineReader::Kind::end:
        break;
    }
    // Output that cannot be written ends the run: going on would count
    // frames whose results or rejects nobody gets.
    if (status != 0 || results.failed() || rejects.failed()) break;
    progress.maybe_draw(engine.stats(), engine.watermark_ms());
  }
  feed.apply_pending();
  progress.clear();
  const bool output_failed = results.failed() || rejects.failed();
  if (reader.interrupted() || stopped) {
    // Stopped by a signal: what is final was emitted; open windows are not
    // final, so they are not claimed to be.
    spdlog::info("stopped by signal after {} frames and {} blank lines; open windows were not emitted",
                 engine.stats().frames, engine.stats().blank);
  } else if (status == 0 && !output_failed) {
    engine.finish();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Both are reported: each names its own stream.
  results.flush();
  // A stream shared with results or the log stays open for them.
  if (rejects_to.owned) {
    rejects.close();
  } else {
    rejects.flush();
  }
  for (const std::string* e : {&results.error(), &rejects.error()}) {
    if (e->empty()) continue;
    spdlog::error("{}", *e);
    status = 1;
  }
  if (fd != STDIN_FILENO) ::close(fd);
  before_read.publish();
  spdlog::info("{}", summary_line(engine.stats(), secs, engine.counter().peak_pairs(), engine.counter().peak_bytes()));
  return status;
}

}  // namespace uniqd::processor
