#include "processor/result_json.h"

#include <simdjson.h>

#include <charconv>

namespace uniqd::processor {
namespace {

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(end - buf));
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(end - buf));
}

}  // namespace

void append_result_json(std::string& out, const WindowResult& r) {
  out += "{\"window\":\"";
  out += granularity_name(r.granularity);
  out += "\",\"start\":\"";
  out += format_utc(r.start);
  out += "\",\"end\":\"";
  out += format_utc(r.end);
  out += "\",\"start_ts\":";
  append_int(out, r.start);
  out += ",\"end_ts\":";
  append_int(out, r.end);
  out += ",\"unique_users\":";
  append_uint(out, r.unique_users);
  out += ",\"frames\":";
  append_uint(out, r.frames);
  out += r.final ? ",\"final\":true" : ",\"final\":false";
  out += ",\"revision\":";
  append_uint(out, r.revision);
  out += '}';
}

std::string result_key(const WindowResult& r) {
  std::string k(granularity_name(r.granularity));
  k += '/';
  append_int(k, r.start);
  return k;
}

bool is_valid_utf8(std::string_view bytes) {
  return simdjson::validate_utf8(bytes.data(), bytes.size());
}

bool append_json_string(std::string& out, std::string_view bytes) {
  if (!is_valid_utf8(bytes)) return false;
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return true;
}

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                            (static_cast<unsigned char>(bytes[i + 1]) << 8) | static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
}

void append_reject_json(std::string& out, RejectReason reason, std::string_view bytes, const SourcePosition& pos,
                        std::uint64_t full_size, bool line_numbers) {
  out += "{\"reason\":\"";
  out += reject_reason_name(reason);
  if (line_numbers) {
    out += "\",\"line\":";
    append_int(out, pos.offset);
  } else {
    out += "\",\"partition\":";
    append_int(out, pos.partition);
    out += ",\"offset\":";
    append_int(out, pos.offset);
  }
  out += ",\"bytes\":";
  append_uint(out, full_size);
  if (full_size > bytes.size()) out += ",\"truncated\":true";
  out += ",\"frame\":";
  const std::size_t mark = out.size();
  if (!append_json_string(out, bytes)) {
    out.resize(mark - 2);  // back to `"frame`, renamed: the bytes are not text
    out += "_base64\":\"";
    append_base64(out, bytes);
    out += '"';
  }
  out += '}';
}

}  // namespace uniqd::processor
