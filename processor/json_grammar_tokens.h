// Token classes shared by the grammar kernels (processor/json_grammar.h):
// what the first byte of a structural says it is.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace uniqd::processor::json_grammar {

constexpr std::uint8_t kOpenObject = 0, kCloseObject = 1, kOpenArray = 2, kCloseArray = 3, kColon = 4, kComma = 5,
                       kString = 6, kScalar = 7, kOther = 8, kClasses = 9;

constexpr std::array<std::uint8_t, 256> kTokenClass = [] {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = kOther;
  t['{'] = kOpenObject;
  t['}'] = kCloseObject;
  t['['] = kOpenArray;
  t[']'] = kCloseArray;
  t[':'] = kColon;
  t[','] = kComma;
  t['"'] = kString;
  for (unsigned char c : std::string_view("tfn-0123456789")) t[c] = kScalar;
  return t;
}();

}  // namespace uniqd::processor::json_grammar
