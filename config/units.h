// Durations ("250ms", "5s", "10m", "1h", "7d") and sizes ("512", "64KiB",
// "1MiB", "1GiB") as users write them in YAML and on the command line.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace uniqd::config {

// nullopt when text is not one non-negative integer and a unit (ms s m h d);
// a bare integer is seconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// nullopt when text is not one non-negative integer and an optional unit
// (B KiB MiB GiB, or KB MB GB as powers of 1000).
std::optional<std::uint64_t> parse_size(std::string_view text);

std::string format_duration(std::chrono::milliseconds d);
std::string format_size(std::uint64_t bytes);

}  // namespace uniqd::config
