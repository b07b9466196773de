// uniqd-oracle: the executable specification of docs/SEMANTICS.md.
//
// A deliberately simple, slow, independent implementation: nlohmann-json
// (SAX) instead of simdjson, raw uid strings in std::set instead of hashes,
// one frame at a time, calendar math with std::chrono. It shares no code with
// the engine (processor/), so the differential tests compare two readings of
// the same document. Prints final and early results (see README.md).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace {

using i64 = std::int64_t;
using json = nlohmann::json;

// ---------------------------------------------------------------- options --
struct Options {
  std::string input = "-", rejects;
  std::vector<int> grans;                                                         // indices into kGranNames, ascending
  i64 lateness = 5000, retention = 3600000, threshold = 3600000, skew = 3600000;  // ms
  bool update = false, ts_ms = false, early = true;
  i64 confirm = 3;
  i64 ptime_confirm = 3;  // 1: ptime is the largest accepted ts
  i64 ptime_step = 5000;  // ms
  std::uint64_t max_frame = 1 << 20;
};
const char* const kGranNames[] = {"minute", "hour", "day", "week", "month", "year"};

[[noreturn]] void usage_error(const std::string& msg) {
  std::cerr << "uniqd-oracle: " << msg << "\n";
  std::exit(2);
}

// "<digits><unit>", units from `units` as {suffix, multiplier}; "" = bare.
std::optional<i64> parse_number_unit(const std::string& t, const std::vector<std::pair<std::string, i64>>& units) {
  size_t n = 0;
  while (n < t.size() && t[n] >= '0' && t[n] <= '9') ++n;
  if (n == 0 || n > 15) return std::nullopt;  // <= 10^15: no overflow anywhere
  i64 v = std::stoll(t.substr(0, n));
  for (const auto& [suffix, mult] : units)
    if (t.substr(n) == suffix && v <= i64{1000000000000000} / mult) return v * mult;
  return std::nullopt;
}
i64 duration_ms(const std::string& t) {
  auto v = parse_number_unit(t, {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}});
  if (!v) usage_error("bad duration: " + t);
  return *v;
}

const char* const kUsage =
    "usage: uniqd-oracle [--input FILE|-] [--windows minute,hour,day,week,month,year]\n"
    "                    [--lateness 5s] [--late-policy drop|update] [--retention 1h]\n"
    "                    [--outlier-threshold 1h] [--outlier-confirm 3] [--partition-time-confirm 3]\n"
    "                    [--partition-time-step 5s] [--max-future-skew 1h]\n"
    "                    [--ts-unit s|ms] [--max-frame-bytes 1048576] [--rejects FILE]\n"
    "                    [--no-early-results]\n"
    "The executable specification of docs/SEMANTICS.md (tools/oracle/README.md): final and early\n"
    "results on stdout, one JSON line each; --rejects FILE: one {\"reason\",\"line\"} per rejected frame.\n";

Options parse_args(int argc, char** argv) {
  Options o;
  std::string windows = "minute,hour,day,week,month,year";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], val;
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      std::exit(std::cout.flush() ? 0 : 1);
    }
    if (a == "--no-early-results") {
      o.early = false;
      continue;
    }
    if (auto eq = a.find('='); eq != std::string::npos) {
      val = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      val = argv[++i];
    } else {
      usage_error("missing value for " + a);
    }
    if (a == "--input")
      o.input = val;
    else if (a == "--rejects")
      o.rejects = val;
    else if (a == "--windows")
      windows = val;
    else if (a == "--lateness")
      o.lateness = duration_ms(val);
    else if (a == "--retention")
      o.retention = duration_ms(val);
    else if (a == "--outlier-threshold")
      o.threshold = duration_ms(val);
    else if (a == "--max-future-skew")
      o.skew = duration_ms(val);
    else if (a == "--partition-time-step")
      o.ptime_step = duration_ms(val);
    else if (a == "--late-policy" && (val == "drop" || val == "update"))
      o.update = val == "update";
    else if (a == "--ts-unit" && (val == "s" || val == "ms"))
      o.ts_ms = val == "ms";
    else if (a == "--outlier-confirm") {
      auto v = parse_number_unit(val, {{"", 1}});
      if (!v || *v < 1) usage_error("bad --outlier-confirm: " + val);
      o.confirm = *v;
    } else if (a == "--partition-time-confirm") {
      auto v = parse_number_unit(val, {{"", 1}});
      if (!v || *v < 1) usage_error("bad --partition-time-confirm: " + val);
      o.ptime_confirm = *v;
    } else if (a == "--max-frame-bytes") {
      auto v = parse_number_unit(val, {{"", 1},
                                       {"B", 1},
                                       {"KiB", 1 << 10},
                                       {"MiB", 1 << 20},
                                       {"GiB", 1 << 30},
                                       {"KB", 1000},
                                       {"MB", 1000000},
                                       {"GB", 1000000000}});
      if (!v) usage_error("bad --max-frame-bytes: " + val);
      o.max_frame = static_cast<std::uint64_t>(*v);
    } else {
      usage_error("unknown option or bad value: " + a + " " + val);
    }
  }
  std::set<int> gs;
  for (size_t p = 0; p <= windows.size();) {
    size_t q = std::min(windows.find(',', p), windows.size());
    std::string name = windows.substr(p, q - p);
    auto it = std::find(std::begin(kGranNames), std::end(kGranNames), name);
    if (it == std::end(kGranNames)) usage_error("unknown window: " + name);
    gs.insert(static_cast<int>(it - std::begin(kGranNames)));
    p = q + 1;
  }
  o.grans.assign(gs.begin(), gs.end());
  return o;
}

// ------------------------------------------------------------ frame parse --
// Root-level facts collected by the SAX handler. Rules: SEMANTICS.md §1.
struct Field {
  int count = 0;  // how many times the key occurs at the root
  enum Kind { none, string, integer, floating, other } kind = none;
  std::string text;  // string value, or decimal text of an integer
  double f = 0;
};

struct RootSax {
  int depth = 0;
  Field uid, ts;
  Field* pending = nullptr;  // root key just seen is uid/ts: next value is its value

  bool value(Field::Kind k, std::string text = {}, double f = 0) {
    if (depth == 0) return false;  // root is not an object
    if (depth == 1 && pending && pending->kind == Field::none) {
      pending->kind = k;
      pending->text = std::move(text);
      pending->f = f;
    }
    pending = nullptr;
    return true;
  }
  bool open(bool is_object) {
    if (depth == 0 && !is_object) return false;
    if (depth > 0 && !value(Field::other)) return false;
    return ++depth <= 1024;  // the root object is depth 1
  }
  bool null() { return value(Field::other); }
  bool boolean(bool) { return value(Field::other); }
  bool number_integer(i64 v) { return value(Field::integer, std::to_string(v)); }  // -0 -> "0"
  bool number_unsigned(std::uint64_t v) { return value(Field::integer, std::to_string(v)); }
  bool number_float(double v, const std::string& raw) {
    // nlohmann hands an integer outside the 64-bit range over as a float.
    if (raw.find_first_of(".eE") == std::string::npos) return false;
    return value(Field::floating, {}, v);  // (overflow to inf: nlohmann fails itself)
  }
  bool string(std::string& s) { return value(Field::string, s); }
  bool binary(json::binary_t&) { return false; }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() {
    --depth;
    return true;
  }
  bool end_array() {
    --depth;
    return true;
  }
  bool key(std::string& k) {
    pending = nullptr;
    if (depth == 1 && (k == "uid" || k == "ts")) {
      pending = k == "uid" ? &uid : &ts;
      ++pending->count;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }
};

struct Parsed {
  std::string reason;  // empty: parsed
  std::string uid;
  i64 ts = 0;
};

constexpr i64 kMaxTs = 253402300799;  // 9999-12-31T23:59:59Z

Parsed parse_frame(const std::string& line, bool ts_ms) {
  RootSax h;
  // nlohmann silently skips a UTF-8 BOM; RFC 8259 text with a BOM is not "one
  // JSON document surrounded by whitespace", so it is malformed here.
  if (!line.empty() && line[0] == '\xEF') return {"malformed_json", {}, 0};
  // nlohmann's lexer takes a NUL byte for the end of the input and ignores
  // what follows. A raw NUL is never valid in JSON text (not whitespace, and
  // unescaped control characters are not allowed in strings): malformed.
  if (line.find('\0') != std::string::npos) return {"malformed_json", {}, 0};
  if (!json::sax_parse(line, &h, json::input_format_t::json, true, false)) return {"malformed_json", {}, 0};
  if (h.uid.count > 1 || h.ts.count > 1) return {"duplicate_key", {}, 0};
  if (h.uid.count == 0) return {"missing_uid", {}, 0};
  if (h.ts.count == 0) return {"missing_ts", {}, 0};
  if (h.uid.kind != Field::string && h.uid.kind != Field::integer) return {"bad_uid_type", {}, 0};
  i64 v = -1;                              // raw ts in the input unit; -1 = bad
  bool beyond = false;                     // well-formed but past INT64_MAX: beyond any wall clock
  auto from_digits = [&](std::string d) {  // d holds decimal digits only
    d.erase(0, std::min(d.find_first_not_of('0'), d.size() - 1));  // leading zeros
    if (d.size() > 19 || (d.size() == 19 && d > "9223372036854775807"))
      beyond = true;
    else
      v = std::stoll(d);
  };
  const std::string& t = h.ts.text;
  if (h.ts.kind == Field::integer) {
    if (t[0] != '-') from_digits(t);
  } else if (h.ts.kind == Field::string) {
    if (!t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) from_digits(t);
  } else if (h.ts.kind == Field::floating) {
    // Truncated toward zero (so -0.5 is 0, -1.0 is bad); from 2^63 on it cannot fit.
    if (h.ts.f >= 9223372036854775808.0)
      beyond = true;
    else if (h.ts.f > -1)
      v = static_cast<i64>(h.ts.f);
  }
  if (v >= 0 && ts_ms) v /= 1000;
  if (beyond || v > kMaxTs) return {"future", {}, 0};  // past 9999-12-31: beyond any clock
  if (v < 0) return {"bad_ts", {}, 0};
  return {"", h.uid.text, v};
}

// ---------------------------------------------------------------- windows --
using namespace std::chrono;

std::pair<i64, i64> window_of(int g, i64 ts) {
  static const i64 fixed[] = {60, 3600, 86400};
  if (g < 3) {
    i64 s = ts / fixed[g] * fixed[g];  // ts >= 0
    return {s, s + fixed[g]};
  }
  sys_days d = floor<days>(sys_seconds{seconds{ts}});
  year_month_day ymd{d};
  sys_days s, e;
  if (g == 3) {  // ISO week: Monday 00:00
    s = d - days{weekday{d}.iso_encoding() - 1};
    e = s + days{7};
  } else if (g == 4) {
    year_month ym = ymd.year() / ymd.month();
    s = sys_days{ym / 1};
    e = sys_days{(ym + months{1}) / 1};
  } else {
    s = sys_days{ymd.year() / January / 1};
    e = sys_days{(ymd.year() + years{1}) / January / 1};
  }
  return {sys_seconds{s}.time_since_epoch().count(), sys_seconds{e}.time_since_epoch().count()};
}

std::string iso(i64 t) {
  sys_seconds tp{seconds{t}};
  sys_days d = floor<days>(tp);
  year_month_day ymd{d};
  i64 sod = (tp - d).count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(ymd.year()), unsigned(ymd.month()),
                unsigned(ymd.day()), int(sod / 3600), int(sod / 60 % 60), int(sod % 60));
  return buf;
}

// ------------------------------------------------------------------ state --
struct Frame {
  i64 line, ts;
  std::string uid;
};

struct Window {
  std::set<std::string> uids;
  i64 frames = 0;
  bool final = false;           // emitted as final (or counted only after being final)
  int revision = -1;            // last final revision emitted; -1 = never
  std::size_t early_users = 0;  // counts of the last early result (0, 0 before one)
  i64 early_frames = 0;
};

struct Cluster {
  i64 anchor;
  std::vector<Frame> members;  // arrival order
  i64 against = 0;
};

class Oracle {
 public:
  Oracle(Options o, std::ostream* rejects) : o_(std::move(o)), rejects_out_(rejects) {}

  void reject(i64 line, const std::string& reason) {
    ++reject_counts_[reason];
    if (rejects_out_) *rejects_out_ << "{\"reason\":\"" << reason << "\",\"line\":" << line << "}\n";
  }

  // One parsed, non-future frame: §3.
  void on_frame(Frame f) {
    bool normal = ptime_ && std::abs(f.ts - *ptime_) * 1000 <= o_.threshold;
    Cluster* join = nullptr;
    if (!normal)
      for (auto& c : clusters_)
        if (std::abs(f.ts - c.anchor) * 1000 <= o_.threshold) {
          join = &c;
          break;
        }
    for (auto& c : clusters_)
      if (&c != join) ++c.against;
    if (normal) {
      accept(f);
    } else if (join) {
      join->members.push_back(std::move(f));
    } else {
      if (clusters_.size() == 4) reject_cluster(0);
      clusters_.push_back(Cluster{f.ts, {std::move(f)}, 0});
    }
    for (size_t i = 0; i < clusters_.size(); ++i)
      if (i64(clusters_[i].members.size()) >= o_.confirm) {
        confirm(i);
        break;
      }
    for (size_t i = 0; i < clusters_.size();)
      if (clusters_[i].against >= o_.confirm)
        reject_cluster(i);
      else
        ++i;
  }

  // End of input: §3 last rule, then §4 last-but-one rule.
  void finish() {
    if (!ptime_ && !clusters_.empty()) {
      size_t best = 0;
      for (size_t i = 1; i < clusters_.size(); ++i)
        if (clusters_[i].members.size() > clusters_[best].members.size()) best = i;
      confirm(best);
    }
    std::vector<Frame> rest;
    for (auto& c : clusters_) rest.insert(rest.end(), c.members.begin(), c.members.end());
    clusters_.clear();
    std::sort(rest.begin(), rest.end(), [](auto& a, auto& b) { return a.line < b.line; });
    for (auto& f : rest) reject(f.line, "outlier");
    for (auto& [k, w] : windows_)
      if (!w.final) emit(k, w, 0);
  }

  const std::map<std::string, i64>& reject_counts() const { return reject_counts_; }

 private:
  using Key = std::tuple<i64, int, i64>;  // (end, granularity, start): emission order

  void reject_cluster(size_t i) {
    for (auto& f : clusters_[i].members) reject(f.line, "outlier");
    clusters_.erase(clusters_.begin() + i);
  }

  void confirm(size_t i) {
    Cluster c = std::move(clusters_[i]);
    clusters_.erase(clusters_.begin() + i);
    for (auto& f : c.members) accept(f);
    // Members of other clusters now within T of ptime: snapshot, then accept.
    std::vector<Frame> near;
    for (auto& o : clusters_) {
      auto far = std::stable_partition(o.members.begin(), o.members.end(),
                                       [&](const Frame& f) { return std::abs(f.ts - *ptime_) * 1000 > o_.threshold; });
      near.insert(near.end(), far, o.members.end());
      o.members.erase(far, o.members.end());
    }
    std::erase_if(clusters_, [](const Cluster& o) { return o.members.empty(); });
    std::sort(near.begin(), near.end(), [](auto& a, auto& b) { return a.line < b.line; });
    for (auto& f : near) accept(f);
  }

  // An accepted frame: §4. Counted against W as it was before the frame.
  void accept(const Frame& f) {
    bool counted = false;
    std::vector<Key> revised;
    for (int g : o_.grans) {
      auto [s, e] = window_of(g, f.ts);
      Key k{e, g, s};
      if (e * 1000 > wm_) {
        Window& w = windows_[k];
        w.uids.insert(f.uid);
        ++w.frames;
        counted = true;
      } else if (o_.update && e * 1000 + o_.retention > wm_) {
        Window& w = windows_[k];  // created if it was never counted
        w.final = true;
        ++w.frames;
        counted = true;
        if (w.uids.insert(f.uid).second) revised.push_back(k);
      }
    }
    if (!counted) reject(f.line, "late");
    std::sort(revised.begin(), revised.end());
    for (auto& k : revised) {
      Window& w = windows_[k];
      emit(k, w, w.revision + 1);
    }
    // Advance ptime and the watermark, then emit what became final.
    // ptime: the largest of every min over N consecutive accepted ts (min so
    // far before N) and every accepted ts at most the step ahead of ptime when
    // it came (the first one too). N = 1: the largest accepted ts.
    recent_.push_back(f.ts);
    if (recent_.size() > static_cast<std::size_t>(o_.ptime_confirm)) recent_.pop_front();
    const std::optional<i64> before = ptime_;
    const i64 low = *std::min_element(recent_.begin(), recent_.end());
    if (!ptime_ || low > *ptime_) ptime_ = low;
    if (!before || (f.ts - *before) * 1000 <= o_.ptime_step) ptime_ = std::max(*ptime_, f.ts);
    const i64 old_wm = wm_;
    wm_ = std::max(wm_, *ptime_ * 1000 - o_.lateness);
    for (auto it = windows_.begin(); it != windows_.end() && std::get<0>(it->first) * 1000 <= wm_;) {
      Window& w = it->second;
      if (!w.final) emit(it->first, w, 0);
      bool expired = !o_.update || std::get<0>(it->first) * 1000 + o_.retention <= wm_;
      it = expired ? windows_.erase(it) : std::next(it);
    }
    // Early results: W crossed a minute boundary (the first W crosses none).
    if (o_.early && old_wm != INT64_MIN && floor_div(old_wm, 60000) < floor_div(wm_, 60000)) emit_early();
  }

  static i64 floor_div(i64 a, i64 b) { return a / b - (a % b != 0 && a < 0); }

  // Open windows longer than a minute whose counts changed since their last
  // early result, by granularity then start.
  void emit_early() {
    std::vector<std::pair<std::pair<int, i64>, Key>> due;
    for (auto& [k, w] : windows_) {
      auto [e, g, s] = k;
      if (w.final || g == 0) continue;
      if (w.uids.size() == w.early_users && w.frames == w.early_frames) continue;
      due.push_back({{g, s}, k});
    }
    std::sort(due.begin(), due.end());
    for (auto& [order, k] : due) {
      Window& w = windows_[k];
      w.early_users = w.uids.size();
      w.early_frames = w.frames;
      print(k, w, false, 0);
    }
  }

  void emit(const Key& k, Window& w, int revision) {
    w.final = true;
    w.revision = revision;
    print(k, w, true, revision);
  }

  void print(const Key& k, const Window& w, bool final, int revision) {
    auto [e, g, s] = k;
    std::cout << "{\"window\":\"" << kGranNames[g] << "\",\"start\":\"" << iso(s) << "\",\"end\":\"" << iso(e)
              << "\",\"start_ts\":" << s << ",\"end_ts\":" << e << ",\"unique_users\":" << w.uids.size()
              << ",\"frames\":" << w.frames << ",\"final\":" << (final ? "true" : "false")
              << ",\"revision\":" << revision << "}\n";
  }

  Options o_;
  std::ostream* rejects_out_;
  std::optional<i64> ptime_;
  std::deque<i64> recent_;         // the last N accepted ts
  i64 wm_ = INT64_MIN;             // watermark in ms; nothing is final before the first accept
  std::vector<Cluster> clusters_;  // pending, oldest first
  std::map<Key, Window> windows_;  // open windows, and final ones kept for updates
  std::map<std::string, i64> reject_counts_;
};

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  Options o = parse_args(argc, argv);
  std::ifstream file;
  std::istream* in = &std::cin;
  if (o.input != "-") {
    file.open(o.input, std::ios::binary);
    if (!file) usage_error("cannot open " + o.input);
    in = &file;
  }
  std::ofstream rejects;
  if (!o.rejects.empty()) {
    rejects.open(o.rejects, std::ios::binary | std::ios::trunc);
    if (!rejects) usage_error("cannot open " + o.rejects);
  }
  Oracle oracle(o, o.rejects.empty() ? nullptr : &rejects);
  const i64 now_ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();

  std::string line;
  i64 lineno = 0, blank = 0;
  while (std::getline(*in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // also on a last line without \n
    if (line.size() > o.max_frame) {                            // before the blank check: size is known first
      oracle.reject(lineno, "too_large");
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) {  // JSON whitespace; no \n in a line
      ++blank;
      continue;
    }
    Parsed p = parse_frame(line, o.ts_ms);
    if (!p.reason.empty())
      oracle.reject(lineno, p.reason);
    else if (p.ts * 1000 > now_ms + o.skew)
      oracle.reject(lineno, "future");
    else
      oracle.on_frame(Frame{lineno, p.ts, std::move(p.uid)});
  }
  oracle.finish();
  std::cout.flush();
  if (rejects.is_open()) rejects.flush();
  std::cerr << "rejects:";
  for (auto& [reason, n] : oracle.reject_counts()) std::cerr << " " << reason << "=" << n;
  std::cerr << " (lines=" << lineno << " blank=" << blank << ")\n";
  return std::cout ? 0 : 1;
}
