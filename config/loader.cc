#include "config/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "config/secrets.h"
#include "config/units.h"

namespace uniqd::config {
namespace {

template <class E>
struct Named {
  std::string_view name;
  E value;
};

constexpr Named<InputKind> kInputKinds[] = {
    {"stdin", InputKind::stdin_}, {"file", InputKind::file}, {"kafka", InputKind::kafka}};
constexpr Named<LatePolicy> kLatePolicies[] = {{"drop", LatePolicy::drop}, {"update", LatePolicy::update}};
constexpr Named<TsUnit> kTsUnits[] = {{"s", TsUnit::s}, {"ms", TsUnit::ms}};
constexpr Named<InputPartitioning> kInputPartitionings[] = {
    {"none", InputPartitioning::none},
    {"uid", InputPartitioning::uid},
};
constexpr Named<Guarantee> kGuarantees[] = {{"exactly_once", Guarantee::exactly_once},
                                            {"at_least_once", Guarantee::at_least_once}};
constexpr Named<LogFormat> kLogFormats[] = {{"text", LogFormat::text}, {"json", LogFormat::json}};
// spdlog's level names.
constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
constexpr std::string_view kWindowNames[] = {"minute", "hour", "day", "week", "month", "year"};

// Mirrors processor::make_engine_options, so that a file is rejected with
// its line before anything starts rather than without one after.
constexpr std::uint64_t kMinFrameBytes = 2;
constexpr std::uint64_t kMaxFrameBytes = 1ull << 30;
// Kafka's limit on topic names; application_id prefixes topic names.
constexpr std::size_t kMaxTopicName = 249;

template <class E, std::size_t N>
std::string_view name_of(E value, const Named<E> (&names)[N]) {
  for (const auto& n : names) {
    if (n.value == value) return n.name;
  }
  return "?";
}

template <class Range>
std::string join(const Range& names, std::string_view sep = ", ") {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += sep;
    out += n;
  }
  return out;
}

// Optimal string alignment distance: a swapped pair of letters, the most
// common typo in a key, counts as one edit.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// The closest candidate within two edits, if any. A distance as large as the
// word itself means nothing in common, however short the word. Failing that,
// a candidate the word extends or abbreviates ("warning" for "warn").
template <class Range>
std::optional<std::string> closest(std::string_view word, const Range& candidates) {
  std::optional<std::string> best;
  std::size_t best_d = 3;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_d && d < word.size()) {
      best_d = d;
      best = std::string(c);
    }
  }
  if (best) return best;
  for (const auto& c : candidates) {
    const std::string_view cv(c);
    const std::string_view shorter = cv.size() < word.size() ? cv : word;
    const std::string_view longer = cv.size() < word.size() ? word : cv;
    if (shorter.size() >= 3 && longer.substr(0, shorter.size()) == shorter) return std::string(c);
  }
  return std::nullopt;
}

// User text inside a one-line message: escaped and cut short.
std::string in_quotes(std::string_view text) {
  constexpr std::size_t kMax = 60;
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < kMax; ++i) {
    const char ch = text[i];
    if (ch == '\n')
      out += "\\n";
    else if (ch == '\r')
      out += "\\r";
    else if (ch == '\t')
      out += "\\t";
    else
      out += ch;
  }
  if (text.size() > kMax) out += "...";
  return out + "'";
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return in_quotes(n.Scalar());
    default:
      return "nothing";
  }
}

// Every key path of the schema. Derived from to_yaml, which must write every
// key anyway, so the suggestions cannot drift from the loader.
const std::vector<std::string>& all_key_paths() {
  static const std::vector<std::string> paths = [] {
    std::vector<std::string> out;
    std::function<void(const YAML::Node&, const std::string&)> walk = [&](const YAML::Node& map,
                                                                          const std::string& prefix) {
      for (const auto& kv : map) {
        const std::string path = prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar();
        out.push_back(path);
        if (kv.second.IsMap()) walk(kv.second, path);
      }
    };
    walk(YAML::Load(to_yaml(Config{})), "");
    return out;
  }();
  return paths;
}

// A value in the file, with the path and place to report it under.
struct Field {
  std::string path;
  YAML::Node value;
  // Where the key is. An empty value's own mark points past the line that
  // holds it, so errors about it are reported at the key.
  YAML::Mark key_mark;

  YAML::Mark mark() const {
    if (!value.IsDefined() || value.IsNull() || value.Mark().is_null()) return key_mark;
    return value.Mark();
  }
};

std::string child_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

class Reader {
 public:
  Reader(std::string name, const Config& base) : name_(std::move(name)), c_(base) {}

  Config read(const YAML::Node& root) {
    if (root.IsDefined() && !root.IsNull() && !root.IsMap()) {
      fail(root.Mark(), "", "expected a map of settings (key: value) at the top of the file, got " + describe(root));
    }
    read_root(Field{"", root, root.Mark()});
    check_consistency();
    return std::move(c_);
  }

  [[noreturn]] void fail(const YAML::Mark& at, const std::string& path, const std::string& what) const {
    std::string msg = name_;
    if (!at.is_null()) msg += ":" + std::to_string(at.line + 1) + ":" + std::to_string(at.column + 1);
    msg += ": ";
    if (!path.empty()) msg += path + ": ";
    msg += what;
    throw ConfigFileError(msg);
  }
  [[noreturn]] void fail(const Field& f, const std::string& what) const { fail(f.mark(), f.path, what); }

 private:
  using Apply = std::function<void(const Field&)>;
  struct Entry {
    std::string_view name;
    Apply apply;
  };

  // Calls fn(name, field) for each pair of the map in f, in file order, after
  // checking that keys are plain names and none is repeated (yaml-cpp keeps
  // both copies of a repeated key, and the last would silently win).
  void for_each_pair(const Field& f, const std::function<void(const std::string&, const Field&)>& fn) const {
    std::vector<std::pair<std::string, YAML::Mark>> seen;
    for (const auto& kv : f.value) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar() || key.Scalar().empty()) {
        fail(key.Mark(), f.path, "keys must be names, got " + describe(key));
      }
      const std::string& name = key.Scalar();
      const std::string path = child_path(f.path, name);
      for (const auto& [prev, mark] : seen) {
        if (prev == name) {
          fail(
              key.Mark(), path,
              "duplicate key (first at " + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ")");
        }
      }
      seen.emplace_back(name, key.Mark());
      fn(name, Field{path, kv.second, key.Mark()});
    }
  }

  // A section of the schema. Absent or empty leaves every key as it was.
  void read_map(const Field& f, std::initializer_list<Entry> entries) const {
    if (f.value.IsNull()) return;
    std::vector<std::string_view> names;
    for (const Entry& e : entries) names.push_back(e.name);
    if (!f.value.IsMap()) fail(f, "expected a map of settings (" + join(names) + "), got " + describe(f.value));
    for_each_pair(f, [&](const std::string& name, const Field& child) {
      for (const Entry& e : entries) {
        if (e.name == name) {
          e.apply(child);
          return;
        }
      }
      fail(child.key_mark, child.path, "unknown key" + unknown_key_hint(f.path, name, names));
    });
  }

  static std::string unknown_key_hint(const std::string& prefix, const std::string& name,
                                      const std::vector<std::string_view>& siblings) {
    if (auto s = closest(name, siblings)) return "; did you mean '" + *s + "'?";
    // Right name, wrong section (say, brokers at the top instead of under kafka).
    for (const std::string& path : all_key_paths()) {
      const auto dot = path.rfind('.');
      const std::string parent = dot == std::string::npos ? "" : path.substr(0, dot);
      const std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
      if (parent != prefix && leaf == name) return "; did you mean '" + path + "'?";
    }
    // config.h nests these under EngineOptions; the file does not.
    if (prefix.empty() && name == "engine") {
      return "; the engine settings (windows, lateness, late_policy, retention, ...) are top-level keys";
    }
    if (siblings.size() <= 8) return " (known here: " + join(siblings) + ")";
    return "";
  }

  // The scalar text of f, which must be a scalar. what names the expected kind.
  std::string scalar(const Field& f, const std::string& what) const {
    if (f.value.IsNull()) fail(f, "has no value; expected " + what);
    if (!f.value.IsScalar()) fail(f, "expected " + what + ", got " + describe(f.value));
    return resolved(f).value;
  }

  // The scalar with its ${env:NAME} and ${file:/path} references replaced.
  // Errors name the key and the variable or file, never a value.
  Resolved resolved(const Field& f) const {
    Resolved r;
    if (auto err = resolve_references(f.value.Scalar(), r)) fail(f, *err);
    return r;
  }

  // An empty value is an empty string, so "rejects_path:" disables rejects.
  std::string string_value(const Field& f) const {
    if (f.value.IsNull()) return "";
    return scalar(f, "a string");
  }

  // Text that becomes (part of) a Kafka topic name.
  std::string topic_value(const Field& f) const {
    std::string s = string_value(f);
    if (s.empty()) fail(f, "must not be empty");
    if (s.size() > kMaxTopicName) fail(f, "is longer than Kafka's " + std::to_string(kMaxTopicName) + " characters");
    for (const char ch : s) {
      const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                      ch == '_' || ch == '-';
      if (!ok) fail(f, in_quotes(s) + " may only contain letters, digits, '.', '_' and '-' (it names Kafka topics)");
    }
    return s;
  }

  int int_value(const Field& f, int min, int max = std::numeric_limits<int>::max()) const {
    const std::string s = scalar(f, "an integer");
    long long v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ptr != s.data() + s.size() || s.empty() || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      fail(f, in_quotes(s) + " is not an integer");
    }
    if (ec == std::errc::result_out_of_range || v > std::numeric_limits<int>::max() ||
        v < std::numeric_limits<int>::min()) {
      fail(f, in_quotes(s) + " is out of range");
    }
    if (max == std::numeric_limits<int>::max()) {
      if (v < min) fail(f, "must be at least " + std::to_string(min) + ", got " + s);
    } else if (v < min || v > max) {
      fail(f, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
    }
    return static_cast<int>(v);
  }

  bool bool_value(const Field& f) const {
    const std::string s = scalar(f, "true or false");
    // YAML 1.1 spellings, which yaml-cpp and most YAML tools accept.
    for (const std::string_view t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}) {
      if (s == t) return true;
    }
    for (const std::string_view t : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}) {
      if (s == t) return false;
    }
    fail(f, in_quotes(s) + " is not a boolean (true or false)");
  }

  Millis duration_value(const Field& f) const {
    const std::string s = scalar(f, "a duration (examples: 250ms, 5s, 10m, 1h, 7d)");
    auto d = parse_duration(s);
    if (!d) fail(f, in_quotes(s) + " is not a duration (examples: 250ms, 5s, 10m, 1h, 7d)");
    return *d;
  }

  std::uint64_t size_value(const Field& f) const {
    const std::string s = scalar(f, "a size (examples: 512, 64KiB, 1MiB)");
    auto v = parse_size(s);
    if (!v) fail(f, in_quotes(s) + " is not a size (examples: 512, 64KiB, 1MiB, 1GiB)");
    return *v;
  }

  template <class Range>
  std::string one_of(const Field& f, const Range& names) const {
    const std::string s = scalar(f, "one of " + join(names));
    for (const auto& n : names) {
      if (n == s) return s;
    }
    std::string msg = in_quotes(s) + " is not one of " + join(names);
    if (auto c = closest(s, names)) msg += "; did you mean '" + *c + "'?";
    fail(f, msg);
  }

  template <class E, std::size_t N>
  E enum_value(const Field& f, const Named<E> (&table)[N]) const {
    std::vector<std::string_view> names;
    for (const auto& n : table) names.push_back(n.name);
    const std::string s = one_of(f, names);
    for (const auto& n : table) {
      if (n.name == s) return n.value;
    }
    return table[0].value;  // unreachable: one_of accepted s
  }

  std::vector<std::string> windows_value(const Field& f) const {
    const std::string empty = "the list is empty; name at least one of " + join(kWindowNames);
    if (f.value.IsNull()) fail(f, empty);
    if (!f.value.IsSequence()) fail(f, "expected a list such as [minute, hour], got " + describe(f.value));
    if (f.value.size() == 0) fail(f, empty);
    std::vector<std::string> out;
    std::vector<YAML::Mark> marks;
    for (std::size_t i = 0; i < f.value.size(); ++i) {
      const Field item{f.path + "[" + std::to_string(i) + "]", f.value[i], f.mark()};
      const std::string name = one_of(item, kWindowNames);
      const auto prev = std::find(out.begin(), out.end(), name);
      if (prev != out.end()) {
        const YAML::Mark& m = marks[static_cast<std::size_t>(prev - out.begin())];
        fail(item, in_quotes(name) + " is listed twice (first at " + std::to_string(m.line + 1) + ":" +
                       std::to_string(m.column + 1) + ")");
      }
      out.push_back(name);
      marks.push_back(item.mark());
    }
    return out;
  }

  // librdkafka properties: any name, a scalar value kept as written, so that
  // "enable.idempotence: true" and "linger.ms: 5" need no quotes.
  std::map<std::string, std::string> properties_value(const Field& f) {
    std::map<std::string, std::string> out;
    // The map is replaced as a whole, and so are the references into it.
    const auto in_map = [&](const auto& kv) { return kv.first.starts_with(f.path + "."); };
    std::erase_if(c_.secret_references, in_map);
    std::erase_if(c_.property_origins, in_map);
    if (f.value.IsNull()) return out;
    if (!f.value.IsMap()) fail(f, "expected a map of librdkafka properties (name: value), got " + describe(f.value));
    for_each_pair(f, [&](const std::string& name, const Field& p) {
      if (p.value.IsNull()) fail(p, "has no value; a librdkafka property needs one");
      if (!p.value.IsScalar()) {
        fail(p, "a librdkafka property value must be a string, number or boolean, got " + describe(p.value));
      }
      const Resolved r = resolved(p);
      out[name] = r.value;
      c_.property_origins[p.path] =
          name_ + ":" + std::to_string(p.key_mark.line + 1) + ":" + std::to_string(p.key_mark.column + 1);
      if (r.had_reference && is_secret_property(name)) c_.secret_references[p.path] = p.value.Scalar();
    });
    return out;
  }

  void read_root(const Field& root) {
    Config& c = c_;
    EngineOptions& e = c.engine;
    KafkaOptions& k = c.kafka;
    read_map(
        root,
        {
            {"application_id", [&](const Field& f) { c.application_id = topic_value(f); }},
            {"input",
             [&](const Field& f) {
               read_map(f, {
                               {"kind",
                                [&](const Field& g) {
                                  c.input = enum_value(g, kInputKinds);
                                  input_kind_at_ = g.mark();
                                }},
                               {"path",
                                [&](const Field& g) {
                                  c.input_path = string_value(g);
                                  input_path_at_ = g.mark();
                                }},
                           });
             }},
            {"rejects_path", [&](const Field& f) { c.rejects_path = string_value(f); }},
            {"windows", [&](const Field& f) { e.windows = windows_value(f); }},
            {"lateness",
             [&](const Field& f) {
               e.lateness = duration_value(f);
               lateness_at_ = f.mark();
             }},
            {"late_policy",
             [&](const Field& f) {
               e.late_policy = enum_value(f, kLatePolicies);
               late_policy_at_ = f.mark();
             }},
            {"retention",
             [&](const Field& f) {
               e.retention = duration_value(f);
               retention_at_ = f.mark();
             }},
            {"outlier_threshold",
             [&](const Field& f) {
               e.outlier_threshold = duration_value(f);
               if (e.outlier_threshold < Millis(1000)) fail(f, "must be at least 1s");
             }},
            {"outlier_confirm", [&](const Field& f) { e.outlier_confirm = int_value(f, kMinConfirm, kMaxConfirm); }},
            {"partition_time_confirm",
             [&](const Field& f) { e.partition_time_confirm = int_value(f, kMinConfirm, kMaxConfirm); }},
            {"partition_time_step", [&](const Field& f) { e.partition_time_step = duration_value(f); }},
            {"max_future_skew", [&](const Field& f) { e.max_future_skew = duration_value(f); }},
            {"early_results", [&](const Field& f) { e.early_results = bool_value(f); }},
            {"ts_unit", [&](const Field& f) { e.ts_unit = enum_value(f, kTsUnits); }},
            {"max_frame_bytes",
             [&](const Field& f) {
               e.max_frame_bytes = size_value(f);
               if (e.max_frame_bytes < kMinFrameBytes || e.max_frame_bytes > kMaxFrameBytes) {
                 fail(f, "must be between 2 and 1GiB");
               }
             }},
            {"idle_timeout", [&](const Field& f) { e.idle_timeout = duration_value(f); }},
            {"kafka",
             [&](const Field& f) {
               read_map(f, {
                               {"brokers",
                                [&](const Field& g) {
                                  k.brokers = string_value(g);
                                  if (k.brokers.empty()) fail(g, "must not be empty");
                                }},
                               {"topics",
                                [&](const Field& g) {
                                  read_map(g, {
                                                  {"input", [&](const Field& h) { k.input_topic = topic_value(h); }},
                                                  {"output", [&](const Field& h) { k.output_topic = topic_value(h); }},
                                                  {"dead_letter",
                                                   [&](const Field& h) { k.dead_letter_topic = topic_value(h); }},
                                              });
                                }},
                               {"create_partitions", [&](const Field& g) { k.create_partitions = int_value(g, 1); }},
                               {"replication_factor", [&](const Field& g) { k.replication_factor = int_value(g, 1); }},
                               // Replaced, not merged: the file states the whole set.
                               {"client", [&](const Field& g) { k.client = properties_value(g); }},
                               {"consumer", [&](const Field& g) { k.consumer = properties_value(g); }},
                               {"producer", [&](const Field& g) { k.producer = properties_value(g); }},
                           });
             }},
            {"state_dir", [&](const Field& f) { c.state_dir = string_value(f); }},
            {"state_store",
             [&](const Field& f) {
               read_map(f, {
                               {"shards",
                                [&](const Field& g) {
                                  c.state_store.shards = int_value(g, 1);
                                  if (c.state_store.shards > 1024) fail(g, "must be at most 1024");
                                }},
                               {"block_cache", [&](const Field& g) { c.state_store.block_cache = size_value(g); }},
                               {"write_buffer", [&](const Field& g) { c.state_store.write_buffer = size_value(g); }},
                           });
             }},
            {"processing_guarantee", [&](const Field& f) { c.guarantee = enum_value(f, kGuarantees); }},
            {"replica_id",
             [&](const Field& f) { c.replica_id = string_value(f).empty() ? std::string() : topic_value(f); }},
            {"input_partitioned_by",
             [&](const Field& f) { c.input_partitioned_by = enum_value(f, kInputPartitionings); }},
            {"commit_interval", [&](const Field& f) { c.commit_interval = duration_value(f); }},
            {"metrics_address",
             [&](const Field& f) {
               c.metrics_address = string_value(f);
               if (!c.metrics_address.empty() && !parse_host_port(c.metrics_address)) {
                 fail(f, in_quotes(c.metrics_address) + " " + std::string(kHostPortForm));
               }
             }},
            {"log",
             [&](const Field& f) {
               read_map(f, {
                               {"level", [&](const Field& g) { c.log_level = one_of(g, kLogLevels); }},
                               {"format", [&](const Field& g) { c.log_format = enum_value(g, kLogFormats); }},
                           });
             }},
            {"until_end", [&](const Field& f) { c.until_end = bool_value(f); }},
            {"parse_threads",
             [&](const Field& f) { c.parse_threads = int_value(f, kMinParseThreads, kMaxParseThreads); }},
            {"progress", [&](const Field& f) { c.progress = bool_value(f); }},
        });
  }

  // Rules between keys, checked once all keys are read so the order in the
  // file does not matter. Reported at the key the user is most likely to
  // change.
  void check_consistency() {
    check_input();
    const EngineOptions& e = c_.engine;
    if (e.late_policy == LatePolicy::update && e.retention < e.lateness) {
      const YAML::Mark at = retention_at_     ? *retention_at_
                            : lateness_at_    ? *lateness_at_
                            : late_policy_at_ ? *late_policy_at_
                                              : YAML::Mark();
      fail(at, "retention",
           format_duration(e.retention) + " is shorter than lateness " + format_duration(e.lateness) +
               "; with late_policy update, final windows must be kept at least as long as late frames can arrive");
    }
  }

  // A path alone means a file, the one thing a path is for. A path with
  // another kind, or kind file without a path, would leave one of the two
  // keys silently unused (or fail only once the input is opened).
  void check_input() {
    if (input_path_at_ && !input_kind_at_ && !c_.input_path.empty()) c_.input = InputKind::file;
    if (c_.input != InputKind::file && !c_.input_path.empty()) {
      const std::string kind(name_of(c_.input, kInputKinds));
      fail(input_path_at_   ? *input_path_at_
           : input_kind_at_ ? *input_kind_at_
                            : YAML::Mark(),
           "input.path",
           in_quotes(c_.input_path) + " is set but input.kind is " + kind +
               "; a path is read only with kind file (leave kind out, or the path)");
    }
    if (c_.input == InputKind::file && c_.input_path.empty()) {
      fail(input_path_at_   ? *input_path_at_
           : input_kind_at_ ? *input_kind_at_
                            : YAML::Mark(),
           "input.path", "is empty; input.kind file needs the path of the file to read");
    }
  }

  std::string name_;
  Config c_;
  std::optional<YAML::Mark> lateness_at_, late_policy_at_, retention_at_, input_kind_at_, input_path_at_;
};

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw ConfigFileError(path + ": cannot read: is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigFileError(path + ": cannot read: " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ConfigFileError(path + ": cannot read: " + std::strerror(errno));
  return text;
}

// A value as the loader must read it back: resolve_references turns "$${"
// into "${", and leaves every other '$' alone.
std::string literal(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '$' && i + 1 < value.size() && value[i + 1] == '{') out += '$';
    out += value[i];
  }
  return out;
}

void emit_duration(YAML::Emitter& out, const char* key, Millis d) {
  out << YAML::Key << key << YAML::Value << format_duration(d);
}

// Secret values never: their ${env:...}/${file:...} reference when they came
// from one (which reads back to the same value), else kRedacted.
void emit_properties(YAML::Emitter& out, const Config& c, const char* key,
                     const std::map<std::string, std::string>& props) {
  out << YAML::Key << key << YAML::Value;
  if (props.empty()) {
    out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
    return;
  }
  out << YAML::BeginMap;
  for (const auto& [name, value] : props) {
    out << YAML::Key << name << YAML::Value;
    if (!is_secret_property(name)) {
      out << literal(value);
      continue;
    }
    const auto ref = c.secret_references.find(std::string("kafka.") + key + "." + name);
    out << (ref != c.secret_references.end() ? ref->second : std::string(kRedacted));
  }
  out << YAML::EndMap;
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string_view port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5) return std::nullopt;
  int value = 0;
  for (const char ch : port) {
    if (ch < '0' || ch > '9') return std::nullopt;
    value = value * 10 + (ch - '0');
  }
  if (value > 65535) return std::nullopt;
  return HostPort{std::string(text.substr(0, colon)), value};
}

void load_config_string(const std::string& yaml, const std::string& name_for_errors, Config& c) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(yaml);
  } catch (const YAML::Exception& e) {
    std::string msg = name_for_errors;
    if (!e.mark.is_null()) msg += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    throw ConfigFileError(msg + ": not valid YAML: " + e.msg);
  }
  Reader reader(name_for_errors, c);
  // A stray "---" starting a second document would otherwise be ignored with
  // everything after it.
  for (std::size_t i = 1; i < docs.size(); ++i) {
    if (!docs[i].IsNull()) {
      reader.fail(docs[i].Mark(), "", "a second YAML document; the settings must be in one document");
    }
  }
  Config result = reader.read(docs.empty() ? YAML::Node() : docs.front());
  c = std::move(result);
}

void load_config_file(const std::string& path, Config& c) {
  load_config_string(read_file(path), path, c);
}

// yaml-cpp quotes what would not read back as the same string (empty, "null",
// "~", leading spaces), so string values round-trip without help.
std::string to_yaml(const Config& c) {
  const EngineOptions& e = c.engine;
  const KafkaOptions& k = c.kafka;
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "application_id" << YAML::Value << literal(c.application_id);
  out << YAML::Key << "input" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "kind" << YAML::Value << std::string(name_of(c.input, kInputKinds));
  out << YAML::Key << "path" << YAML::Value << literal(c.input_path);
  out << YAML::EndMap;
  out << YAML::Key << "rejects_path" << YAML::Value << literal(c.rejects_path);

  out << YAML::Key << "windows" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (const std::string& w : e.windows) out << w;
  out << YAML::EndSeq;
  emit_duration(out, "lateness", e.lateness);
  out << YAML::Key << "late_policy" << YAML::Value << std::string(name_of(e.late_policy, kLatePolicies));
  emit_duration(out, "retention", e.retention);
  emit_duration(out, "outlier_threshold", e.outlier_threshold);
  out << YAML::Key << "outlier_confirm" << YAML::Value << e.outlier_confirm;
  out << YAML::Key << "partition_time_confirm" << YAML::Value << e.partition_time_confirm;
  emit_duration(out, "partition_time_step", e.partition_time_step);
  emit_duration(out, "max_future_skew", e.max_future_skew);
  out << YAML::Key << "early_results" << YAML::Value << e.early_results;
  out << YAML::Key << "ts_unit" << YAML::Value << std::string(name_of(e.ts_unit, kTsUnits));
  out << YAML::Key << "max_frame_bytes" << YAML::Value << format_size(e.max_frame_bytes);
  emit_duration(out, "idle_timeout", e.idle_timeout);

  out << YAML::Key << "kafka" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "brokers" << YAML::Value << literal(k.brokers);
  out << YAML::Key << "topics" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "input" << YAML::Value << literal(k.input_topic);
  out << YAML::Key << "output" << YAML::Value << literal(k.output_topic);
  out << YAML::Key << "dead_letter" << YAML::Value << literal(k.dead_letter_topic);
  out << YAML::EndMap;
  out << YAML::Key << "create_partitions" << YAML::Value << k.create_partitions;
  out << YAML::Key << "replication_factor" << YAML::Value << k.replication_factor;
  emit_properties(out, c, "client", k.client);
  emit_properties(out, c, "consumer", k.consumer);
  emit_properties(out, c, "producer", k.producer);
  out << YAML::EndMap;

  out << YAML::Key << "state_dir" << YAML::Value << literal(c.state_dir);
  out << YAML::Key << "state_store" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "shards" << YAML::Value << c.state_store.shards;
  out << YAML::Key << "block_cache" << YAML::Value << format_size(c.state_store.block_cache);
  out << YAML::Key << "write_buffer" << YAML::Value << format_size(c.state_store.write_buffer);
  out << YAML::EndMap;
  out << YAML::Key << "processing_guarantee" << YAML::Value << std::string(name_of(c.guarantee, kGuarantees));
  out << YAML::Key << "replica_id" << YAML::Value << literal(c.replica_id);
  out << YAML::Key << "input_partitioned_by" << YAML::Value
      << std::string(name_of(c.input_partitioned_by, kInputPartitionings));
  emit_duration(out, "commit_interval", c.commit_interval);
  out << YAML::Key << "metrics_address" << YAML::Value << literal(c.metrics_address);
  out << YAML::Key << "log" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "level" << YAML::Value << literal(c.log_level);
  out << YAML::Key << "format" << YAML::Value << std::string(name_of(c.log_format, kLogFormats));
  out << YAML::EndMap;
  out << YAML::Key << "until_end" << YAML::Value << c.until_end;
  out << YAML::Key << "progress" << YAML::Value << c.progress;
  out << YAML::Key << "parse_threads" << YAML::Value << c.parse_threads;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace uniqd::config
