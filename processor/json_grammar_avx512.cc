// The avx512 grammar kernel (processor/json_grammar.h): sixty-four tokens
// per step, one byte each, and a scalar walk over the brackets alone.
//
// The scalar kernel's automaton costs ~30 instructions a token, one token
// after the other. Most of what it checks only needs a token's neighbours,
// once each token knows the container it is in (object or array) and its
// depth, which change only at brackets. So:
//  - brackets (a walk over their positions only, ~1 token in 8): they match,
//    the depth stays within 1..127 until the root's closing bracket, which
//    is the last token; each bracket leaves "depth and kind of container
//    after me" at its position;
//  - every token, 64 at a time, with what the last bracket before it left:
//     1. pairs: each token is allowed after the one before it (after '{'
//        only a string or '}', after a string ':' ',' '}' or ']', before the
//        first token only '{', after the last only '}' or ']');
//     2. keys: after '{' and after a comma in an object, a string and then
//        ':'; a ':' is in an object, after a string that follows '{' or ','.
//    Pairs give "one value between separators"; keys give "members are
//    key ':' value"; brackets give nesting. Together they are JSON's grammar
//    for a document that is one object.
// Deeper frames (past 127) go to the scalar kernel. No gathers, no
// per-token chains. Verdicts and lists are the scalar kernel's: the unit
// tests compare the two on the parser's corpus and on random token strings.
#include "processor/json_grammar.h"
#include "processor/json_grammar_tokens.h"

#include <cstring>
#include <initializer_list>

#if defined(__x86_64__)
#include <immintrin.h>
// g++ 12's AVX-512 headers start many intrinsics from _mm512_undefined_*,
// which its flow analysis then reports as maybe uninitialized (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace uniqd::processor::json_grammar {

#if defined(__x86_64__)
namespace {

// Two classes the scalar kernel has no need of: before the first token and
// after the last.
constexpr std::uint8_t kStart = 9, kEnd = 10, kAllClasses = 11;
constexpr std::uint32_t kDeepest = 127;  // depth and kind share a byte

// Rule 1, as a byte per (class before) * 11 + class.
alignas(64) constexpr auto kPairAllowed = [] {
  std::array<std::uint8_t, 128> t{};
  auto allow = [&](std::uint8_t before, std::initializer_list<std::uint8_t> next) {
    for (std::uint8_t c : next) t[before * kAllClasses + c] = 1;
  };
  const auto value = {kOpenObject, kOpenArray, kString, kScalar};
  allow(kOpenObject, {kString, kCloseObject});
  allow(kCloseObject, {kComma, kCloseObject, kCloseArray, kEnd});
  allow(kOpenArray, value);
  allow(kOpenArray, {kCloseArray});
  allow(kCloseArray, {kComma, kCloseObject, kCloseArray, kEnd});
  allow(kColon, value);
  allow(kComma, value);
  allow(kString, {kComma, kCloseObject, kCloseArray, kColon});
  allow(kScalar, {kComma, kCloseObject, kCloseArray});
  allow(kStart, {kOpenObject});
  return t;
}();
// The class of a byte below 0x80 (the ones above are all kOther).
alignas(64) constexpr auto kAsciiClass = [] {
  std::array<std::uint8_t, 128> t{};
  for (std::size_t b = 0; b < t.size(); ++b) t[b] = kTokenClass[b];
  return t;
}();
alignas(64) constexpr auto kTimesClasses = [] {
  std::array<std::uint8_t, 64> t{};
  for (std::size_t c = 0; c < kAllClasses; ++c) t[c] = static_cast<std::uint8_t>(c * kAllClasses);
  return t;
}();
alignas(64) constexpr auto kLane = [] {
  std::array<std::uint8_t, 64> t{};
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<std::uint8_t>(i);
  return t;
}();

// Sixteen positions of a 64-token step (lane + first), as dwords.
__attribute__((target("avx512f"))) inline __m512i positions(std::uint32_t first) noexcept {
  return _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                          _mm512_set1_epi32(static_cast<int>(first)));
}

// Appends first + (the lanes set in mask) to list.
__attribute__((target("avx512f,popcnt"))) inline std::uint32_t append(std::uint32_t* list, std::uint32_t count,
                                                                      std::uint64_t mask,
                                                                      std::uint32_t first) noexcept {
  for (std::uint32_t q = 0; q < 4; ++q) {
    const auto m = static_cast<__mmask16>(mask >> (16 * q));
    _mm512_storeu_si512(list + count, _mm512_maskz_compress_epi32(m, positions(first + 16 * q)));
    count += static_cast<std::uint32_t>(__builtin_popcount(m));
  }
  return count;
}

// The lanes of v equal to class c.
__attribute__((target("avx512f,avx512bw"))) inline __mmask64 is(__m512i v, std::uint8_t c) noexcept {
  return _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(static_cast<char>(c)));
}

}  // namespace

__attribute__((target("avx512f,avx512bw,avx512vbmi,bmi,popcnt"))) bool check_avx512(const std::uint8_t* buf,
                                                                                    const std::uint32_t* idx,
                                                                                    std::uint32_t n, Lists& out,
                                                                                    std::uint8_t* scratch) noexcept {
  if (n == 0) return false;
  // cls[t + 2]: token t's class; two kStart before, kEnd after (the steps
  // read 2 behind, 2 ahead and up to 63 past n).
  std::uint8_t* const cls = scratch;
  // info[t]: for a bracket, the depth after it | 0x80 if the container it
  // leaves us in is an array.
  std::uint8_t* const info = scratch + n + 192;
  // kinds[d]: 1 if the container at depth d is an array (slot 300 is for
  // closing brackets, which write nothing).
  std::uint8_t* const kinds = info + n + 128;
  // Each token's first byte, eight to a store, then their classes 64 at a
  // time (a table lookup per token was a third of the kernel's time).
  std::uint32_t token = 0;
  for (; token + 8 <= n; token += 8) {
    std::uint64_t bytes = 0;
    for (std::uint32_t k = 0; k < 8; ++k) bytes |= std::uint64_t{buf[idx[token + k]]} << (8 * k);
    std::memcpy(cls + 2 + token, &bytes, 8);
  }
  for (; token < n; ++token) cls[token + 2] = buf[idx[token]];
  const __m512i class_lo = _mm512_load_si512(kAsciiClass.data());
  const __m512i class_hi = _mm512_load_si512(kAsciiClass.data() + 64);
  const __m512i other = _mm512_set1_epi8(static_cast<char>(kOther));
  for (std::uint32_t k = 0; k < n; k += 64) {
    const __m512i first = _mm512_loadu_si512(cls + 2 + k);
    const __m512i c = _mm512_permutex2var_epi8(class_lo, first, class_hi);
    _mm512_storeu_si512(cls + 2 + k, _mm512_mask_mov_epi8(c, _mm512_movepi8_mask(first), other));
  }
  cls[0] = kStart;
  cls[1] = kStart;
  _mm512_storeu_si512(cls + n + 2, _mm512_set1_epi8(static_cast<char>(kEnd)));
  _mm512_storeu_si512(cls + n + 66, _mm512_set1_epi8(static_cast<char>(kEnd)));
  kinds[0] = 0;

  const __m512i pair_allowed_lo = _mm512_load_si512(kPairAllowed.data());
  const __m512i pair_allowed_hi = _mm512_load_si512(kPairAllowed.data() + 64);
  const __m512i times_classes = _mm512_load_si512(kTimesClasses.data());
  const __m512i lane = _mm512_load_si512(kLane.data());
  const __m512i one = _mm512_set1_epi8(1);

  std::int32_t depth = 0;
  std::uint8_t last_info = 0;  // what the last bracket so far left
  std::uint64_t bad = 0;
  std::uint32_t keys = 0;
  std::uint32_t scalars = 0;
  // Steps cover tokens 0..n: token n is kEnd, for rule 1 after the last one.
  for (std::uint32_t i = 0; i <= n; i += 64) {
    const std::uint32_t left = n + 1 - i;
    const std::uint64_t valid = left >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << left) - 1;
    const __m512i c = _mm512_loadu_si512(cls + i + 2);
    const __m512i before = _mm512_loadu_si512(cls + i + 1);
    const __m512i before2 = _mm512_loadu_si512(cls + i);
    const __m512i next = _mm512_loadu_si512(cls + i + 3);
    const __m512i next2 = _mm512_loadu_si512(cls + i + 4);

    // The brackets of the step, in order, with no branch on opening or
    // closing (as unpredictable as the data).
    const std::uint8_t info_in = last_info;
    const __mmask64 at_bracket = _mm512_cmplt_epu8_mask(c, _mm512_set1_epi8(kColon)) & valid;
    std::uint64_t brackets = at_bracket;
    while (brackets != 0) {
      const std::uint32_t t = i + static_cast<std::uint32_t>(__builtin_ctzll(brackets));
      brackets &= brackets - 1;
      const std::uint32_t b = cls[t + 2];
      const std::uint32_t closing = b & 1;
      const std::uint32_t array = b >> 1;
      // A closing bracket must match the container it closes.
      bad |= closing & (kinds[depth & 0xff] ^ array);
      depth += 1 - 2 * static_cast<std::int32_t>(closing);
      kinds[closing != 0 ? 300 : (depth & 0xff)] = static_cast<std::uint8_t>(array);
      // Depth 0 only after the last token; deeper than kDeepest: the scalar kernel's.
      bad |= static_cast<std::uint32_t>(depth < 0) | (static_cast<std::uint32_t>(depth == 0) & (t + 1 != n));
      if (depth > static_cast<std::int32_t>(kDeepest)) return check_scalar(buf, idx, n, out);
      last_info = static_cast<std::uint8_t>(depth | (kinds[depth & 0xff] << 7));
      info[t] = last_info;
    }
    if (bad != 0) return false;

    // Each token's depth and container, from the last bracket at or before it.
    __m512i from = _mm512_maskz_add_epi8(at_bracket, lane, one);  // 1 + the lane of that bracket
    for (int k = 1; k < 64; k *= 2) {
      const __m512i shifted = _mm512_maskz_permutexvar_epi8(
          ~std::uint64_t{0} << k, _mm512_sub_epi8(lane, _mm512_set1_epi8(static_cast<char>(k))), from);
      from = _mm512_max_epu8(from, shifted);
    }
    const __mmask64 none_before = _mm512_cmpeq_epi8_mask(from, _mm512_setzero_si512());
    __m512i state = _mm512_permutexvar_epi8(_mm512_sub_epi8(from, one), _mm512_loadu_si512(info + i));
    state = _mm512_mask_mov_epi8(state, none_before, _mm512_set1_epi8(static_cast<char>(info_in)));
    const __mmask64 in_array = _mm512_movepi8_mask(state);
    const __mmask64 at_root = _mm512_cmpeq_epi8_mask(state, one);  // depth 1, an object

    // Rule 1: each token after the one before it.
    const __m512i pair = _mm512_add_epi8(_mm512_permutexvar_epi8(before, times_classes), c);
    const __m512i pair_ok = _mm512_permutex2var_epi8(pair_allowed_lo, pair, pair_allowed_hi);
    std::uint64_t fails = ~_mm512_test_epi8_mask(pair_ok, pair_ok);
    // Rule 2: keys and colons.
    const __mmask64 key_next = is(next, kString) & is(next2, kColon);
    const __mmask64 opens_object = is(c, kOpenObject);
    fails |= opens_object & is(next, kString) & ~is(next2, kColon);
    const __mmask64 comma = is(c, kComma);
    fails |= comma & ~in_array & ~key_next;
    const __mmask64 after_key_start = is(before2, kOpenObject) | is(before2, kComma);
    fails |= is(c, kColon) & (in_array | ~after_key_start);
    bad = fails & valid;
    if (bad != 0) return false;

    // The lists: root keys (strings in the root object after '{' or ','), scalars.
    const __mmask64 root_key = is(c, kString) & at_root & (is(before, kOpenObject) | is(before, kComma)) & valid;
    keys = append(out.keys, keys, root_key, i);
    scalars = append(out.scalars, scalars, is(c, kScalar) & valid, i);
  }
  if (depth != 0) return false;
  out.key_count = keys;
  out.scalar_count = scalars;
  return true;
}

#else

bool check_avx512(const std::uint8_t* buf, const std::uint32_t* idx, std::uint32_t n, Lists& out,
                  std::uint8_t*) noexcept {
  return check_scalar(buf, idx, n, out);
}

#endif

}  // namespace uniqd::processor::json_grammar
