// The command line: flags that override the configuration (issue: YAML file
// first, then flags). Errors name the flag and exit with status 2.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "config/config.h"

namespace uniqd::processor {

// What a configuration holds that only another library can judge (the
// librdkafka properties: kafka::check_client_properties); the message, or
// empty when all is well.
using ConfigCheck = std::function<std::string(const config::Config&)>;

// Fills c from argv. Returns an exit status when the process should stop
// right away (--help, --version, a bad flag: 2; --print-config: 0, or 2
// when `check` finds something), nullopt to go on.
std::optional<int> parse_command_line(int argc, char** argv, config::Config& c, const ConfigCheck& check = {});

}  // namespace uniqd::processor
