// The vocabulary shared by every stage of the pipeline: what a frame becomes
// once parsed, why a frame can be rejected, and where a frame came from.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace uniqd::processor {

// A uid reduced to XXH3-128. The state never holds raw user ids; 128 bits
// keep the collision chance among 1e9 users near 1e-21 (docs/SEMANTICS.md).
struct UidHash {
  std::uint64_t lo{0};
  std::uint64_t hi{0};
  bool operator==(const UidHash&) const = default;
};

UidHash hash_uid(std::string_view uid) noexcept;

// Every way a frame can be unusable. Order matters: it is the order in which
// the checks run (first match wins), and the order of the summary.
enum class RejectReason : std::uint8_t {
  too_large,
  malformed_json,
  duplicate_key,
  missing_uid,
  missing_ts,
  bad_uid_type,
  bad_ts,
  future,
  outlier,
  late,
};
inline constexpr int kRejectReasonCount = 10;

std::string_view reject_reason_name(RejectReason r);
std::optional<RejectReason> parse_reject_reason(std::string_view name);

// docs/SEMANTICS.md §1, for every input mode: a frame (a line without its
// line end, or a Kafka message value) that is empty or holds only JSON
// whitespace (space, tab, CR, LF) is blank: skipped and counted, never a
// reject. A Kafka tombstone (null value) is the empty frame. Size is judged
// before this: a frame over max_frame_bytes is too_large even if blank.
bool is_blank_frame(std::string_view frame) noexcept;

// How much of a rejected frame's bytes a too_large reject keeps (the frame
// itself is never buffered whole), in every input mode.
inline constexpr std::size_t kRejectPrefixBytes = 1024;

// Where a frame came from: a Kafka partition and offset, or partition 0 and
// the 1-based line number in stdin/file mode.
struct SourcePosition {
  std::int32_t partition{0};
  std::int64_t offset{0};
};

// A frame that parsed: its event time (unix seconds) and its user.
struct ParsedFrame {
  std::int64_t ts{0};
  UidHash uid;
};

// A parsed frame on its way through event-time checks, with the bytes it was
// parsed from so that a reject can keep the original.
struct FrameRef {
  ParsedFrame frame;
  std::string_view bytes;
  SourcePosition pos;
};

}  // namespace uniqd::processor
