#include "processor/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>

#include <cstdio>
#include <mutex>
#include <string_view>
#include <vector>

namespace uniqd::processor {
namespace {

// %j: the message as a JSON string body. spdlog's %v would let a quote or a
// newline in a message (a topic name, a broker error) break the line.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char ch : std::string_view(msg.payload.data(), msg.payload.size())) {
      const auto c = static_cast<unsigned char>(ch);
      if (c == '"' || c == '\\') {
        dest.push_back('\\');
        dest.push_back(ch);
      } else if (c < 0x20) {
        const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        dest.append(esc, esc + 6);
      } else {
        dest.push_back(ch);
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonEscapedMessage>(); }
};

// stderr, with every registered secret replaced in the message before it is
// formatted (so a JSON line's escaping cannot hide it). The secrets are read
// under the sink's lock, which redact_in_logs takes too.
class RedactingStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void add_secret(std::string secret) {
    std::lock_guard lock(mutex_);
    secrets_.push_back(std::move(secret));
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (!secrets_.empty() && contains_secret(payload)) {
      std::string text(payload);
      for (const std::string& s : secrets_) {
        for (std::size_t at = text.find(s); at != std::string::npos; at = text.find(s, at + kMark.size())) {
          text.replace(at, s.size(), kMark);
        }
      }
      spdlog::details::log_msg copy = msg;
      copy.payload = text;
      formatter_->format(copy, line);
    } else {
      formatter_->format(msg, line);
    }
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  static constexpr std::string_view kMark = "[redacted]";
  bool contains_secret(std::string_view text) const {
    for (const std::string& s : secrets_) {
      if (text.find(s) != std::string_view::npos) return true;
    }
    return false;
  }
  std::vector<std::string> secrets_;
};

struct Shared {
  std::mutex mu;
  std::shared_ptr<RedactingStderrSink> sink = std::make_shared<RedactingStderrSink>();
  spdlog::level::level_enum level = spdlog::level::info;
  config::LogFormat format = config::LogFormat::text;
};

Shared& shared() {
  static Shared s;
  return s;
}

std::unique_ptr<spdlog::formatter> make_formatter(config::LogFormat format) {
  auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (format == config::LogFormat::json) {
    f->add_flag<JsonEscapedMessage>('j').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","component":"%n","msg":"%j"})");
  } else {
    f->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%n] %v");
  }
  return f;
}

void configure(spdlog::logger& l, const Shared& s) {
  l.set_level(s.level);
  l.set_formatter(make_formatter(s.format));
}

}  // namespace

void setup_logging(const std::string& level, config::LogFormat format) {
  Shared& s = shared();
  std::lock_guard lock(s.mu);
  s.level = spdlog::level::from_str(level);
  s.format = format;
  auto main = spdlog::get("uniqd");
  if (!main) {
    main = std::make_shared<spdlog::logger>("uniqd", s.sink);
    spdlog::register_logger(main);
  }
  spdlog::set_default_logger(main);
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { configure(*l, s); });
}

std::shared_ptr<spdlog::logger> component_logger(const std::string& name) {
  Shared& s = shared();
  std::lock_guard lock(s.mu);
  if (auto existing = spdlog::get(name)) return existing;
  auto l = std::make_shared<spdlog::logger>(name, s.sink);
  configure(*l, s);
  spdlog::register_logger(l);
  return l;
}

void redact_in_logs(const std::string& secret) {
  constexpr std::size_t kMin = 4;
  // A PEM's lines are 64 characters; shorter pieces ("-----END ...") are not secret.
  constexpr std::size_t kMinLine = 16;
  if (secret.size() < kMin) return;
  RedactingStderrSink& sink = *shared().sink;
  sink.add_secret(secret);
  if (secret.find('\n') == std::string::npos) return;
  std::size_t b = 0;
  while (b < secret.size()) {
    std::size_t e = secret.find('\n', b);
    if (e == std::string::npos) e = secret.size();
    std::string line = secret.substr(b, e - b);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() >= kMinLine && !line.starts_with("-----")) sink.add_secret(line);
    b = e + 1;
  }
}

}  // namespace uniqd::processor
