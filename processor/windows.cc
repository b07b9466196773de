#include "processor/windows.h"

#include <cstdio>

namespace uniqd::processor {
namespace {

constexpr std::int64_t kDay = 86400;

// Floor division: timestamps before 1970 are out of range for frames, but the
// math stays right for them so that tests can probe the edges.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::string_view granularity_name(Granularity g) {
  switch (g) {
    case Granularity::minute:
      return "minute";
    case Granularity::hour:
      return "hour";
    case Granularity::day:
      return "day";
    case Granularity::week:
      return "week";
    case Granularity::month:
      return "month";
    case Granularity::year:
      return "year";
  }
  return "?";
}

std::optional<Granularity> parse_granularity(std::string_view name) {
  for (Granularity g : kAllGranularities) {
    if (granularity_name(g) == name) return g;
  }
  return std::nullopt;
}

// Howard Hinnant's public-domain civil calendar algorithms (the idea, written
// anew): shift the year to start in March so leap days fall at its end.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = floor_div(y, 400);
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = floor_div(z, 146097);
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

Window window_of(Granularity g, std::int64_t ts) {
  switch (g) {
    case Granularity::minute: {
      const std::int64_t s = floor_div(ts, 60) * 60;
      return {s, s + 60};
    }
    case Granularity::hour: {
      const std::int64_t s = floor_div(ts, 3600) * 3600;
      return {s, s + 3600};
    }
    case Granularity::day: {
      const std::int64_t s = floor_div(ts, kDay) * kDay;
      return {s, s + kDay};
    }
    case Granularity::week: {
      // 1970-01-01 was a Thursday: day 0 is weekday 3 counting Monday as 0.
      const std::int64_t day = floor_div(ts, kDay);
      const std::int64_t monday = day - (((day + 3) % 7) + 7) % 7;
      return {monday * kDay, (monday + 7) * kDay};
    }
    case Granularity::month: {
      std::int64_t y;
      unsigned m, d;
      civil_from_days(floor_div(ts, kDay), y, m, d);
      const std::int64_t s = days_from_civil(y, m, 1) * kDay;
      const std::int64_t e = (m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1)) * kDay;
      return {s, e};
    }
    case Granularity::year: {
      std::int64_t y;
      unsigned m, d;
      civil_from_days(floor_div(ts, kDay), y, m, d);
      return {days_from_civil(y, 1, 1) * kDay, days_from_civil(y + 1, 1, 1) * kDay};
    }
  }
  return {ts, ts + 1};
}

std::string format_utc(std::int64_t ts) {
  const std::int64_t day = floor_div(ts, kDay);
  const std::int64_t sod = ts - day * kDay;
  std::int64_t y;
  unsigned m, d;
  civil_from_days(day, y, m, d);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(sod / 3600), static_cast<long long>(sod / 60 % 60),
                static_cast<long long>(sod % 60));
  return buf;
}

}  // namespace uniqd::processor
