#include "processor/frame_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace uniqd::processor {
namespace {

struct Parsed {
  std::optional<RejectReason> why;
  ParsedFrame f;
};

// Every test runs on both engines (processor/frame_parser.h): the DOM
// reference and the structural one must give the same verdicts.
ParserEngine g_engine = ParserEngine::dom;

Parsed parse(const std::string& text, TsUnit unit = TsUnit::seconds) {
  FrameParser p(1 << 20, unit, g_engine);
  std::string padded = text;
  padded.append(kFramePadding, '\0');
  Parsed out;
  out.why = p.parse(padded.data(), text.size(), out.f);
  return out;
}

void expect_ok(const std::string& text, std::string_view uid, std::int64_t ts, TsUnit unit = TsUnit::seconds) {
  Parsed p = parse(text, unit);
  ASSERT_FALSE(p.why) << text << " -> " << reject_reason_name(*p.why);
  EXPECT_EQ(p.f.uid, hash_uid(uid)) << text;
  EXPECT_EQ(p.f.ts, ts) << text;
}

void expect_reject(const std::string& text, RejectReason r, TsUnit unit = TsUnit::seconds) {
  Parsed p = parse(text, unit);
  ASSERT_TRUE(p.why) << text << " was accepted";
  EXPECT_EQ(reject_reason_name(*p.why), reject_reason_name(r)) << text;
}

class FrameParserTest : public ::testing::TestWithParam<ParserEngine> {
 protected:
  void SetUp() override { g_engine = GetParam(); }
};

TEST(FrameParserGrowth, FramesLongerThanItsFirstBuffersStayOnTheStructuralEngine) {
  // The buffers start at 64 KiB and grow (doubling) with the frames seen:
  // a long frame is parsed there, not handed to the DOM parse.
  FrameParser p(8u << 20, TsUnit::seconds, ParserEngine::structural);
  FrameParser dom(8u << 20, TsUnit::seconds, ParserEngine::dom);
  for (std::size_t filler : {100u, 70000u, 300000u, 3000000u, 8000000u, 1000u}) {
    std::string text = R"({"ts":1468244340,"junk":[)";
    while (text.size() < filler) text += R"({"uid":"decoy","n":[1.5e3,true,null,"a\"b"]},)";
    text += R"(0],"uid":"u1"})";
    for (const bool broken : {false, true}) {
      std::string frame = broken ? text.substr(0, text.size() - 1) : text;  // no closing brace
      const std::size_t size = frame.size();
      frame.append(kFramePadding, '\0');
      ParsedFrame f, g;
      const std::uint64_t deferred = p.deferred();
      const auto why = p.parse(frame.data(), size, f);
      // A broken frame goes to the DOM parse for its verdict, by design.
      if (!broken) {
        EXPECT_EQ(p.deferred(), deferred) << size << ": sent to the DOM parse instead of growing";
      }
      EXPECT_EQ(why.has_value(), broken) << size;
      EXPECT_EQ(dom.parse(frame.data(), size, g).has_value(), broken) << size;
      if (!broken) {
        EXPECT_EQ(f.uid, hash_uid("u1")) << size;
        EXPECT_EQ(f.ts, 1468244340) << size;
      }
    }
  }
}

TEST_P(FrameParserTest, RootKeysInAnyOrder) {
  expect_ok(R"({"uid":"abc","ts":1468244340})", "abc", 1468244340);
  expect_ok(R"({"ts":1468244340,"x":[1,2,{"a":null}],"uid":"abc"})", "abc", 1468244340);
  expect_ok(" \t{\"uid\":\"abc\",\"ts\":1}\t ", "abc", 1);
}

TEST_P(FrameParserTest, NestedDecoysAreIgnored) {
  expect_ok(R"({"meta":{"uid":"decoy","ts":5},"uid":"real","arr":[{"uid":1,"ts":"x"}],"ts":7})", "real", 7);
  // Nested duplicates are fine; only the root is checked.
  expect_ok(R"({"m":{"uid":1,"uid":2},"uid":"u","ts":7})", "u", 7);
}

TEST_P(FrameParserTest, EscapedKeysAndValues) {
  expect_ok(R"({"u\u0069d":"abc","t\u0073":9})", "abc", 9);
  expect_ok(R"({"uid":"a\"b\\c\/d\n\u0442","ts":9})", "a\"b\\c/d\n\xd1\x82", 9);
  expect_ok(R"({"uid":"пользователь","ts":9})", "пользователь", 9);
  expect_ok(R"({"uid":"","ts":9})", "", 9);
}

TEST_P(FrameParserTest, TsForms) {
  expect_ok(R"({"uid":"a","ts":"1468244340"})", "a", 1468244340);
  expect_ok(R"({"uid":"a","ts":1468244340.99})", "a", 1468244340);
  expect_ok(R"({"uid":"a","ts":1.468244340e9})", "a", 1468244340);
  expect_ok(R"({"uid":"a","ts":1468244340999})", "a", 1468244340, TsUnit::milliseconds);
  expect_ok(R"({"uid":"a","ts":"1468244340999"})", "a", 1468244340, TsUnit::milliseconds);
  expect_ok(R"({"uid":"a","ts":0})", "a", 0);
  expect_ok(R"({"uid":"a","ts":253402300799})", "a", 253402300799);
  // Truncation toward zero; leading zeros of a digit string do not count.
  expect_ok(R"({"uid":"a","ts":-0.5})", "a", 0);
  expect_ok(R"({"uid":"a","ts":"00000000001468244340"})", "a", 1468244340);
  expect_ok(R"({"uid":"a","ts":"0"})", "a", 0);
  expect_ok(R"({"uid":"a","ts":"000"})", "a", 0);
  // Past 9999-12-31 (a flipped high bit, ms sent as s): future, not bad_ts.
  expect_reject(R"({"uid":"a","ts":253402300800})", RejectReason::future);
  expect_reject(R"({"uid":"a","ts":1468244340000})", RejectReason::future);
  expect_reject(R"({"uid":"a","ts":253402300800000})", RejectReason::future, TsUnit::milliseconds);
  expect_reject(R"({"uid":"a","ts":"12345678901234567890"})", RejectReason::future);
  expect_reject(R"({"uid":"a","ts":"9223372036854775808"})", RejectReason::future);
  expect_reject(R"({"uid":"a","ts":18446744073709551615})", RejectReason::future);
  expect_reject(R"({"uid":"a","ts":9223372036854775807})", RejectReason::future);
  expect_reject(R"({"uid":"a","ts":1e300})", RejectReason::future);
  expect_reject(R"({"uid":"a","ts":-1})", RejectReason::bad_ts);
  expect_reject(R"({"uid":"a","ts":-1.0})", RejectReason::bad_ts);
  expect_reject(R"({"uid":"a","ts":" 1"})", RejectReason::bad_ts);
  expect_reject(R"({"uid":"a","ts":"1.5"})", RejectReason::bad_ts);
  expect_reject(R"({"uid":"a","ts":"-1"})", RejectReason::bad_ts);
  expect_reject(R"({"uid":"a","ts":""})", RejectReason::bad_ts);
  expect_reject(R"({"uid":"a","ts":true})", RejectReason::bad_ts);
  expect_reject(R"({"uid":"a","ts":null})", RejectReason::bad_ts);
  expect_reject(R"({"uid":"a","ts":{"s":1}})", RejectReason::bad_ts);
}

TEST_P(FrameParserTest, UidForms) {
  expect_ok(R"({"uid":12345,"ts":1})", "12345", 1);
  expect_ok(R"({"uid":-7,"ts":1})", "-7", 1);
  expect_ok(R"({"uid":18446744073709551615,"ts":1})", "18446744073709551615", 1);
  expect_reject(R"({"uid":1.5,"ts":1})", RejectReason::bad_uid_type);
  expect_reject(R"({"uid":1e3,"ts":1})", RejectReason::bad_uid_type);
  expect_reject(R"({"uid":true,"ts":1})", RejectReason::bad_uid_type);
  expect_reject(R"({"uid":null,"ts":1})", RejectReason::bad_uid_type);
  expect_reject(R"({"uid":["a"],"ts":1})", RejectReason::bad_uid_type);
  expect_reject(R"({"uid":{"id":"a"},"ts":1})", RejectReason::bad_uid_type);
}

TEST_P(FrameParserTest, ClassifiesBrokenFrames) {
  expect_reject(R"({"uid":"a","ts":1)", RejectReason::malformed_json);    // truncated
  expect_reject(R"({"uid":"a","ts":1}})", RejectReason::malformed_json);  // trailing
  expect_reject(R"({"uid":"a","ts":1} {"x":1})", RejectReason::malformed_json);
  expect_reject(R"({"uid":"a","ts":1,"x":tru})", RejectReason::malformed_json);
  expect_reject(R"({"uid":"a","ts":1,"x":"\q"})", RejectReason::malformed_json);
  expect_reject(R"({"uid":"a","ts":1,"x":01})", RejectReason::malformed_json);
  expect_reject(R"({"uid":"a","ts":1,"x":123456789012345678901234567890})", RejectReason::malformed_json);
  expect_reject(R"([{"uid":"a","ts":1}])", RejectReason::malformed_json);
  expect_reject(R"("just a string")", RejectReason::malformed_json);
  expect_reject("", RejectReason::malformed_json);
  expect_reject(std::string("{\"uid\":\"a\0b\",\"ts\":1}", 19), RejectReason::malformed_json);
  expect_reject("{\"uid\":\"a\xff\",\"ts\":1}", RejectReason::malformed_json);  // invalid UTF-8
  expect_reject("{\"uid\":\"a\xc3\",\"ts\":1}", RejectReason::malformed_json);  // cut UTF-8
  std::string deep(2000, '[');
  expect_reject("{\"uid\":\"a\",\"ts\":1,\"x\":" + deep + std::string(2000, ']') + "}", RejectReason::malformed_json);
}

TEST_P(FrameParserTest, ClassifiesRootKeyProblemsInOrder) {
  expect_reject(R"({"uid":"a","uid":"b","ts":1})", RejectReason::duplicate_key);
  expect_reject(R"({"uid":"a","ts":1,"t\u0073":2})", RejectReason::duplicate_key);
  expect_reject(R"({"ts":1})", RejectReason::missing_uid);
  expect_reject(R"({"uid":"a"})", RejectReason::missing_ts);
  expect_reject(R"({})", RejectReason::missing_uid);
  expect_reject(R"({"uid":true,"ts":"x"})", RejectReason::bad_uid_type);  // uid is checked before ts
  expect_reject(R"({"UID":"a","ts":1})", RejectReason::missing_uid);      // keys are case-sensitive
}

TEST_P(FrameParserTest, SurvivesArbitraryBytes) {
  // Every byte value at every position of a small frame: never a crash, and
  // everything but the valid frame is classified.
  const std::string base = R"({"uid":"a","ts":1})";
  FrameParser p(1 << 16, TsUnit::seconds, g_engine);
  for (std::size_t i = 0; i < base.size(); ++i) {
    for (int b = 0; b < 256; ++b) {
      std::string s = base;
      s[i] = static_cast<char>(b);
      std::string padded = s + std::string(kFramePadding, 'x');
      ParsedFrame f;
      (void)p.parse(padded.data(), s.size(), f);
    }
  }
}

// SEMANTICS §1: one blank rule for lines and Kafka values.
TEST(BlankFrame, EmptyOrOnlyJsonWhitespace) {
  EXPECT_TRUE(is_blank_frame(""));
  EXPECT_TRUE(is_blank_frame(std::string_view()));  // a Kafka tombstone (null value)
  EXPECT_TRUE(is_blank_frame(" "));
  EXPECT_TRUE(is_blank_frame("\t \t"));
  EXPECT_TRUE(is_blank_frame(" \r "));
  EXPECT_TRUE(is_blank_frame("\r"));
  EXPECT_TRUE(is_blank_frame("\r\n"));
  EXPECT_TRUE(is_blank_frame(" \n\t\r "));
  EXPECT_FALSE(is_blank_frame("x"));
  EXPECT_FALSE(is_blank_frame("  {} "));
  EXPECT_FALSE(is_blank_frame(" \v "));  // not JSON whitespace
  EXPECT_FALSE(is_blank_frame(" \f "));
  EXPECT_FALSE(is_blank_frame(std::string_view("\0", 1)));
  EXPECT_FALSE(is_blank_frame("\xc2\xa0"));  // U+00A0: not JSON whitespace
}

// What is blank never parses as a frame: nothing blank could be a reject
// other than through this rule.
TEST(BlankFrame, BlankFramesAreNotJson) {
  for (const char* text : {" \r ", "\r", "\n", " \t\r\n"}) {
    EXPECT_EQ(parse(text).why, RejectReason::malformed_json) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, FrameParserTest, ::testing::Values(ParserEngine::dom, ParserEngine::structural),
                         [](const ::testing::TestParamInfo<ParserEngine>& i) {
                           return i.param == ParserEngine::dom ? std::string("dom") : std::string("structural");
                         });

}  // namespace
}  // namespace uniqd::processor
