// Log lines never show a registered secret, in text or JSON.
#include "processor/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace uniqd::processor {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string logged(config::LogFormat format, const std::string& message) {
  setup_logging("info", format);
  auto log = component_logger("test");
  ::testing::internal::CaptureStderr();
  log->info("{}", message);
  log->flush();
  return ::testing::internal::GetCapturedStderr();
}

TEST(Logging, SecretsAreRedactedInTextAndJson) {
  redact_in_logs("pa\"ss\\word-42");
  redact_in_logs("abc");  // too short to redact: would garble every line
  redact_in_logs("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----");
  for (auto format : {config::LogFormat::text, config::LogFormat::json}) {
    const std::string out = logged(format,
                                   "login with pa\"ss\\word-42 twice: pa\"ss\\word-42; key line "
                                   "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC; abc stays");
    EXPECT_THAT(out, Not(HasSubstr("word-42")));
    EXPECT_THAT(out, Not(HasSubstr("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC")));
    EXPECT_THAT(out, HasSubstr("login with [redacted] twice: [redacted]; key line [redacted]; abc stays"));
  }
  setup_logging("info", config::LogFormat::text);
}

}  // namespace
}  // namespace uniqd::processor
