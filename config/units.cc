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

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  const auto [v, unit] = *parts;
  std::uint64_t per = 0;
  if (unit == "ms")
    per = 1;
  else if (unit == "s" || unit.empty())
    per = 1000;
  else if (unit == "m")
    per = 60'000;
  else if (unit == "h")
    per = 3'600'000;
  else if (unit == "d")
    per = 86'400'000;
  else
    return std::nullopt;
  auto ms = scaled(v, per);
  if (!ms) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  const auto [v, unit] = *parts;
  std::uint64_t per = 0;
  if (unit.empty() || unit == "B")
    per = 1;
  else if (unit == "KiB")
    per = 1ull << 10;
  else if (unit == "MiB")
    per = 1ull << 20;
  else if (unit == "GiB")
    per = 1ull << 30;
  else if (unit == "KB")
    per = 1000;
  else if (unit == "MB")
    per = 1000'000;
  else if (unit == "GB")
    per = 1000'000'000;
  else
    return std::nullopt;
  return scaled(v, per);
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
