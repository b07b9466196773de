// Calendar math for tumbling UTC windows. Pure functions, no state: the one
// place that knows what "the ISO week of a timestamp" means.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace uniqd::processor {

// Ordered from shortest to longest; results of one watermark step are
// emitted in this order, so keep it stable.
enum class Granularity : std::uint8_t { minute, hour, day, week, month, year };
inline constexpr int kGranularityCount = 6;
inline constexpr std::array<Granularity, kGranularityCount> kAllGranularities{
    Granularity::minute, Granularity::hour, Granularity::day, Granularity::week, Granularity::month, Granularity::year};

struct Window {
  std::int64_t start;  // unix seconds, inclusive
  std::int64_t end;    // unix seconds, exclusive
};

std::string_view granularity_name(Granularity g);
std::optional<Granularity> parse_granularity(std::string_view name);

// The window of granularity g that contains unix second ts (any int64 in
// the supported range 0 .. 9999-12-31).
Window window_of(Granularity g, std::int64_t ts);

// RFC 3339 UTC text of a unix second: "2016-07-11T13:39:00Z".
std::string format_utc(std::int64_t ts);

// Civil date <-> days since 1970-01-01 (proleptic Gregorian), exposed for
// tests and for the week/month/year rules.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d);

}  // namespace uniqd::processor
