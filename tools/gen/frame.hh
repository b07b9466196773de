// uniqd-gen: frame generator core (no I/O).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rng.hh"
#include "text.hh"

namespace uniqd::gen {

enum class TsUnit { s, ms };

struct Options {
  uint64_t count = 1000;
  double rate = 1000;           // frames per event-time second
  uint64_t users = 100000;
  uint64_t frame_bytes = 2000;  // target average frame size
  uint64_t seed = 1;
  int64_t start = 1468244340;   // unix seconds
  int64_t max_delay = 5;        // seconds
  double delay_prob = 0;
  double flip_prob = 0;
  double ts_string_prob = 0;
  double ts_float_prob = 0;
  double malformed_prob = 0;
  double missing_uid_prob = 0;
  double missing_ts_prob = 0;
  double dup_key_prob = 0;
  double bad_type_prob = 0;
  double uid_number_prob = 0;
  double escaped_key_prob = 0;
  double escaped_uid_prob = 0;
  double crlf_prob = 0;
  double gap_prob = 0;
  int64_t gap_seconds = 7200;
  double blank_prob = 0;
  TsUnit ts_unit = TsUnit::s;
  // challenge: frames like the challenge generator's (mostly ASCII lorem
  // ipsum text, nested objects with decoy uid/ts, only the escapes \" \\ \/
  // \b \t \n, plain numbers); hostile (default): every JSON corner uniqd-gen knows.
  bool challenge = false;
  uint64_t max_frame_bytes = 1u << 20;  // only used to classify lines in --truth/--stats
};

// Injection counters (what --stats prints).
enum Counter : int {
  kFrames, kLines, kBytes, kBlank, kDelay, kGap, kFlip, kFlipFar, kTsString, kTsFloat,
  kMalformed, kMissingUid, kMissingTs, kDupKey, kBadUid, kBadTs, kUidNumber,
  kUidDigitString, kEscapedKey, kEscapedUid, kCrlf, kCounterCount
};
inline constexpr std::array<std::string_view, kCounterCount> kCounterNames = {
    "frames", "lines", "bytes", "blank", "delay", "gap", "flip", "flip_far", "ts_string",
    "ts_float", "malformed", "missing_uid", "missing_ts", "dup_key", "bad_uid", "bad_ts",
    "uid_number", "uid_digit_string", "escaped_key", "escaped_uid", "crlf",
};

enum Malformed : int {
  kTruncated, kColonToEquals, kMissingComma, kTrailingComma, kStrayChar, kControlChar,
  kBadEscape, kBadUtf8, kUnquotedKey, kNumberOverflow, kRootNotObject, kTooDeep,
  kBadLiteral, kMissingValue, kMalformedCount
};
inline constexpr std::array<std::string_view, kMalformedCount> kMalformedNames = {
    "truncated", "colon_to_equals", "missing_comma", "trailing_comma", "stray_char",
    "control_char", "bad_escape", "bad_utf8", "unquoted_key", "number_overflow",
    "root_not_object", "too_deep", "bad_literal", "missing_value",
};

// Expected classification of a line by SEMANTICS.md §1 rules 1-7 (the rules
// that depend on the frame alone; future/outlier/late need the stream).
enum Class : int {
  kOk, kBlankLine, kTooLarge, kMalformedJson, kDuplicateKey, kMissingUidC, kMissingTsC,
  kBadUidType, kBadTsC, kClassCount
};
inline constexpr std::array<std::string_view, kClassCount> kClassNames = {
    "ok", "blank", "too_large", "malformed_json", "duplicate_key", "missing_uid",
    "missing_ts", "bad_uid_type", "bad_ts",
};

class FrameGenerator {
 public:
  explicit FrameGenerator(const Options& opt);

  // Appends the line(s) of frame i (a blank line may come first) to `out`;
  // with `truth`, also one JSON line per emitted line describing it.
  // Frames are generated in order; to start at frame i > 0 (e.g. one chunk
  // per thread), seek() first with the state reached after frame i - 1.
  void frame(uint64_t i, std::string& out, std::string* truth);

  // gap_total: sum of gap seconds of frames < i; line_no: lines before frame i.
  void seek(int64_t gap_total, uint64_t line_no) {
    gap_total_ = gap_total;
    line_no_ = line_no;
  }
  // Whether frame i starts a gap / is preceded by a blank line (cheap).
  static bool gap_at(const Options& o, uint64_t i);
  static bool blank_at(const Options& o, uint64_t i);

  const std::array<uint64_t, kCounterCount>& counters() const { return counters_; }
  const std::array<uint64_t, kMalformedCount>& malformed() const { return malformed_; }
  const std::array<uint64_t, kClassCount>& classes() const { return classes_; }

 private:
  struct Content;  // JSON writer for one frame's body (frame.cc)

  template <class S>
  void pool_uid(S& s, uint64_t k) const;
  void blank_line(uint64_t i, std::string& out, std::string* truth);

  static constexpr size_t kCorpusSize = 1 << 16;
  std::string corpus_;                // string bodies, sorted by length
  std::vector<uint32_t> corpus_off_;  // body k = [off[k], off[k+1])
  std::vector<uint32_t> corpus_fit_;  // [len] = number of bodies of size <= len

  Options o_;
  uint64_t uid_salt_;
  int64_t gap_total_ = 0;  // seconds added by gaps so far
  uint64_t line_no_ = 0;
  Text core_;              // frame body, reused
  std::string mal_;        // malformed copy of the body
  std::vector<size_t> root_colons_, root_commas_, root_keys_;
  std::array<uint64_t, kCounterCount> counters_{};
  std::array<uint64_t, kMalformedCount> malformed_{};
  std::array<uint64_t, kClassCount> classes_{};
};

}  // namespace uniqd::gen
