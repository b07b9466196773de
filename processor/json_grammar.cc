// The scalar grammar kernel (an automaton stepped once per token) and the
// choice of kernel.
#include "processor/json_grammar.h"

#include <array>
#include <cstdlib>
#include <new>
#include <string_view>

#include "processor/json_grammar_tokens.h"

namespace uniqd::processor::json_grammar {
namespace {

// Container kinds: of the container a token is in, and of the one above it.
constexpr std::uint8_t kNoContainer = 0, kInObject = 1, kInArray = 2;

constexpr std::array<std::int8_t, kClasses> kDepthChange = {1, -1, 1, -1, 0, 0, 0, 0, 0};
constexpr std::array<std::uint8_t, kClasses> kContainerOpened = {kInObject, 0, kInArray, 0, 0, 0, 0, 0, 0};

// A structural's first byte -> its class (bits 0-3), the container it opens
// (bits 4-5) and its depth change + 1 (bits 6-7): one load per token.
constexpr std::array<std::uint8_t, 256> kByteToken = [] {
  std::array<std::uint8_t, 256> t{};
  for (std::size_t b = 0; b < 256; ++b) {
    const std::uint8_t c = kTokenClass[b];
    t[b] = static_cast<std::uint8_t>(c | (kContainerOpened[c] << 4) | ((kDepthChange[c] + 1) << 6));
  }
  return t;
}();

// JSON's grammar over tokens as an automaton: the state says what may come
// next; a closing bracket returns to what follows a value in the container
// above (the kind of that container is part of the lookup). The one root is
// an object. Error is absorbing.
constexpr std::uint8_t kBeforeRoot = 0, kAfterRoot = 1, kError = 2,
                       kObjectStart = 3,  // after '{': a key or '}'
    kObjectColon = 4,                     // after a key: ':'
    kObjectValue = 5,                     // after ':': a value
    kObjectNext = 6,                      // after a member's value: ',' or '}'
    kObjectKey = 7,                       // after ',': a key
    kArrayStart = 8,                      // after '[': a value or ']'
    kArrayValue = 9,                      // after ',': a value
    kArrayNext = 10,                      // after an element: ',' or ']'
    kStates = 11;
static_assert(kStates <= 16 && kClasses <= 16);

// Index: (kind of the container above, state, class), 3 x 16 x 16.
constexpr std::size_t kGrammarIndexes = std::size_t{3} << 8;
constexpr std::size_t grammar_index(std::uint8_t above, std::uint8_t state, std::uint8_t c) {
  return (std::size_t{above} << 8) | (std::size_t{state} << 4) | c;
}
constexpr std::uint8_t next_state(std::uint8_t above, std::uint8_t state, std::uint8_t c) {
  const std::uint8_t after_value = above == kNoContainer ? kAfterRoot : above == kInObject ? kObjectNext : kArrayNext;
  auto value = [&](std::uint8_t then) -> std::uint8_t {
    switch (c) {
      case kOpenObject:
        return kObjectStart;
      case kOpenArray:
        return kArrayStart;
      case kString:
      case kScalar:
        return then;
      default:
        return kError;
    }
  };
  switch (state) {
    case kBeforeRoot:
      return c == kOpenObject ? kObjectStart : kError;
    case kObjectStart:
      return c == kString ? kObjectColon : c == kCloseObject ? after_value : kError;
    case kObjectColon:
      return c == kColon ? kObjectValue : kError;
    case kObjectValue:
      return value(kObjectNext);
    case kObjectNext:
      return c == kComma ? kObjectKey : c == kCloseObject ? after_value : kError;
    case kObjectKey:
      return c == kString ? kObjectColon : kError;
    case kArrayStart:
      return c == kCloseArray ? after_value : value(kArrayNext);
    case kArrayValue:
      return value(kArrayNext);
    case kArrayNext:
      return c == kComma ? kArrayValue : c == kCloseArray ? after_value : kError;
    default:
      return kError;  // after the root, or an error
  }
}
// The next state, shifted into place for the next lookup.
constexpr std::array<std::uint8_t, kGrammarIndexes> kNextState = [] {
  std::array<std::uint8_t, kGrammarIndexes> t{};
  for (std::uint8_t above = 0; above < 3; ++above) {
    for (std::uint8_t state = 0; state < 16; ++state) {
      for (std::uint8_t c = 0; c < 16; ++c) {
        const std::uint8_t next = state < kStates && c < kClasses ? next_state(above, state, c) : kError;
        t[grammar_index(above, state, c)] = static_cast<std::uint8_t>(next << 4);
      }
    }
  }
  return t;
}();
// The tokens parse_structural looks at again: 1 for a key of the root object
// (the container above is none only at depth 1), 2 for a scalar in place.
constexpr std::array<std::uint8_t, kGrammarIndexes> kMarked = [] {
  std::array<std::uint8_t, kGrammarIndexes> t{};
  for (std::uint8_t above = 0; above < 3; ++above) {
    for (std::uint8_t state = 0; state < kStates; ++state) {
      for (std::uint8_t c = 0; c < kClasses; ++c) {
        const bool key = c == kString && above == kNoContainer && (state == kObjectStart || state == kObjectKey);
        const bool scalar = c == kScalar && next_state(above, state, c) != kError;
        t[grammar_index(above, state, c)] = key ? 1 : scalar ? 2 : 0;
      }
    }
  }
  return t;
}();

// The scalar kernel over structurals idx[0, n) of buf: false unless the tokens make one JSON object (brackets, commas,
// colons, keys in their places) nested at most kMaxDepth deep. Lists the structural numbers of the root keys and of the
// scalars (two lists: one list and a test per entry cost more in mispredictions than the loop). One automaton step per
// token is the only chain from token to token (a load); the kind of the container above comes from a stack by depth
// that depends on the tokens' classes alone (written unconditionally one level up, which only an opening bracket then
// claims), and the list slots are written always, their counts moving only for a listed token, so no branch but the
// depth limit's.
bool automaton(const std::uint8_t* buf, const std::uint32_t* idx, std::uint32_t n, Lists& out) noexcept {
  // above[d]: the kind of the container at depth d - 1 (none below the root).
  std::uint8_t above[kMaxDepth + 3];
  above[0] = kNoContainer;
  above[1] = kNoContainer;
  std::uint32_t depth = 0;
  std::uint32_t state = std::uint32_t{kBeforeRoot} << 4;
  std::uint32_t nk = 0;
  std::uint32_t ns = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t t = kByteToken[buf[idx[i]]];
    const std::uint32_t at = (std::uint32_t{above[depth]} << 8) | (t & 0xf) | state;
    state = kNextState[at];
    const std::uint32_t mark = kMarked[at];
    out.keys[nk] = i;
    nk += mark & 1;
    out.scalars[ns] = i;
    ns += mark >> 1;
    above[depth + 2] = static_cast<std::uint8_t>((t >> 4) & 3);
    depth += (t >> 6) - 1;
    // Past the depth limit (far below simdjson's), or below the root: the DOM's.
    if (depth > kMaxDepth) return false;
  }
  out.key_count = nk;
  out.scalar_count = ns;
  return state == std::uint32_t{kAfterRoot} << 4;
}

}  // namespace

bool avx512_supported() noexcept {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("popcnt");
#else
  return false;
#endif
}

Kernel best_kernel() noexcept {
  static const Kernel kernel = [] {
    const char* v = std::getenv("UNIQD_GRAMMAR");
    if (v != nullptr && std::string_view(v) == "scalar") return Kernel::scalar;
    return avx512_supported() ? Kernel::avx512 : Kernel::scalar;
  }();
  return kernel;
}

const char* kernel_name(Kernel k) noexcept {
  return k == Kernel::avx512 ? "avx512" : "scalar";
}

bool check_scalar(const std::uint8_t* buf, const std::uint32_t* idx, std::uint32_t n, Lists& out) noexcept {
  return automaton(buf, idx, n, out);
}

Checker::Checker(std::size_t max_tokens, Kernel kernel)
    : kernel_(kernel == Kernel::avx512 && !avx512_supported() ? Kernel::scalar : kernel), max_tokens_(max_tokens) {
  if (kernel_ == Kernel::avx512) scratch_ = std::make_unique<std::uint8_t[]>(kAvx512Scratch(max_tokens));
}

bool Checker::reserve(std::size_t max_tokens) noexcept {
  if (kernel_ != Kernel::avx512 || max_tokens <= max_tokens_) return true;
  std::unique_ptr<std::uint8_t[]> scratch(new (std::nothrow) std::uint8_t[kAvx512Scratch(max_tokens)]);
  if (scratch == nullptr) return false;
  scratch_ = std::move(scratch);
  max_tokens_ = max_tokens;
  return true;
}

bool Checker::check(const std::uint8_t* buf, const std::uint32_t* idx, std::uint32_t n, Lists& out) noexcept {
  if (kernel_ == Kernel::avx512 && n <= max_tokens_) return check_avx512(buf, idx, n, out, scratch_.get());
  return check_scalar(buf, idx, n, out);
}

}  // namespace uniqd::processor::json_grammar
