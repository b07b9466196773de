// Extracts the root `uid` and `ts` of one frame, and nothing else.
//
// The whole frame is validated (simdjson's DOM parse): a truncated or
// corrupted frame is rejected even when its root uid and ts are readable,
// because nothing in it can be trusted. Keys are compared after unescaping,
// so "u\u0069d" is uid, and only the root object's keys count: nested objects
// often carry unrelated uid/ts keys. No exceptions on this path.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>

#include "processor/frame.h"

namespace uniqd::processor {

enum class TsUnit : std::uint8_t { seconds, milliseconds };

// Bytes the caller must keep readable after every frame it passes in.
inline constexpr std::size_t kFramePadding = simdjson::SIMDJSON_PADDING;

// Largest ts accepted: 9999-12-31T23:59:59Z, where calendar text ends.
inline constexpr std::int64_t kMaxTs = 253402300799;
// What ts_from_element returns for a well-formed ts past kMaxTs (a bit flip
// in a high bit, milliseconds sent as seconds): rejected as future.
inline constexpr std::int64_t kBeyondTs = INT64_MAX;

class FrameParser {
 public:
  explicit FrameParser(std::size_t max_frame_bytes, TsUnit unit = TsUnit::seconds);

  // Parses data[0, size). Precondition: data + size + kFramePadding is
  // readable (the padding's content does not matter). On success fills out
  // and returns nullopt; otherwise the reason (malformed_json .. bad_ts).
  std::optional<RejectReason> parse(const char* data, std::size_t size, ParsedFrame& out) noexcept;

 private:
  simdjson::dom::parser parser_;
  TsUnit unit_;
};

// Exposed for tests: the ts rules of docs/SEMANTICS.md §1.7 on one value;
// nullopt for bad_ts, kBeyondTs for a ts past kMaxTs (future).
std::optional<std::int64_t> ts_from_element(simdjson::dom::element v, TsUnit unit) noexcept;

}  // namespace uniqd::processor
