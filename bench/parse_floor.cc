// The parse floor of DESIGN §5: the same file reading and line splitting as
// uniqd, then simdjson extracting the root ts and uid, and nothing else.
//   --mode ondemand   On-Demand, root uid/ts only, no validation of the rest
//                     (the floor the issue defines)
//   --mode dom        full DOM parse (validates every byte, as uniqd must)
//   --mode structural uniqd's own FrameParser (stage 1 + grammar check, the
//                     DOM for what it defers): uniqd's parse alone, one core
// Prints one line: mode frames bytes seconds frames/s MB/s checksum (and, for
// structural, a line with how many frames it deferred to the DOM parse).
#include <fcntl.h>
#include <simdjson.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench/ondemand_floor.h"
#include "processor/frame_parser.h"
#include "processor/line_reader.h"

namespace {

std::uint64_t dom(simdjson::dom::parser& p, const char* data, std::size_t size) {
  simdjson::dom::element root;
  if (p.parse(data, size, false).get(root)) return 0;
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return 0;
  std::uint64_t sum = 0;
  for (auto field : obj) {
    if (field.key == "uid") {
      std::string_view uid;
      if (!field.value.get_string().get(uid)) sum += uid.size();
    } else if (field.key == "ts") {
      std::int64_t ts;
      if (!field.value.get_int64().get(ts)) sum += static_cast<std::uint64_t>(ts);
    }
  }
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = "ondemand";
  const char* path = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
      mode = argv[++i];
    else
      path = argv[i];
  }
  if (path == nullptr || (mode != "ondemand" && mode != "dom" && mode != "structural")) {
    std::fprintf(stderr, "usage: uniqd-parse-floor [--mode ondemand|dom|structural] FILE\n");
    return 2;
  }
  const int fd = ::open(path, O_RDONLY);
  if (fd < 0) {
    std::fprintf(stderr, "uniqd-parse-floor: cannot open %s: %s\n", path, std::strerror(errno));
    return 1;
  }
  const std::size_t max_frame = 1 << 20;
  uniqd::processor::LineReader reader(fd, max_frame);
  simdjson::ondemand::parser od(max_frame);
  simdjson::dom::parser dp;
  if (dp.allocate(max_frame)) return 1;
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t frames = 0, bytes = 0, sum = 0;
  const int kind = mode == "dom" ? 1 : mode == "structural" ? 2 : 0;
  uniqd::processor::FrameParser fp(max_frame, uniqd::processor::TsUnit::seconds,
                                   uniqd::processor::ParserEngine::structural);
  while (true) {
    const auto line = reader.next();
    if (line.kind == uniqd::processor::LineReader::Kind::end || line.kind == uniqd::processor::LineReader::Kind::error)
      break;
    if (line.kind != uniqd::processor::LineReader::Kind::line) continue;
    ++frames;
    bytes += line.size;
    if (kind == 1) {
      sum += dom(dp, line.data, line.size);
    } else if (kind == 2) {
      uniqd::processor::ParsedFrame f;
      if (!fp.parse(line.data, line.size, f)) sum += static_cast<std::uint64_t>(f.ts) + f.uid.lo;
    } else {
      sum += uniqd::bench::ondemand_uid_ts(od, line.data, line.size);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s frames=%llu bytes=%llu seconds=%.3f frames_per_s=%.0f mb_per_s=%.1f checksum=%llu\n", mode.c_str(),
              static_cast<unsigned long long>(frames), static_cast<unsigned long long>(bytes), secs, frames / secs,
              bytes / secs / 1e6, static_cast<unsigned long long>(sum));
  // How many frames the structural engine handed to the DOM parse.
  if (kind == 2) std::printf("deferred=%llu\n", static_cast<unsigned long long>(fp.deferred()));
  ::close(fd);
  return 0;
}
