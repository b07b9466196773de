// uniqd: parse the command line, run the task. Everything else is in the
// libraries (processor/, state/, config/).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "processor/application.h"
#include "processor/cli.h"
#include "kafka/task.h"

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("uniqd"));
  uniqd::config::Config config;
  if (auto status = uniqd::processor::parse_command_line(argc, argv, config)) return *status;
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  try {
    if (config.input == uniqd::config::InputKind::kafka) return uniqd::kafka::run_task(config);
    return uniqd::processor::run_stream(config);
  } catch (const uniqd::processor::ConfigError& e) {
    spdlog::error("config: {}", e.what());
    return 2;
  }
}
