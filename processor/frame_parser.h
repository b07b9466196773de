// Extracts the root `uid` and `ts` of one frame, and nothing else.
//
// The whole frame is validated: a truncated or corrupted frame is rejected
// even when its root uid and ts are readable, because nothing in it can be
// trusted. Keys are compared after unescaping, so "u\u0069d" is uid, and only
// the root object's keys count: nested objects often carry unrelated uid/ts
// keys. No exceptions on this path.
//
// Two engines give the same verdicts. `dom` is simdjson's DOM parse (stage 1:
// structural index and UTF-8; stage 2: a tape with every number parsed and
// every string unescaped), the reference. `structural` runs the same stage 1,
// then checks the grammar over the structural index itself (brackets,
// commas, colons, literals, number syntax, escapes) and reads only the root
// uid and ts: no tape, no copies. It settles a frame only when it is sure of
// the DOM's verdict (a valid frame with a usable uid and ts, or future) and
// hands everything else, malformed or merely unusual (a 20-digit number, a
// lone surrogate, a float ts), to the DOM parse, so the rare cases keep the
// reference's exact classification.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "processor/frame.h"
#include "processor/json_grammar.h"

namespace uniqd::processor {

enum class TsUnit : std::uint8_t { seconds, milliseconds };
enum class ParserEngine : std::uint8_t { dom, structural };
// structural, unless the environment says UNIQD_FRAME_PARSER=dom: the
// reference engine in a whole uniqd, for comparisons and as a way out.
ParserEngine default_parser_engine() noexcept;

// Bytes the caller must keep readable after every frame it passes in.
inline constexpr std::size_t kFramePadding = simdjson::SIMDJSON_PADDING;

// Largest ts accepted: 9999-12-31T23:59:59Z, where calendar text ends.
inline constexpr std::int64_t kMaxTs = 253402300799;
// What ts_from_element returns for a well-formed ts past kMaxTs (a bit flip
// in a high bit, milliseconds sent as seconds): rejected as future.
inline constexpr std::int64_t kBeyondTs = INT64_MAX;

class FrameParser {
 public:
  explicit FrameParser(std::size_t max_frame_bytes, TsUnit unit = TsUnit::seconds,
                       ParserEngine engine = default_parser_engine(),
                       json_grammar::Kernel grammar = json_grammar::best_kernel());

  // Parses data[0, size). Precondition: data + size + kFramePadding is
  // readable (the padding's content does not matter). On success fills out
  // and returns nullopt; otherwise the reason (malformed_json .. bad_ts).
  std::optional<RejectReason> parse(const char* data, std::size_t size, ParsedFrame& out) noexcept;

  ParserEngine engine() const { return engine_; }
  // Frames the structural engine handed to the DOM parse (tests, benchmarks).
  std::uint64_t deferred() const { return deferred_; }
  json_grammar::Kernel grammar_kernel() const { return grammar_.kernel(); }

 private:
  std::optional<RejectReason> parse_dom(const char* data, std::size_t size, ParsedFrame& out) noexcept;
  // True when the frame is settled, its verdict in why.
  bool parse_structural(const char* data, std::size_t size, ParsedFrame& out,
                        std::optional<RejectReason>& why) noexcept;
  // The structural engine's buffers for frames of up to `capacity` bytes,
  // all or none (false: the memory is not there; the DOM parse takes the
  // frame).
  bool reserve_structural(std::size_t capacity) noexcept;

  std::size_t max_frame_bytes_;
  simdjson::dom::parser parser_;
  TsUnit unit_;
  ParserEngine engine_;
  // The structural engine's stage 1 (its own structural index) and a buffer
  // for the root keys and uid that carry escapes.
  std::unique_ptr<simdjson::internal::dom_parser_implementation> stage1_;
  std::size_t stage1_capacity_{0};
  std::unique_ptr<std::uint8_t[]> unescaped_;
  std::unique_ptr<std::uint32_t[]> root_keys_;  // structural numbers of root keys
  std::unique_ptr<std::uint32_t[]> scalars_;    // of numbers and literals
  json_grammar::Checker grammar_;
  std::uint64_t deferred_{0};
};

// Exposed for tests: the ts rules of docs/SEMANTICS.md §1.7 on one value;
// nullopt for bad_ts, kBeyondTs for a ts past kMaxTs (future).
std::optional<std::int64_t> ts_from_element(simdjson::dom::element v, TsUnit unit) noexcept;

}  // namespace uniqd::processor
