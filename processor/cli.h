// The command line: flags that override the configuration (issue: YAML file
// first, then flags). Errors name the flag and exit with status 2.
#pragma once

#include <optional>

#include "config/config.h"

namespace uniqd::processor {

// Fills c from argv. Returns an exit status when the process should stop
// right away (--help, --version, a bad flag: 2), nullopt to go on.
std::optional<int> parse_command_line(int argc, char** argv, config::Config& c);

}  // namespace uniqd::processor
