// Secrets in the configuration: ${env:...} and ${file:...} references, the
// client block, and --print-config never showing a password or key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/loader.h"
#include "config/secrets.h"

namespace uniqd::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string temp_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::path(::testing::TempDir()) / ("uniqd_secrets_" + name);
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

std::string error_of(const std::string& yaml) {
  Config c;
  try {
    load_config_string(yaml, "t.yaml", c);
  } catch (const ConfigFileError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "no error for:\n" << yaml;
  return "";
}

TEST(Secrets, SecretPropertyNames) {
  for (const char* name :
       {"sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem", "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.config", "ssl_key", "SASL.PASSWORD", "sasl.jaas.config"}) {
    EXPECT_TRUE(is_secret_property(name)) << name;
  }
  for (const char* name : {"sasl.username", "security.protocol", "ssl.ca.location", "ssl.certificate.pem",
                           "ssl.key.location", "sasl.mechanism", "bootstrap.servers", "linger.ms"}) {
    EXPECT_FALSE(is_secret_property(name)) << name;
  }
}

TEST(Secrets, ResolvesEnvAndFile) {
  ::setenv("UNIQD_TEST_SECRET_A", "s3cr3t-A", 1);
  const std::string file = temp_file("pw", "from-file\n");
  Resolved r;
  ASSERT_FALSE(resolve_references("${env:UNIQD_TEST_SECRET_A}", r));
  EXPECT_EQ(r.value, "s3cr3t-A");
  EXPECT_TRUE(r.had_reference);
  ASSERT_FALSE(resolve_references("${file:" + file + "}", r));
  EXPECT_EQ(r.value, "from-file");  // one trailing newline dropped
  ASSERT_FALSE(resolve_references("host-${env:UNIQD_TEST_SECRET_A}:9093", r));
  EXPECT_EQ(r.value, "host-s3cr3t-A:9093");
  ASSERT_FALSE(resolve_references("plain $HOME $${env:X} 100$", r));
  EXPECT_EQ(r.value, "plain $HOME ${env:X} 100$");
  EXPECT_FALSE(r.had_reference);
  // A file keeps inner newlines (a PEM) and only one trailing newline goes.
  const std::string pem = temp_file("pem", "-----BEGIN X-----\nabc\n-----END X-----\n\n");
  ASSERT_FALSE(resolve_references("${file:" + pem + "}", r));
  EXPECT_EQ(r.value, "-----BEGIN X-----\nabc\n-----END X-----\n");
}

TEST(Secrets, ErrorsNameTheVariableOrFileNeverAValue) {
  ::unsetenv("UNIQD_TEST_UNSET");
  Resolved r;
  auto e = resolve_references("${env:UNIQD_TEST_UNSET}", r);
  ASSERT_TRUE(e);
  EXPECT_THAT(*e, HasSubstr("UNIQD_TEST_UNSET"));
  EXPECT_THAT(*e, HasSubstr("not set"));
  e = resolve_references("${file:/nonexistent/uniqd/pw}", r);
  ASSERT_TRUE(e);
  EXPECT_THAT(*e, HasSubstr("/nonexistent/uniqd/pw"));
  e = resolve_references("${vault:x}", r);
  ASSERT_TRUE(e);
  EXPECT_THAT(*e, HasSubstr("unknown reference ${vault:"));
  EXPECT_TRUE(resolve_references("${env:X", r));
  EXPECT_TRUE(resolve_references("${env:}", r));
}

TEST(Secrets, LoaderResolvesAndNamesTheKey) {
  ::setenv("UNIQD_TEST_PW", "hunter2-pw", 1);
  ::unsetenv("UNIQD_TEST_NOPE");
  Config c;
  load_config_string("kafka:\n  brokers: ${env:UNIQD_TEST_PW}:1\n  client:\n    sasl.password: ${env:UNIQD_TEST_PW}\n",
                     "t.yaml", c);
  EXPECT_EQ(c.kafka.brokers, "hunter2-pw:1");
  EXPECT_EQ(c.kafka.client.at("sasl.password"), "hunter2-pw");

  const std::string msg = error_of("kafka:\n  client:\n    sasl.password: ${env:UNIQD_TEST_NOPE}\n");
  EXPECT_THAT(msg, HasSubstr("t.yaml:3:20: kafka.client.sasl.password: environment variable UNIQD_TEST_NOPE"));
  EXPECT_THAT(error_of("kafka:\n  producer:\n    ssl.key.pem: ${file:/nonexistent/key.pem}\n"),
              HasSubstr("kafka.producer.ssl.key.pem: ${file:/nonexistent/key.pem}: cannot read"));
  EXPECT_THAT(error_of("application_id: ${env:UNIQD_TEST_NOPE}\n"), HasSubstr("application_id: environment variable"));
}

TEST(Secrets, PrintConfigShowsReferencesOrRedacts) {
  ::setenv("UNIQD_TEST_PW", "hunter2-pw", 1);
  const std::string key =
      temp_file("key", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n");
  Config c;
  load_config_string(
      "kafka:\n  client:\n    security.protocol: SASL_SSL\n    sasl.username: uniqd\n"
      "    sasl.password: ${env:UNIQD_TEST_PW}\n    ssl.key.pem: ${file:" +
          key +
          "}\n"
          "  consumer:\n    ssl.key.password: literal-secret\n",
      "t.yaml", c);
  const std::string text = to_yaml(c);
  EXPECT_THAT(text, Not(HasSubstr("hunter2-pw")));
  EXPECT_THAT(text, Not(HasSubstr("literal-secret")));
  EXPECT_THAT(text, Not(HasSubstr("MIIEvQ")));
  EXPECT_THAT(text, HasSubstr("sasl.password: ${env:UNIQD_TEST_PW}"));
  EXPECT_THAT(text, HasSubstr("ssl.key.pem: ${file:" + key + "}"));
  EXPECT_THAT(text, HasSubstr("ssl.key.password: \"[redacted]\""));
  EXPECT_THAT(text, HasSubstr("security.protocol: SASL_SSL"));
  EXPECT_THAT(text, HasSubstr("sasl.username: uniqd"));

  // Printed references read back to the same values.
  Config back;
  load_config_string(text, "printed", back);
  EXPECT_EQ(back.kafka.client, c.kafka.client);
  EXPECT_EQ(to_yaml(back), text);

  // A map given again replaces the references into the old one.
  load_config_string("kafka:\n  client:\n    sasl.password: now-literal\n", "t2.yaml", c);
  EXPECT_THAT(to_yaml(c), HasSubstr("sasl.password: \"[redacted]\""));
}

}  // namespace
}  // namespace uniqd::config
