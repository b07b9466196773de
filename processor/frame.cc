#include "processor/frame.h"

#include <xxhash.h>

namespace uniqd::processor {

UidHash hash_uid(std::string_view uid) noexcept {
  const XXH128_hash_t h = XXH3_128bits(uid.data(), uid.size());
  return UidHash{h.low64, h.high64};
}

bool is_blank_frame(std::string_view frame) noexcept {
  for (const char ch : frame) {
    if (ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') return false;
  }
  return true;
}

namespace {
constexpr std::array<std::string_view, kRejectReasonCount> kNames{
    "too_large",    "malformed_json", "duplicate_key", "missing_uid", "missing_ts",
    "bad_uid_type", "bad_ts",         "future",        "outlier",     "late"};
}

std::string_view reject_reason_name(RejectReason r) {
  return kNames[static_cast<std::size_t>(r)];
}

std::optional<RejectReason> parse_reject_reason(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<RejectReason>(i);
  }
  return std::nullopt;
}

}  // namespace uniqd::processor
