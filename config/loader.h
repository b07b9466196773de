// The YAML configuration file (schema and defaults: config/uniqd.example.yaml).
// Every mistake is reported before anything starts, as one line a user can
// jump to: "<file>:<line>:<column>: <key.path>: <what is wrong>".
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "config/config.h"

namespace uniqd::config {

class ConfigFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads a YAML file over the values already in c (normally the defaults).
// On error throws ConfigFileError and leaves c unchanged. An empty file, or
// one with only comments, changes nothing.
void load_config_file(const std::string& path, Config& c);
// The same for YAML text; name_for_errors stands in for the file name.
void load_config_string(const std::string& yaml, const std::string& name_for_errors, Config& c);

// metrics_address: a host, then after the last ':' a port written in digits
// only, 0 to 65535 (0: any free port). nullopt for anything else, so that
// "host:99999" or "host:9465abc" is refused rather than read as some port.
struct HostPort {
  std::string host;
  int port{0};
};
std::optional<HostPort> parse_host_port(std::string_view text);
// The accepted form, for messages: "'<address>' " + kHostPortForm.
inline constexpr std::string_view kHostPortForm =
    "is not host:port with a port from 0 to 65535 (0: any free port; example: 0.0.0.0:9464)";

// What --print-config shows instead of a secret written in the file as it is.
inline constexpr std::string_view kRedacted = "[redacted]";

// The effective configuration as YAML in the same schema, every key present
// (for --print-config). Loading it over any Config gives back c, provided c
// itself would pass the loader's checks and holds no secret written as it is
// (secret properties are shown as their ${env:...}/${file:...} reference, or
// as kRedacted). A literal "${" in a value is written "$${", so it reads back
// as text rather than as a reference.
std::string to_yaml(const Config& c);

}  // namespace uniqd::config
