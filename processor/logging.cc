#include "processor/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

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

struct Shared {
  std::mutex mu;
  std::shared_ptr<spdlog::sinks::stderr_sink_mt> sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
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

}  // namespace uniqd::processor
