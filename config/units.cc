#include "config/units.h"

#include <charconv>
#include <limits>
#include <utility>

namespace uniqd::config {
namespace {

// Splits "123unit" into 123 and "unit"; nullopt on no digits or overflow.
std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  return std::pair{v, std::string_view(ptr, static_cast<std::size_t>(text.data() + text.size() - ptr))};
}

std::optional<std::uint64_t> scaled(std::uint64_t v, std::uint64_t unit) {
  if (v > std::numeric_limits<std::int64_t>::max() / unit) return std::nullopt;
  return v * unit;
}

struct Unit {
  std::string_view name;
  std::uint64_t per;  // of the base unit (milliseconds, bytes)
};
constexpr Unit kDurationUnits[] = {{"ms", 1},     {"s", 1000},      {"", 1000},
                                   {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
constexpr Unit kSizeUnits[] = {
    {"", 1},      {"B", 1},         {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
    {"KB", 1000}, {"MB", 1000'000}, {"GB", 1000'000'000}};

// "123unit" in the base unit; nullopt on no digits, an unknown unit or overflow.
template <std::size_t N>
std::optional<std::uint64_t> in_base_unit(std::string_view text, const Unit (&units)[N]) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  const auto [v, name] = *parts;
  for (const Unit& u : units) {
    if (u.name == name) return scaled(v, u.per);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  const auto ms = in_base_unit(text, kDurationUnits);
  if (!ms) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  return in_base_unit(text, kSizeUnits);
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms == 0) return "0s";
  if (ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
  if (bytes != 0 && bytes % (1ull << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
  if (bytes != 0 && bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes != 0 && bytes % (1ull << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes);
}

}  // namespace uniqd::config
