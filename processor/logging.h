// Logs: one stderr sink shared by a logger per component ("stream",
// "kafka", "metrics", "rdkafka"), as text or as JSON lines (log.format: json) that log
// shippers can take as they are.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "config/config.h"

namespace uniqd::processor {

// Call once, early; loggers made before it keep working with the defaults.
void setup_logging(const std::string& level, config::LogFormat format);
// The component's logger, made on first use with the shared sink.
std::shared_ptr<spdlog::logger> component_logger(const std::string& name);
// From now on, every log line (text or JSON, any component, librdkafka's
// included) shows [redacted] where it would show secret. Secrets shorter
// than 4 bytes are ignored (redacting them would garble every line); a
// multi-line secret (a PEM key) is also redacted line by line.
void redact_in_logs(const std::string& secret);

}  // namespace uniqd::processor
