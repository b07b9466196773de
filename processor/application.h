// Wiring: turns a Config into a running task (source → engine → sinks) and
// reports on it. main.cc only parses the command line and calls run().
#pragma once

#include <stdexcept>
#include <string>

#include "config/config.h"
#include "processor/engine.h"

namespace uniqd::processor {

// A setting that cannot work, with the key that holds it.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& key, const std::string& what) : std::runtime_error(key + ": " + what), key_(key) {}
  const std::string& key() const { return key_; }

 private:
  std::string key_;
};

// Engine options from the user's configuration; throws ConfigError.
EngineOptions make_engine_options(const config::Config& c);

// Parse threads to start beside the counting thread (0 in the file: one per
// available core (cores.h), up to 8, none on one core); <= 0 means parse
// inline.
int parse_threads(const config::Config& c);

// Runs stdin/file mode to the end of input. Returns the exit status.
int run_stream(const config::Config& c);

// One line for standard error: frames, bytes, rejects by reason, results.
std::string summary_line(const EngineStats& s, double seconds, std::uint64_t peak_pairs, std::size_t peak_bytes);

}  // namespace uniqd::processor
