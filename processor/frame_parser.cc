#include "processor/frame_parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace uniqd::processor {
namespace {

std::int64_t apply_unit(std::int64_t v, TsUnit unit) noexcept {
  if (unit == TsUnit::milliseconds) v /= 1000;  // v >= 0, so this is floor
  return v > kMaxTs ? kBeyondTs : v;
}

std::optional<std::int64_t> ts_from_digits(std::string_view s, TsUnit unit) noexcept {
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  // Leading zeros do not make a number larger: "0001468244340" is a ts.
  s.remove_prefix(std::min(s.find_first_not_of('0'), s.size() - 1));
  if (s.size() > 19) return kBeyondTs;
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return kBeyondTs;
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return apply_unit(v, unit);
}

}  // namespace

std::optional<std::int64_t> ts_from_element(simdjson::dom::element v, TsUnit unit) noexcept {
  switch (v.type()) {
    case simdjson::dom::element_type::INT64: {
      const std::int64_t i = v.get_int64().value_unsafe();
      if (i < 0) return std::nullopt;
      return apply_unit(i, unit);
    }
    case simdjson::dom::element_type::UINT64:
      return kBeyondTs;  // above INT64_MAX: far beyond any wall clock
    case simdjson::dom::element_type::DOUBLE: {
      const double d = v.get_double().value_unsafe();
      // Truncation toward zero: -0.5 is 0. 9.2e18 is the first double past
      // INT64_MAX; anything at or above it cannot be truncated into the range.
      if (!std::isfinite(d) || d <= -1.0) return std::nullopt;
      if (d >= 9.2e18) return kBeyondTs;
      return apply_unit(static_cast<std::int64_t>(d), unit);
    }
    case simdjson::dom::element_type::STRING:
      return ts_from_digits(v.get_string().value_unsafe(), unit);
    default:
      return std::nullopt;
  }
}

FrameParser::FrameParser(std::size_t max_frame_bytes, TsUnit unit) : unit_(unit) {
  // Allocate once for the largest frame allowed, so parse() never allocates.
  // On failure the first parse() retries and classifies the frame too_large.
  if (parser_.allocate(max_frame_bytes < 64 ? 64 : max_frame_bytes) != simdjson::SUCCESS) return;
}

std::optional<RejectReason> FrameParser::parse(const char* data, std::size_t size, ParsedFrame& out) noexcept {
  if (size > parser_.capacity()) {
    if (parser_.allocate(size) != simdjson::SUCCESS) return RejectReason::too_large;
  }
  simdjson::dom::element root;
  if (parser_.parse(data, size, false).get(root) != simdjson::SUCCESS) return RejectReason::malformed_json;
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) return RejectReason::malformed_json;

  simdjson::dom::element uid_v;
  simdjson::dom::element ts_v;
  bool have_uid = false;
  bool have_ts = false;
  for (simdjson::dom::key_value_pair field : obj) {
    if (field.key == "uid") {
      if (have_uid) return RejectReason::duplicate_key;
      have_uid = true;
      uid_v = field.value;
    } else if (field.key == "ts") {
      if (have_ts) return RejectReason::duplicate_key;
      have_ts = true;
      ts_v = field.value;
    }
  }
  if (!have_uid) return RejectReason::missing_uid;
  if (!have_ts) return RejectReason::missing_ts;

  switch (uid_v.type()) {
    case simdjson::dom::element_type::STRING:
      out.uid = hash_uid(uid_v.get_string().value_unsafe());
      break;
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64: {
      // An integer uid is the same user as the string of its digits.
      char buf[24];
      auto [end, ec] = uid_v.type() == simdjson::dom::element_type::INT64
                           ? std::to_chars(buf, buf + sizeof buf, uid_v.get_int64().value_unsafe())
                           : std::to_chars(buf, buf + sizeof buf, uid_v.get_uint64().value_unsafe());
      if (ec != std::errc()) return RejectReason::bad_uid_type;
      out.uid = hash_uid(std::string_view(buf, static_cast<std::size_t>(end - buf)));
      break;
    }
    default:
      return RejectReason::bad_uid_type;
  }

  const std::optional<std::int64_t> ts = ts_from_element(ts_v, unit_);
  if (!ts) return RejectReason::bad_ts;
  // A well-formed ts past the calendar's end is beyond any wall clock.
  if (*ts > kMaxTs) return RejectReason::future;
  out.ts = *ts;
  return std::nullopt;
}

}  // namespace uniqd::processor
