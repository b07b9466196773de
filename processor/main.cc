// uniqd: read the configuration (file, then flags), run the task. Everything
// else is in the libraries (processor/, state/, config/, kafka/).
#include <spdlog/spdlog.h>

#include "kafka/client.h"
#include "kafka/task.h"
#include "processor/application.h"
#include "processor/cli.h"
#include "processor/logging.h"

int main(int argc, char** argv) {
  uniqd::processor::setup_logging("info", uniqd::config::LogFormat::text);
  uniqd::config::Config config;
  if (auto status = uniqd::processor::parse_command_line(argc, argv, config, uniqd::kafka::check_client_properties)) {
    return *status;
  }
  uniqd::processor::setup_logging(config.log_level, config.log_format);
  try {
    if (config.input == uniqd::config::InputKind::kafka) return uniqd::kafka::run_task(config);
    return uniqd::processor::run_stream(config);
  } catch (const uniqd::processor::ConfigError& e) {
    spdlog::error("config: {}", e.what());
    return 2;
  }
}
