// The structural engine's grammar check (processor/frame_parser.h): given
// simdjson's structural index of a frame, are its tokens one JSON object
// (brackets that match, commas, colons and keys in their places), nested at
// most kMaxDepth deep? On the way it lists the root object's keys and the
// scalars (numbers, literals), whose bytes the frame parser reads next.
//
// Two kernels give the same answers: `scalar`, an automaton stepped once per
// token (the reference; any x86-64 or other CPU), and `avx512`, 64 tokens
// per step with AVX-512 and a walk over the brackets alone (chosen at run
// time when the CPU has it; bench/README.md has what it saves).
// The check looks only at the first byte of each structural; number syntax,
// literals and escapes are the frame parser's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace uniqd::processor::json_grammar {

enum class Kernel : std::uint8_t { scalar, avx512 };

// avx512 when this CPU has AVX-512 F/BW/VBMI, unless the environment says
// UNIQD_GRAMMAR=scalar (a way out, and a way to compare the two).
Kernel best_kernel() noexcept;
bool avx512_supported() noexcept;
const char* kernel_name(Kernel k) noexcept;

inline constexpr std::uint32_t kMaxDepth = 256;
// Room the lists need past their largest count: the avx512 kernel stores
// sixteen entries at a time.
inline constexpr std::size_t kListSlack = 64;

// Where the kernels write: the structural numbers of the root keys and of the
// scalars. keys needs room for (frame bytes / 4 + kListSlack) entries (a root
// member takes at least 5 bytes, "":1,), scalars for (frame bytes / 2 +
// kListSlack) (a scalar and its separator take 2).
struct Lists {
  std::uint32_t* keys{nullptr};
  std::uint32_t key_count{0};
  std::uint32_t* scalars{nullptr};
  std::uint32_t scalar_count{0};
};

class Checker {
 public:
  // max_tokens: the most structurals a frame can have (its largest size + 1).
  explicit Checker(std::size_t max_tokens, Kernel kernel = best_kernel());

  // Tokens idx[0, n) of buf, n <= max_tokens. False unless they make one JSON
  // object; the lists are complete only then.
  bool check(const std::uint8_t* buf, const std::uint32_t* idx, std::uint32_t n, Lists& out) noexcept;
  // Room for frames of up to max_tokens structurals (kept when smaller).
  // False when the memory is not there: longer frames then take the
  // automaton, same verdicts.
  bool reserve(std::size_t max_tokens) noexcept;

  Kernel kernel() const { return kernel_; }

 private:
  Kernel kernel_;
  std::size_t max_tokens_;
  std::unique_ptr<std::uint8_t[]> scratch_;  // avx512: kAvx512Scratch(max_tokens) bytes
};

// The kernels themselves (tests compare them directly).
bool check_scalar(const std::uint8_t* buf, const std::uint32_t* idx, std::uint32_t n, Lists& out) noexcept;
// scratch: kAvx512Scratch(n) bytes, any content.
constexpr std::size_t kAvx512Scratch(std::size_t n) {
  return 2 * n + 1024;
}
bool check_avx512(const std::uint8_t* buf, const std::uint32_t* idx, std::uint32_t n, Lists& out,
                  std::uint8_t* scratch) noexcept;

}  // namespace uniqd::processor::json_grammar
