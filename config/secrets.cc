#include "config/secrets.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

namespace uniqd::config {

bool is_secret_property(std::string_view name) {
  std::string lower(name);
  for (char& ch : lower) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  const std::string_view n(lower);
  if (n.find("password") != std::string_view::npos || n.find("secret") != std::string_view::npos) return true;
  // The private key itself (ssl.key.pem), librdkafka's in-memory key
  // (ssl_key), and the JAAS/OAUTHBEARER strings that embed credentials.
  return n == "ssl.key.pem" || n == "ssl_key" || n == "sasl.oauthbearer.config" || n == "sasl.jaas.config";
}

namespace {

std::optional<std::string> read_secret_file(const std::string& path, std::string& out) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return "${file:" + path + "}: cannot read " + path + ": is a directory";
  std::ifstream in(path, std::ios::binary);
  if (!in) return "${file:" + path + "}: cannot read " + path + ": " + std::strerror(errno);
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return "${file:" + path + "}: cannot read " + path + ": " + std::strerror(errno);
  if (!out.empty() && out.back() == '\n') {
    out.pop_back();
    if (!out.empty() && out.back() == '\r') out.pop_back();
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> resolve_references(std::string_view text, Resolved& out) {
  out.value.clear();
  out.had_reference = false;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t at = text.find('$', i);
    if (at == std::string_view::npos) {
      out.value.append(text.substr(i));
      break;
    }
    out.value.append(text.substr(i, at - i));
    if (text.substr(at, 3) == "$${") {
      out.value += "${";
      i = at + 3;
      continue;
    }
    if (text.substr(at, 2) != "${") {
      out.value += '$';
      i = at + 1;
      continue;
    }
    const std::size_t close = text.find('}', at);
    if (close == std::string_view::npos) {
      return std::string("'${' without a closing '}' (write $${ for a literal ${)");
    }
    const std::string_view ref = text.substr(at + 2, close - at - 2);
    out.had_reference = true;
    if (ref.starts_with("env:")) {
      const std::string name(ref.substr(4));
      if (name.empty()) return std::string("${env:} names no environment variable");
      const char* v = std::getenv(name.c_str());
      if (v == nullptr) return "environment variable " + name + " (from ${env:" + name + "}) is not set";
      out.value += v;
    } else if (ref.starts_with("file:")) {
      const std::string path(ref.substr(5));
      if (path.empty()) return std::string("${file:} names no file");
      std::string content;
      if (auto e = read_secret_file(path, content)) return e;
      out.value += content;
    } else {
      return "unknown reference ${" + std::string(ref.substr(0, ref.find(':'))) +
             ":...}; use ${env:NAME} or ${file:/path} (write $${ for a literal ${)";
    }
    i = close + 1;
  }
  return std::nullopt;
}

}  // namespace uniqd::config
