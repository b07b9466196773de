// uniqd-gen: writes JSON log frames (one per line) shaped like the public
// "unique users per minute" challenge data, with optional fault injection.
// The output is a pure function of the options. See README.md.
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "config/secrets.h"
#include "frame.hh"
#include "tools/gen/kafka_sink.h"

namespace {

using uniqd::gen::FrameGenerator;
using uniqd::gen::Options;
using uniqd::gen::TsUnit;

constexpr std::string_view kUsage = R"(usage: uniqd-gen [options]

Writes JSON frames, one per line, to stdout or --output.

  --count N            frames to write (default 1000; blank lines are extra)
  --rate R             frames per event-time second (default 1000; may be < 1)
  --users U            size of the user pool (default 100000)
  --frame-bytes B      target average frame size in bytes (default 2000)
  --seed S             random seed (default 1)
  --start TS           event time of the first frame, unix seconds (default 1468244340)
  --ts-unit s|ms       write ts in seconds (default) or milliseconds
  --profile P          hostile (default: every JSON corner) or challenge (frames like the
                       challenge generator's: ASCII lorem ipsum text, decoy uid/ts in nested
                       objects, escapes \" \\ \/ \b \t \n only, plain numbers)
  --max-delay SEC      out-of-order: delayed frames are 1..SEC s early (default 5)
  --delay-prob P       probability that a frame is delayed (default 0)
  --gap-prob P         probability that event time jumps forward at a frame (default 0)
  --gap-seconds G      size of such a jump (default 7200)
fault injection (probabilities per frame, default 0):
  --flip-prob P        flip one bit (uniform over bits 0..40) of the ts value
  --ts-string-prob P   ts as a digit string ("1468244340", sometimes zero-padded)
  --ts-float-prob P    ts with a fraction (1468244340.75 or 1.46824434075e9)
  --malformed-prob P   invalid JSON (truncated, corrupted byte, stray char, ...)
  --missing-uid-prob P root uid absent
  --missing-ts-prob P  root ts absent
  --dup-key-prob P     root uid or ts present twice
  --bad-type-prob P    uid as object/bool/null/float, or ts as bool/negative/non-digit string...
  --uid-number-prob P  uid as a JSON integer (1 in 4 of these: the same number as a string)
  --escaped-key-prob P root key written "u\u0069d" / "t\u0073" ...
  --escaped-uid-prob P uid string value with \u00XX escapes (same user)
  --crlf-prob P        line ends with \r\n
  --blank-prob P       emit a blank (empty / whitespace-only) line before the frame
output:
  --output FILE        output file, - for stdout (default -)
  --truth FILE         also write one JSON line per output line: expected class
                       (SEMANTICS.md rules 1-7), uid identity, ts (seconds), faults
  --max-frame-bytes N  limit used for the too_large class in --truth/--stats (default 1048576)
  --stats              print injection and class counts to stderr (JSON)
  --threads N          generator threads (default: min(4, cores)); output does not depend on it
kafka output (instead of --output):
  --kafka BROKERS      produce each line as one message to --topic (created if missing)
  --topic T            topic name (default frames)
  --key uid|none       uid: the user's pool index is the key and picks the partition
                       (one user, one partition); none: no key, round robin by line (default uid)
  --partitions N       partitions to create and spread over (default 4)
  --kafka-property K=V librdkafka property for the producer and topic creation, e.g.
                       security.protocol=SASL_SSL; repeatable; V may be ${env:NAME} or
                       ${file:/path} as in uniqd's configuration
  --help
)";

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "uniqd-gen: %s\n", msg.c_str());
  std::exit(2);
}

template <class T>
T parse_int(std::string_view name, std::string_view v) {
  T out{};
  auto res = std::from_chars(v.data(), v.data() + v.size(), out);
  if (res.ec != std::errc{} || res.ptr != v.data() + v.size()) {
    die("bad integer for " + std::string(name) + ": '" + std::string(v) + "'");
  }
  return out;
}

double parse_double(std::string_view name, std::string_view v) {
  double out{};
  auto res = std::from_chars(v.data(), v.data() + v.size(), out);
  if (res.ec != std::errc{} || res.ptr != v.data() + v.size()) {
    die("bad number for " + std::string(name) + ": '" + std::string(v) + "'");
  }
  return out;
}

double parse_prob(std::string_view name, std::string_view v) {
  const double p = parse_double(name, v);
  if (!(p >= 0.0 && p <= 1.0)) die(std::string(name) + " must be in [0, 1]");
  return p;
}

struct Cli {
  Options opt;
  uniqd::gen::KafkaSinkOptions kafka;
  std::string output = "-";
  std::string truth;
  bool stats = false;
  unsigned threads = 0;
};

Cli parse_args(int argc, char** argv) {
  Cli c;
  Options& o = c.opt;
  for (int a = 1; a < argc; ++a) {
    std::string_view arg = argv[a];
    if (arg == "--help" || arg == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      std::exit(0);
    }
    if (arg == "--stats") {
      c.stats = true;
      continue;
    }
    if (arg.substr(0, 2) != "--") die("unexpected argument '" + std::string(arg) + "' (see --help)");
    std::string_view name = arg, val;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      val = arg.substr(eq + 1);
    } else {
      if (a + 1 >= argc) die("missing value for " + std::string(name));
      val = argv[++a];
    }
    if (name == "--count") {
      o.count = parse_int<uint64_t>(name, val);
    } else if (name == "--rate") {
      o.rate = parse_double(name, val);
      if (!(o.rate > 0)) die("--rate must be > 0");
    } else if (name == "--users") {
      o.users = parse_int<uint64_t>(name, val);
      if (o.users == 0) die("--users must be >= 1");
    } else if (name == "--frame-bytes") {
      o.frame_bytes = parse_int<uint64_t>(name, val);
      if (o.frame_bytes > (1ULL << 30)) die("--frame-bytes too large");
    } else if (name == "--profile") {
      if (val == "challenge") {
        o.challenge = true;
      } else if (val == "hostile") {
        o.challenge = false;
      } else {
        die("--profile must be hostile or challenge");
      }
    } else if (name == "--seed") {
      o.seed = parse_int<uint64_t>(name, val);
    } else if (name == "--start") {
      o.start = parse_int<int64_t>(name, val);
      if (o.start < 0 || o.start > 253402300799) die("--start must be in [0, 253402300799]");
    } else if (name == "--ts-unit") {
      if (val == "s") {
        o.ts_unit = TsUnit::s;
      } else if (val == "ms") {
        o.ts_unit = TsUnit::ms;
      } else {
        die("--ts-unit must be s or ms");
      }
    } else if (name == "--max-delay") {
      o.max_delay = parse_int<int64_t>(name, val);
      if (o.max_delay < 0 || o.max_delay > 1000000000) die("--max-delay out of range");
    } else if (name == "--delay-prob") {
      o.delay_prob = parse_prob(name, val);
    } else if (name == "--gap-prob") {
      o.gap_prob = parse_prob(name, val);
    } else if (name == "--gap-seconds") {
      o.gap_seconds = parse_int<int64_t>(name, val);
      if (o.gap_seconds < 0 || o.gap_seconds > 1000000000) die("--gap-seconds out of range");
    } else if (name == "--flip-prob") {
      o.flip_prob = parse_prob(name, val);
    } else if (name == "--ts-string-prob") {
      o.ts_string_prob = parse_prob(name, val);
    } else if (name == "--ts-float-prob") {
      o.ts_float_prob = parse_prob(name, val);
    } else if (name == "--malformed-prob") {
      o.malformed_prob = parse_prob(name, val);
    } else if (name == "--missing-uid-prob") {
      o.missing_uid_prob = parse_prob(name, val);
    } else if (name == "--missing-ts-prob") {
      o.missing_ts_prob = parse_prob(name, val);
    } else if (name == "--dup-key-prob") {
      o.dup_key_prob = parse_prob(name, val);
    } else if (name == "--bad-type-prob") {
      o.bad_type_prob = parse_prob(name, val);
    } else if (name == "--uid-number-prob") {
      o.uid_number_prob = parse_prob(name, val);
    } else if (name == "--escaped-key-prob") {
      o.escaped_key_prob = parse_prob(name, val);
    } else if (name == "--escaped-uid-prob") {
      o.escaped_uid_prob = parse_prob(name, val);
    } else if (name == "--crlf-prob") {
      o.crlf_prob = parse_prob(name, val);
    } else if (name == "--blank-prob") {
      o.blank_prob = parse_prob(name, val);
    } else if (name == "--max-frame-bytes") {
      o.max_frame_bytes = parse_int<uint64_t>(name, val);
    } else if (name == "--threads") {
      c.threads = parse_int<unsigned>(name, val);
      if (c.threads == 0 || c.threads > 256) die("--threads must be in [1, 256]");
    } else if (name == "--kafka") {
      c.kafka.brokers = std::string(val);
    } else if (name == "--topic") {
      c.kafka.topic = std::string(val);
    } else if (name == "--key") {
      if (val != "uid" && val != "none") die("--key must be uid or none");
      c.kafka.key_by_uid = val == "uid";
    } else if (name == "--partitions") {
      c.kafka.partitions = parse_int<int>(name, val);
    } else if (name == "--kafka-property") {
      const auto eq = val.find('=');
      if (eq == std::string_view::npos || eq == 0) die("--kafka-property expects NAME=VALUE");
      uniqd::config::Resolved r;
      if (auto err = uniqd::config::resolve_references(val.substr(eq + 1), r)) {
        die("--kafka-property " + std::string(val.substr(0, eq)) + ": " + *err);
      }
      c.kafka.client[std::string(val.substr(0, eq))] = r.value;
    } else if (name == "--output") {
      c.output = std::string(val);
    } else if (name == "--truth") {
      c.truth = std::string(val);
    } else {
      die("unknown option " + std::string(name) + " (see --help)");
    }
  }
  return c;
}

class Sink {
 public:
  Sink(const std::string& path, const char* what) : what_(what) {
    if (path == "-") {
      f_ = stdout;
    } else {
      f_ = std::fopen(path.c_str(), "wb");
      if (!f_) die(std::string("cannot open ") + what + " '" + path + "': " + std::strerror(errno));
      owned_ = true;
    }
  }
  ~Sink() {
    if (owned_) std::fclose(f_);
  }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  void write(std::string& buf) {
    if (!buf.empty() && std::fwrite(buf.data(), 1, buf.size(), f_) != buf.size()) {
      // Worker threads may be running: leave without running destructors.
      std::fprintf(stderr, "uniqd-gen: write error on %s: %s\n", what_, std::strerror(errno));
      std::_Exit(2);
    }
    buf.clear();
  }
  void close() {
    if (std::fflush(f_) != 0) die(std::string("write error on ") + what_ + ": " + std::strerror(errno));
    if (owned_) {
      owned_ = false;
      if (std::fclose(f_) != 0) die(std::string("close error on ") + what_ + ": " + std::strerror(errno));
    }
  }

 private:
  std::FILE* f_ = nullptr;
  bool owned_ = false;
  const char* what_;
};

template <class Arr, class Names>
void json_counts(std::string& s, const Arr& counts, const Names& names) {
  s += '{';
  for (size_t k = 0; k < counts.size(); ++k) {
    if (k) s += ',';
    s += '"';
    s += names[k];
    s += "\":";
    s += std::to_string(counts[k]);
  }
  s += '}';
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli = parse_args(argc, argv);
  if (cli.kafka.topic.empty()) cli.kafka.topic = "frames";
  std::optional<uniqd::gen::KafkaSink> kafka_sink;
  if (!cli.kafka.brokers.empty()) kafka_sink.emplace(cli.kafka);
  Sink out_sink(kafka_sink ? "/dev/null" : cli.output, "output");
  std::optional<Sink> truth_file;
  if (!cli.truth.empty()) {
    if (cli.truth == "-" && cli.output == "-") die("--truth and --output cannot both be stdout");
    truth_file.emplace(cli.truth, "truth");
  }
  Sink* const truth_sink = truth_file ? &*truth_file : nullptr;

  // Frames are cut into chunks; each round, every thread generates one chunk
  // while the main thread writes the previous round's chunks, in order.
  // Every frame is seeded from (seed, index), so chunking does not change
  // the output; the only carried state (gap seconds, line number) comes from
  // a cheap prefix scan.
  const Options& o = cli.opt;
  unsigned threads = cli.threads;
  if (threads == 0) threads = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  const uint64_t chunk_frames = std::max<uint64_t>(1, std::min<uint64_t>(4096, (8u << 20) / (o.frame_bytes + 64)));

  struct Chunk {
    uint64_t begin = 0, end = 0;
    std::string out, truth;
  };
  std::vector<std::unique_ptr<FrameGenerator>> gens;
  for (unsigned t = 0; t < threads; ++t) gens.push_back(std::make_unique<FrameGenerator>(o));
  std::vector<Chunk> cur(threads), prev(threads);

  uint64_t next = 0;      // first frame not yet assigned
  int64_t gap_total = 0;  // gap seconds of frames < next
  uint64_t line_no = 0;   // lines before frame next
  auto write_round = [&](std::vector<Chunk>& round) {
    for (Chunk& c : round) {
      if (kafka_sink) {
        if (truth_sink) {
          std::string copy = c.truth;
          truth_sink->write(copy);
        }
        kafka_sink->write(c.out, c.truth);
        continue;
      }
      out_sink.write(c.out);
      if (truth_sink) truth_sink->write(c.truth);
    }
  };
  while (next < o.count) {
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads && next < o.count; ++t) {
      Chunk& c = cur[t];
      c.begin = next;
      c.end = std::min(o.count, next + chunk_frames);
      gens[t]->seek(gap_total, line_no);
      for (uint64_t i = c.begin; i < c.end; ++i) {
        if (FrameGenerator::gap_at(o, i)) gap_total += o.gap_seconds;
        line_no += 1 + (FrameGenerator::blank_at(o, i) ? 1 : 0);
      }
      next = c.end;
      workers.emplace_back([&c, &g = *gens[t], with_truth = truth_sink != nullptr || kafka_sink.has_value()] {
        for (uint64_t i = c.begin; i < c.end; ++i) g.frame(i, c.out, with_truth ? &c.truth : nullptr);
      });
    }
    write_round(prev);
    for (auto& w : workers) w.join();
    std::swap(cur, prev);
  }
  write_round(prev);
  out_sink.close();
  if (kafka_sink) {
    kafka_sink->close();
    std::string s = "uniqd-gen: produced to " + cli.kafka.topic + ":";
    for (std::size_t p = 0; p < kafka_sink->per_partition().size(); ++p) {
      s += " [" + std::to_string(p) + "]=" + std::to_string(kafka_sink->per_partition()[p]);
    }
    s += "\n";
    std::fwrite(s.data(), 1, s.size(), stderr);
  }
  if (truth_sink) truth_sink->close();

  std::array<uint64_t, uniqd::gen::kCounterCount> counters{};
  std::array<uint64_t, uniqd::gen::kMalformedCount> malformed{};
  std::array<uint64_t, uniqd::gen::kClassCount> classes{};
  for (const auto& g : gens) {
    for (size_t k = 0; k < counters.size(); ++k) counters[k] += g->counters()[k];
    for (size_t k = 0; k < malformed.size(); ++k) malformed[k] += g->malformed()[k];
    for (size_t k = 0; k < classes.size(); ++k) classes[k] += g->classes()[k];
  }

  if (cli.stats) {
    std::string s = "{\"injected\":";
    json_counts(s, counters, uniqd::gen::kCounterNames);
    s += ",\"malformed_kinds\":";
    json_counts(s, malformed, uniqd::gen::kMalformedNames);
    s += ",\"classes\":";
    json_counts(s, classes, uniqd::gen::kClassNames);
    s += "}\n";
    std::fwrite(s.data(), 1, s.size(), stderr);
  }
  return 0;
}
