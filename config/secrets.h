// Secrets in the configuration: values written as ${env:NAME} or
// ${file:/path} (how Kubernetes hands over a Secret: as an environment
// variable or a mounted file), and the librdkafka properties whose values
// must never be shown (--print-config, logs).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace uniqd::config {

// True for librdkafka properties that hold a password or a private key:
// sasl.password, ssl.key.password, ssl.keystore.password, ssl.key.pem,
// sasl.oauthbearer.client.secret, sasl.oauthbearer.config, ... (any name
// with "password" or "secret" in it, and the PEM/JAAS ones).
bool is_secret_property(std::string_view name);

// Replaces every ${env:NAME} and ${file:/path} in text by the variable's
// value or the file's content (one trailing newline dropped, as editors and
// `echo` add one); "$${" stands for a literal "${". Returns the error, naming
// the variable or file but never a value, when a variable is unset, a file
// unreadable or a reference malformed.
struct Resolved {
  std::string value;
  bool had_reference{false};
};
std::optional<std::string> resolve_references(std::string_view text, Resolved& out);

}  // namespace uniqd::config
