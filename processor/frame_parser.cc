#include "processor/frame_parser.h"

#include <emmintrin.h>
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

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

// --- the structural engine's pieces -----------------------------------------

// What simdjson's stage 2 accepts after a number or a literal: a structural
// character or JSON whitespace.
constexpr std::array<bool, 256> kEndsScalar = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : std::string_view(" \t\n\r,:[]{}")) t[c] = true;
  return t;
}();

constexpr std::array<std::int8_t, 256> kHex = [] {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = 0; c < 10; ++c) t['0' + c] = static_cast<std::int8_t>(c);
  for (int c = 0; c < 6; ++c) {
    t['a' + c] = static_cast<std::int8_t>(10 + c);
    t['A' + c] = static_cast<std::int8_t>(10 + c);
  }
  return t;
}();

constexpr bool is_digit(std::uint8_t c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_ws(std::uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// The four hex digits of a \u escape, or -1.
int hex4(const std::uint8_t* p) noexcept {
  const int a = kHex[p[0]], b = kHex[p[1]], c = kHex[p[2]], d = kHex[p[3]];
  if ((a | b | c | d) < 0) return -1;
  return (a << 12) | (b << 8) | (c << 4) | d;
}

enum class NumberKind : std::uint8_t { unsure, integer, decimal };
struct Number {
  NumberKind kind{NumberKind::unsure};
  bool negative{false};
  std::uint32_t int_digits{0};
};

// How many digits start at p, up to end. Eight bytes at a time (p + 8 is
// readable: the frame's padding), so a number costs no branch per digit.
std::uint32_t digit_run(const std::uint8_t* p, const std::uint8_t* end) noexcept {
  const std::uint32_t limit = static_cast<std::uint32_t>(end - p);
  std::uint32_t n = 0;
  while (true) {
    std::uint64_t v;
    std::memcpy(&v, p + n, 8);
    const std::uint64_t x = v ^ 0x3030303030303030ull;  // digits become 0..9
    // High bit set in the bytes that are not digits; a carry out of such a
    // byte only touches later bytes, past the first non-digit.
    const std::uint64_t non_digit = ((x + 0x7676767676767676ull) | x) & 0x8080808080808080ull;
    if (non_digit != 0) {
      n += static_cast<std::uint32_t>(__builtin_ctzll(non_digit)) >> 3;
      return n < limit ? n : limit;
    }
    n += 8;
    if (n >= limit) return limit;
  }
}

// The value of the digits at p (at most 19 of them).
std::uint64_t digits_value(const std::uint8_t* p, std::uint32_t digits) noexcept {
  std::uint64_t v = 0;
  for (std::uint32_t k = 0; k < digits; ++k) v = v * 10 + static_cast<std::uint64_t>(p[k] - '0');
  return v;
}

// A number at p (its first byte is '-' or a digit), with the syntax of
// simdjson's number parser, and the verdict the DOM would give it. Only
// numbers the DOM surely accepts are kind integer or decimal: at most 19
// digits and an exponent within +-280 (finite, normal), an integer inside
// int64 or uint64. Everything else, invalid or merely out of that range, is
// unsure. end bounds the scan (the padding after the frame is not its text).
Number scan_number(const std::uint8_t* p, const std::uint8_t* end) noexcept {
  Number n;
  n.negative = *p == '-';
  p += n.negative ? 1 : 0;
  const std::uint8_t* const digits = p;
  const std::uint32_t int_digits = digit_run(p, end);
  if (int_digits == 0 || (*p == '0' && int_digits > 1)) return n;  // none, or a leading zero
  p += int_digits;
  std::uint32_t significant = int_digits;
  NumberKind kind = NumberKind::integer;
  if (p != end && *p == '.') {
    const std::uint32_t frac = digit_run(p + 1, end);
    if (frac == 0) return n;
    p += 1 + frac;
    significant += frac;
    kind = NumberKind::decimal;
  }
  if (p != end && (*p | 0x20) == 'e') {
    ++p;
    if (p != end && (*p == '+' || *p == '-')) ++p;
    const std::uint32_t exp = digit_run(p, end);
    if (exp == 0 || exp > 3 || digits_value(p, exp) > 280) return n;
    p += exp;
    kind = NumberKind::decimal;
  }
  if (p != end && !kEndsScalar[*p]) return n;
  if (kind == NumberKind::decimal) {
    if (significant > 19) return n;
  } else if (int_digits > 19 ||
             (int_digits == 19 && n.negative && digits_value(digits, 19) > std::uint64_t(INT64_MAX))) {
    return n;
  }
  n.int_digits = int_digits;
  n.kind = kind;
  return n;
}

// scan_number's verdict for a number that ends within the 16 bytes at p, or
// plain == false for scan_number to judge (an exponent, 19 or more digits,
// anything longer, anything invalid). From byte masks, with no branch: the
// shapes of a frame's numbers (sign, fraction) follow each other at random.
struct ShortNumber {
  Number number;
  bool plain;
};
inline ShortNumber scan_short_number(const std::uint8_t* p, const std::uint8_t* end) noexcept {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i from_zero = _mm_sub_epi8(v, _mm_set1_epi8('0'));
  const auto mask = [](__m128i m) { return static_cast<std::uint32_t>(_mm_movemask_epi8(m)); };
  const std::uint32_t digit = mask(_mm_cmpeq_epi8(_mm_min_epu8(from_zero, _mm_set1_epi8(9)), from_zero));
  const std::uint32_t minus = mask(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
  const std::uint32_t dot = mask(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')));
  const std::uint32_t exp = mask(_mm_cmpeq_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8('e')));
  const std::uint32_t non_digit = ~digit;  // bits 16 and up set: runs stop there
  const std::uint32_t negative = minus & 1;
  const auto int_digits = static_cast<std::uint32_t>(__builtin_ctz(non_digit >> negative));
  std::uint32_t at = negative + int_digits;
  const std::uint32_t fraction = (dot >> at) & 1;
  const std::uint32_t frac_digits = static_cast<std::uint32_t>(__builtin_ctz(non_digit >> (at + 1))) * fraction;
  at += fraction * (1 + frac_digits);
  // Bitwise, not &&: each test a branch would be a misprediction.
  const unsigned plain =
      static_cast<unsigned>(int_digits != 0) & static_cast<unsigned>(p[negative] != '0' || int_digits == 1) &
      static_cast<unsigned>(frac_digits >= fraction) & (((exp >> at) & 1) ^ 1) & static_cast<unsigned>(at < 16) &
      static_cast<unsigned>(p + at < end) & static_cast<unsigned>(kEndsScalar[p[at]]) &
      static_cast<unsigned>(int_digits + frac_digits < 19);
  ShortNumber n;
  n.number.negative = negative != 0;
  n.number.int_digits = int_digits;
  n.number.kind = fraction != 0 ? NumberKind::decimal : NumberKind::integer;
  n.plain = plain != 0;
  return n;
}

// scan_number, by way of scan_short_number when it can say.
inline Number number_at(const std::uint8_t* p, const std::uint8_t* end) noexcept {
  const ShortNumber n = scan_short_number(p, end);
  return n.plain ? n.number : scan_number(p, end);
}

// true / false / null followed by a structural character or whitespace,
// without a branch on which (p + 8 is readable).
inline bool literal_ok(const std::uint8_t* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  constexpr auto word = [](std::string_view s) {
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < s.size(); ++k) v |= std::uint64_t{static_cast<std::uint8_t>(s[k])} << (8 * k);
    return v;
  };
  const std::uint64_t four = w & 0xffffffffull;
  const unsigned ends4 = kEndsScalar[p[4]];
  return ((static_cast<unsigned>(four == word("true")) | static_cast<unsigned>(four == word("null"))) & ends4) |
         (static_cast<unsigned>((w & 0xffffffffffull) == word("false")) & kEndsScalar[p[5]]);
}

// simdjson's own string unescaping, as its DOM parse runs it: strict about
// surrogates (simdjson 3.2 added the allow_replacement flag; Debian 12 has
// 3.0.1, Debian 13 3.12).
template <class Implementation>
std::uint8_t* unescape_string(const Implementation& impl, const std::uint8_t* src, std::uint8_t* dst) noexcept {
  if constexpr (requires { impl.parse_string(src, dst, false); }) {
    return impl.parse_string(src, dst, false);
  } else {
    return impl.parse_string(src, dst);
  }
}

// What the byte after an escaping backslash makes of the escape.
constexpr std::uint8_t kBadEscape = 0, kShortEscape = 1, kUnicodeEscape = 2;
constexpr std::array<std::uint8_t, 256> kEscapeKind = [] {
  std::array<std::uint8_t, 256> t{};  // all kBadEscape
  for (unsigned char c : std::string_view("\"\\/bfnrt")) t[c] = kShortEscape;
  t['u'] = kUnicodeEscape;
  return t;
}();

// The bytes of a 64-byte block equal to c, as a bit mask (SSE2, in every x86-64).
std::uint64_t byte_mask(const std::uint8_t* block, char c) noexcept {
  const __m128i v = _mm_set1_epi8(c);
  std::uint64_t m = 0;
  for (int k = 0; k < 4; ++k) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * k));
    m |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, v))))
         << (16 * k);
  }
  return m;
}

// Every escape of the frame is one simdjson's string parser accepts. Run
// only on a frame whose grammar checked out, so every backslash is inside a
// string. 64 bytes at a time: the bytes escaped by a backslash are those
// after an odd run of backslashes (a run's carry crosses blocks), each must
// be one of "\/bfnrtu; a \u needs four hex digits, and a surrogate is
// accepted only as a high one escaped right before a low one (anything else
// about surrogates is the DOM's to judge). Reads up to 63 bytes of padding.
bool escapes_valid(const std::uint8_t* p, const std::uint8_t* end) noexcept {
  constexpr std::uint64_t kEvenBits = 0x5555555555555555ull;
  std::uint64_t carry = 0;  // the first byte of the next block is escaped
  std::uint8_t bad = 0;
  const std::uint8_t* low_expected_at = nullptr;  // a high surrogate's partner
  for (const std::uint8_t* block = p; block < end; block += 64) {
    std::uint64_t backslash = byte_mask(block, '\\');
    if (end - block < 64) backslash &= (std::uint64_t{1} << (end - block)) - 1;
    if (backslash == 0 && carry == 0) continue;
    // Odd runs of backslashes, the way simdjson's stage 1 finds them.
    backslash &= ~carry;
    const std::uint64_t follows = (backslash << 1) | carry;
    const std::uint64_t odd_starts = backslash & ~kEvenBits & ~follows;
    std::uint64_t even_started = 0;
    carry = __builtin_add_overflow(odd_starts, backslash, &even_started) ? 1 : 0;
    std::uint64_t escaped = ((kEvenBits ^ (even_started << 1)) & follows);
    while (escaped != 0) {
      const std::uint8_t* at = block + __builtin_ctzll(escaped);  // the byte after the backslash
      escaped &= escaped - 1;
      const std::uint8_t kind = kEscapeKind[*at];
      bad |= static_cast<std::uint8_t>(kind == kBadEscape);
      if (kind != kUnicodeEscape) continue;
      if (end - at < 5) return false;
      const int cp = hex4(at + 1);
      if (cp < 0xd800 || cp > 0xdfff) {
        bad |= static_cast<std::uint8_t>(cp < 0);
      } else if (cp < 0xdc00) {
        if (end - at < 11 || at[5] != '\\' || at[6] != 'u') return false;
        const int low = hex4(at + 7);
        if (low < 0xdc00 || low > 0xdfff) return false;
        low_expected_at = at + 6;  // the 'u' of the next escape
      } else if (at != low_expected_at) {
        return false;
      } else {
        low_expected_at = nullptr;
      }
    }
  }
  return bad == 0 && low_expected_at == nullptr;
}

// The most a parser ever allocates for.
std::size_t frame_capacity(std::size_t max_frame_bytes) {
  return std::max<std::size_t>(max_frame_bytes, 64);
}

// What it allocates for up front. Its buffers take about 20 bytes per byte
// of frame: for max_frame_bytes: 1GiB up front that would be 20 GB per
// parse thread before the first frame. They grow (doubling) when a longer
// frame comes, so memory follows the frames seen, not the limit.
constexpr std::size_t kInitialFrameCapacity = 64 * 1024;
std::size_t initial_capacity(std::size_t max_frame_bytes) {
  return std::min(frame_capacity(max_frame_bytes), kInitialFrameCapacity);
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

ParserEngine default_parser_engine() noexcept {
  static const ParserEngine engine = [] {
    const char* v = std::getenv("UNIQD_FRAME_PARSER");
    return v != nullptr && std::string_view(v) == "dom" ? ParserEngine::dom : ParserEngine::structural;
  }();
  return engine;
}

FrameParser::FrameParser(std::size_t max_frame_bytes, TsUnit unit, ParserEngine engine, json_grammar::Kernel grammar)
    : max_frame_bytes_(max_frame_bytes),
      unit_(unit),
      engine_(engine),
      // The DOM engine never runs the grammar check: no room for the avx512 kernel.
      grammar_(initial_capacity(max_frame_bytes) + 1,
               engine == ParserEngine::dom ? json_grammar::Kernel::scalar : grammar) {
  const std::size_t capacity = initial_capacity(max_frame_bytes);
  if (parser_.allocate(capacity) != simdjson::SUCCESS) {
    // parse() retries per frame (too_large when the memory is not there).
  }
  // Without its own stage 1 every frame goes to the DOM parse: slower, same verdicts.
  if (engine_ == ParserEngine::structural) reserve_structural(capacity);
}

bool FrameParser::reserve_structural(std::size_t capacity) noexcept {
  std::unique_ptr<simdjson::internal::dom_parser_implementation> stage1;
  if (simdjson::get_active_implementation()->create_dom_parser_implementation(capacity, simdjson::DEFAULT_MAX_DEPTH,
                                                                              stage1) != simdjson::SUCCESS) {
    return false;
  }
  std::unique_ptr<std::uint8_t[]> unescaped(new (std::nothrow) std::uint8_t[capacity + simdjson::SIMDJSON_PADDING]);
  // A root member takes at least 5 bytes ("":1,), a scalar and its separator 2.
  std::unique_ptr<std::uint32_t[]> root_keys(new (std::nothrow) std::uint32_t[capacity / 4 + json_grammar::kListSlack]);
  std::unique_ptr<std::uint32_t[]> scalars(new (std::nothrow) std::uint32_t[capacity / 2 + json_grammar::kListSlack]);
  if (unescaped == nullptr || root_keys == nullptr || scalars == nullptr) return false;
  // Without room there the automaton checks the longer frames: same verdicts.
  grammar_.reserve(capacity + 1);
  stage1_ = std::move(stage1);
  unescaped_ = std::move(unescaped);
  root_keys_ = std::move(root_keys);
  scalars_ = std::move(scalars);
  stage1_capacity_ = capacity;
  return true;
}

std::optional<RejectReason> FrameParser::parse(const char* data, std::size_t size, ParsedFrame& out) noexcept {
  if (stage1_ != nullptr) {
    std::optional<RejectReason> why;
    if (parse_structural(data, size, out, why)) return why;
    ++deferred_;
  }
  return parse_dom(data, size, out);
}

std::optional<RejectReason> FrameParser::parse_dom(const char* data, std::size_t size, ParsedFrame& out) noexcept {
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

bool FrameParser::parse_structural(const char* data, std::size_t size, ParsedFrame& out,
                                   std::optional<RejectReason>& why) noexcept {
  if (size == 0) return false;
  if (size > stage1_capacity_ &&
      (size > max_frame_bytes_ ||
       !reserve_structural(std::min(std::max(size, 2 * stage1_capacity_), frame_capacity(max_frame_bytes_))))) {
    return false;
  }
  const auto* buf = reinterpret_cast<const std::uint8_t*>(data);
  const std::uint8_t* const end = buf + size;
  if (stage1_->stage1(buf, size, simdjson::stage1_mode::regular) != simdjson::SUCCESS) return false;
  const std::uint32_t* const idx = stage1_->structural_indexes.get();
  const std::uint32_t n = stage1_->n_structural_indexes;

  json_grammar::Lists lists{.keys = root_keys_.get(), .scalars = scalars_.get()};
  if (!grammar_.check(buf, idx, n, lists)) return false;
  const std::uint32_t* const root_keys = lists.keys;
  const std::uint32_t keys = lists.key_count;
  const std::uint32_t* const scalars = lists.scalars;
  const std::uint32_t scalar_count = lists.scalar_count;

  for (std::uint32_t k = 0; k < scalar_count; ++k) {
    const std::uint8_t* p = buf + idx[scalars[k]];
    if (*p >= 'a') {  // t f n; '-' and digits are below
      if (!literal_ok(p)) return false;
    } else if (!scan_short_number(p, end).plain && scan_number(p, end).kind == NumberKind::unsure) {
      return false;
    }
  }
  if (!escapes_valid(buf, end)) return false;

  // The text of the string whose opening quote is structural k: up to the
  // last quote before structural k + 1 (only whitespace lies between).
  auto string_at = [&](std::uint32_t k, std::string_view& text, bool& escaped) -> bool {
    if (k + 1 >= n) return false;
    const std::uint8_t* open = buf + idx[k];
    const std::uint8_t* close = buf + idx[k + 1] - 1;
    while (close > open && is_ws(*close)) --close;
    if (close <= open || *close != '"') return false;
    text = std::string_view(reinterpret_cast<const char*>(open + 1), static_cast<std::size_t>(close - open - 1));
    escaped = std::memchr(text.data(), '\\', text.size()) != nullptr;
    return true;
  };
  // A string with escapes, as the DOM's string parser unescapes it.
  auto unescape = [&](std::uint32_t k, std::string_view& text) -> bool {
    const std::uint8_t* stop = unescape_string(*stage1_, buf + idx[k] + 1, unescaped_.get());
    if (stop == nullptr) return false;
    text = std::string_view(reinterpret_cast<const char*>(unescaped_.get()),
                            static_cast<std::size_t>(stop - unescaped_.get()));
    return true;
  };

  // The root uid and ts: their values are two structurals after their keys.
  std::uint32_t uid_at = 0;
  std::uint32_t ts_at = 0;
  for (std::uint32_t k = 0; k < keys; ++k) {
    const std::uint32_t at = root_keys[k];
    const std::uint8_t* p = buf + idx[at] + 1;
    // Most keys are neither and say so in their first bytes.
    if (*p != 'u' && *p != 't' && *p != '\\') continue;
    std::string_view key;
    bool escaped = false;
    if (!string_at(at, key, escaped)) return false;
    if (escaped && !unescape(at, key)) return false;
    if (key == "uid") {
      if (uid_at != 0) return false;  // duplicate_key: the DOM's to classify
      uid_at = at + 2;
    } else if (key == "ts") {
      if (ts_at != 0) return false;
      ts_at = at + 2;
    }
  }
  if (uid_at == 0 || ts_at == 0) return false;  // missing_uid / missing_ts: the DOM's

  // The root uid: a string, or an integer (the string of its digits).
  {
    const std::uint8_t* v = buf + idx[uid_at];
    if (*v == '"') {
      std::string_view text;
      bool escaped = false;
      if (!string_at(uid_at, text, escaped)) return false;
      if (escaped && !unescape(uid_at, text)) return false;
      out.uid = hash_uid(text);
    } else if (*v == '-' || is_digit(*v)) {
      const Number num = number_at(v, end);
      // "-0" is the integer 0 to the DOM, whose digits are "0": its to judge.
      if (num.kind != NumberKind::integer || (num.negative && v[1] == '0')) return false;
      const std::size_t len = num.int_digits + (num.negative ? 1 : 0);
      out.uid = hash_uid(std::string_view(reinterpret_cast<const char*>(v), len));
    } else {
      return false;  // bad_uid_type
    }
  }
  // The root ts: a non-negative integer or a string of digits; a float, a
  // negative or anything else is the DOM's.
  std::optional<std::int64_t> ts;
  {
    const std::uint8_t* v = buf + idx[ts_at];
    if (*v == '"') {
      std::string_view text;
      bool escaped = false;
      if (!string_at(ts_at, text, escaped)) return false;
      if (escaped && !unescape(ts_at, text)) return false;
      ts = ts_from_digits(text, unit_);
    } else if (is_digit(*v)) {
      const Number num = number_at(v, end);
      if (num.kind != NumberKind::integer || num.int_digits > 18) return false;
      ts = apply_unit(static_cast<std::int64_t>(digits_value(v, num.int_digits)), unit_);
    }
    if (!ts) return false;  // bad_ts
  }
  if (*ts > kMaxTs) {
    why = RejectReason::future;
    return true;
  }
  out.ts = *ts;
  why.reset();
  return true;
}

}  // namespace uniqd::processor
