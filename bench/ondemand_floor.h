// The On-Demand floor's work on one frame (DESIGN §5), shared by the parse
// floor and the transport floor's --extract ondemand: the root uid and ts,
// nothing else read or validated.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace uniqd::bench {

// The root uid's length plus the root ts, or 0: something the compiler cannot
// drop. data + size + simdjson::SIMDJSON_PADDING must be readable.
inline std::uint64_t ondemand_uid_ts(simdjson::ondemand::parser& p, const char* data, std::size_t size) {
  simdjson::ondemand::document doc;
  if (p.iterate(data, size, size + simdjson::SIMDJSON_PADDING).get(doc)) return 0;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return 0;
  std::uint64_t sum = 0;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return sum;
    if (key == "uid") {
      std::string_view uid;
      if (!field.value().get_string().get(uid)) sum += uid.size();
    } else if (key == "ts") {
      std::int64_t ts;
      if (!field.value().get_int64().get(ts)) sum += static_cast<std::uint64_t>(ts);
    }
  }
  return sum;
}

}  // namespace uniqd::bench
