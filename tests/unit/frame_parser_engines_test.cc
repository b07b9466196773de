// The structural engine against the DOM reference (processor/frame_parser.h),
// verdict for verdict: the reject reason, and for an accepted frame its uid
// hash and ts. Values of every kind in every place a value can be, then
// mutations of realistic frames (every byte replaced by a structural or
// otherwise telling byte, deleted, doubled; every truncation). The structural
// engine runs with each grammar kernel this CPU has (json_grammar.h).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "processor/frame_parser.h"

namespace uniqd::processor {
namespace {

struct Verdict {
  std::optional<RejectReason> why;
  ParsedFrame f;
  bool operator==(const Verdict& o) const { return why == o.why && (why || (f.ts == o.f.ts && f.uid == o.f.uid)); }
};

std::string describe(const Verdict& v) {
  if (v.why) return std::string(reject_reason_name(*v.why));
  return "ok ts=" + std::to_string(v.f.ts);
}

class Engines {
 public:
  explicit Engines(TsUnit unit = TsUnit::seconds)
      : dom_(1 << 20, unit, ParserEngine::dom),
        structural_(1 << 20, unit, ParserEngine::structural),
        structural_scalar_(1 << 20, unit, ParserEngine::structural, json_grammar::Kernel::scalar) {}

  // The two verdicts on text, with padding of the given byte (its content
  // must not matter).
  void expect_same(const std::string& text, char pad = '\0') {
    std::string padded = text;
    padded.append(kFramePadding, pad);
    Verdict a, b, c;
    a.why = dom_.parse(padded.data(), text.size(), a.f);
    b.why = structural_.parse(padded.data(), text.size(), b.f);
    c.why = structural_scalar_.parse(padded.data(), text.size(), c.f);
    ++compared_;
    EXPECT_EQ(a, b) << "dom: " << describe(a) << ", structural ("
                    << json_grammar::kernel_name(structural_.grammar_kernel()) << "): " << describe(b)
                    << "\n  frame: " << text;
    EXPECT_EQ(a, c) << "dom: " << describe(a) << ", structural (scalar): " << describe(c) << "\n  frame: " << text;
  }
  std::uint64_t deferred() const { return structural_.deferred(); }
  std::uint64_t compared() const { return compared_; }

 private:
  FrameParser dom_;
  FrameParser structural_;
  FrameParser structural_scalar_;
  std::uint64_t compared_{0};
};

const std::vector<std::string> kValues = {
    // numbers
    "0",
    "-0",
    "1",
    "-1",
    "7",
    "12345",
    "0.0",
    "-0.0",
    "1.5",
    "-1.5",
    "1e5",
    "1E5",
    "1e+5",
    "1e-5",
    "1.5e10",
    "-2.5E-3",
    "1e280",
    "1e-280",
    "1e281",
    "1e-281",
    "1e308",
    "1e309",
    "1e400",
    "-1e400",
    "1e-400",
    "1e0000",
    "1e00001",
    "123456789012345678",
    "1234567890123456789",
    "12345678901234567890",
    "-1234567890123456789",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775807",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999",
    "123456789012345678901234567890",
    "0.1234567890123456789",
    "1.23456789012345678901",
    "1468244340",
    "1468244340.99",
    "1.468244340e9",
    "253402300799",
    "253402300800",
    "1468244340000",
    "00",
    "01",
    "-01",
    "1.",
    ".5",
    "-",
    "+1",
    "1e",
    "1e+",
    "1.e5",
    "1.5e",
    "--1",
    "1-",
    "0x10",
    "1.5.5",
    "1e5e5",
    "NaN",
    "Infinity",
    "-Infinity",
    "1 2",
    "1\t",
    "1\r",
    // the exponent's forms and limits, fractions at the 19-digit limit
    "0.5e-3",
    "-0.5E-3",
    "1E+5",
    "0e0",
    "-0E-0",
    "1e-0",
    "1E-05",
    "1e+280",
    "1e+281",
    "1e-280",
    "1e0280",
    "1e999",
    "9.99e279",
    "1234567890.123456789",
    "1234567890.1234567890",
    "0.0000000000000000001",
    "-00",
    "01.5",
    "-.5",
    "-0.e1",
    "1.e",
    "1e5.5",
    "1e-",
    "1e+-5",
    "1ee5",
    "1E",
    // literals
    "true",
    "false",
    "null",
    "tru",
    "truee",
    "True",
    "nul",
    "nulll",
    "fals",
    "falsey",
    "t",
    "n",
    "f",
    // strings
    "\"\"",
    "\"a\"",
    "\"abc\"",
    "\"1468244340\"",
    "\"0001468244340\"",
    "\"1.5\"",
    "\"-1\"",
    "\" 1\"",
    "\"12345678901234567890\"",
    "\"a\\\"b\"",
    "\"a\\\\\"",
    "\"\\\\\\\\\"",
    "\"\\/\"",
    "\"\\b\\f\\n\\r\\t\"",
    "\"\\u0000\"",
    "\"\\u0041\"",
    "\"\\u00e9\"",
    "\"\\u0442\"",
    "\"\\uffff\"",
    "\"\\uD83D\\uDE00\"",
    "\"\\ud83d\\ude00\"",
    "\"\\uD800\"",
    "\"\\uDC00\"",
    "\"\\uD800\\u0041\"",
    "\"\\uD800\\uD800\"",
    "\"\\uDC00\\uD800\"",
    "\"\\uD800\\\\uDC00\"",
    "\"\\uD800x\"",
    "\"\\u12\"",
    "\"\\u12G4\"",
    "\"\\U0041\"",
    "\"\\x41\"",
    "\"\\a\"",
    "\"\\'\"",
    "\"\\\"",
    "\"\\\\\\\"",
    "\"пользователь\"",
    "\"\xf0\x9f\x98\x80\"",
    "\"\xff\"",
    "\"\xc3\"",
    "\"a\tb\"",
    std::string("\"a\0b\"", 5),
    "\"a\x1f\"",
    "\"\x7f\"",
    "'a'",
    "\"a",
    // containers
    "{}",
    "[]",
    "[1]",
    "[1,2]",
    "[1,]",
    "[,1]",
    "[1 2]",
    "{\"a\":1}",
    "{\"a\":1,}",
    "{\"a\"}",
    "{\"a\":}",
    "{1:1}",
    "{\"a\" 1}",
    "{\"a\"::1}",
    "{\"a\":1 \"b\":2}",
    "[[[]]]",
    "[{}]",
    "[{\"uid\":\"x\",\"ts\":1}]",
    "{\"uid\":\"x\",\"ts\":1}",
    "{\"uid\":\"x\",\"uid\":\"y\"}",
    "[\"a\":1]",
    "[}",
    "{]",
    "[",
    "{",
    "]",
    "}",
    "[\"a\",{\"b\":[1,{\"c\":null}]}]",
    "[true,false,null]",
    "[1.5e3,-0,\"\\u0041\"]",
};

TEST(FrameParserEngines, EveryValueInEveryPlace) {
  Engines e;
  for (const std::string& v : kValues) {
    for (const std::string& frame : {
             R"({"uid":"a","ts":1,"x":)" + v + "}",
             R"({"uid":)" + v + R"(,"ts":1})",
             R"({"uid":"a","ts":)" + v + "}",
             R"({"ts":)" + v + R"(,"uid":"a"})",
             R"({"uid":"a","ts":1,"x":[)" + v + "]}",
             R"({"uid":"a","x":[1,)" + v + R"(,{"k":)" + v + R"(}],"ts":1468244340})",
             R"({"m":{"uid":)" + v + R"(,"ts":)" + v + R"(},"uid":"u","ts":7})",
             R"({)" + v + R"(:1,"uid":"a","ts":1})",
             "{\"uid\":\"a\",\"ts\":1} " + v,
             v,
         }) {
      e.expect_same(frame);
      e.expect_same(frame, '1');  // padding that looks like more digits
      e.expect_same(frame, '.');  // ... a fraction
      e.expect_same(frame, 'e');  // ... an exponent
      e.expect_same(" \t\r\n" + frame + " \t\r\n");
    }
  }
}

TEST(FrameParserEngines, RootKeys) {
  Engines e;
  for (const char* frame : {
           R"({"u\u0069d":"abc","t\u0073":9})",
           R"({"uid":"abc","t\u0073":9,"ts":1})",
           R"({"uid\u0000":"abc","uid":"x","ts":9})",
           R"({"UID":"a","ts":1})",
           R"({"uids":"a","uid":"b","ts":1})",
           R"({"ui":"a","uid":"b","t":2,"ts":1})",
           R"({"uid":"a\u0062c","ts":9})",
           R"({"uid":"a\"b\\c\/d\n\u0442","ts":9})",
           R"({"uid":"","ts":9})",
           R"({"uid":"a","ts":"\u0031\u0032"})",
           R"({"uid":"a","ts":"1\u0032"})",
           R"({"uid":"a"})",
           R"({"ts":1})",
           R"({})",
           R"({"uid":true,"ts":"x"})",
           R"({"uid":"a","uid":"b","ts":1})",
           R"({"ts":1,"uid":"a","ts":2})",
           R"({"uid":"a","ts":1,"t\u0073":2})",
           R"({"\u0075id":"a","ts":1})",
           R"({"u\id":"a","ts":1})",
           R"({"uid":"\ud800\udc00","ts":1})",
           R"({"uid":12,"ts":1})",
           R"({"uid":-7,"ts":1})",
           R"({"uid":-0,"ts":1})",
           R"({"uid":0,"ts":1})",
           R"({"uid":1.0,"ts":1})",
           R"({"uid":"a","ts":-0})",
           R"({"uid":"a","ts":-0.5})",
           R"({"uid":"a","ts":-1})",
           R"({"uid":"a","ts":999999999999999999})",
       }) {
    e.expect_same(frame);
  }
  Engines ms(TsUnit::milliseconds);
  for (const char* frame : {R"({"uid":"a","ts":1468244340999})", R"({"uid":"a","ts":"1468244340999"})",
                            R"({"uid":"a","ts":253402300800000})", R"({"uid":"a","ts":1.5e12})"}) {
    ms.expect_same(frame);
  }
}

TEST(FrameParserEngines, Depth) {
  Engines e;
  for (std::size_t d : {1u, 100u, 254u, 255u, 256u, 257u, 1022u, 1023u, 1024u, 1025u, 2000u}) {
    e.expect_same(R"({"uid":"a","ts":1,"x":)" + std::string(d, '[') + std::string(d, ']') + "}");
    e.expect_same(R"({"uid":"a","ts":1,"x":)" + std::string(d, '[') + std::string(d - 1, ']') + "}");
    std::string objects;
    for (std::size_t i = 0; i < d; ++i) objects += R"({"k":)";
    objects += "1" + std::string(d, '}');
    e.expect_same(R"({"uid":"a","ts":1,"x":)" + objects + "}");
  }
}

// Frames shaped like uniqd-gen's and the challenge's: nested objects with
// decoy uid/ts, escapes of every kind, numbers of every form.
const std::vector<std::string> kFrames = {
    R"({"uid":"a","ts":1468244340})",
    R"({"ts":"1468244340","meta":{"uid":"x","ts":1},"uid":12,"arr":[1,2.5,null,true,"\u0442"]})",
    R"({"t\u0053":"Москва\"13:39:00","level":"год\\a","ver":{"uid":"\tframe ","ts":1600561662},"min":-0.2268,)"
    R"("month":{"body":false,"body":"of \uDB01\uDEAB\/ \u003d x","admin":[-2614070208984126893,0.06,82074.556552,)"
    R"(6937887356286341531]},"code":["2016-07-11",null,{"z":[941948,-0.16977,[],"minute",false,{"os":null}]}],)"
    R"("value":-233.6E-24,"uid":"d64955c9b9b4b68ae58","a":[-9.547896e39,441212.3152],"ts":1468244340,"ok":true})",
    R"({"event":"click","text":"lorem ipsum \"dolor\" sit\\amet\/consectetur\b\t\n adipiscing",)"
    R"("ctx":{"uid":"decoy","ts":12,"nested":{"uid":7,"ts":"x"}},"ts":1468244341,"uid":"u123","n":[1,2,3]})",
};

void mutate_all(Engines& e, const std::string& base) {
  static const std::string kBytes = std::string("{}[]:,\"\\ \t\r\n0123456789-+.eEtfnux\x7f\x80\xff") + '\0';
  for (std::size_t i = 0; i < base.size(); ++i) {
    for (char b : kBytes) {
      if (base[i] == b) continue;
      std::string s = base;
      s[i] = b;
      e.expect_same(s);
    }
    e.expect_same(base.substr(0, i) + base.substr(i + 1));     // deleted
    e.expect_same(base.substr(0, i + 1) + base.substr(i));     // doubled
    e.expect_same(base.substr(0, i));                          // truncated
    e.expect_same(base.substr(0, i) + "\\" + base.substr(i));  // a backslash slipped in
  }
}

TEST(FrameParserEngines, Mutations) {
  Engines e;
  for (const std::string& f : kFrames) mutate_all(e, f);
  EXPECT_GT(e.compared(), 25000u);
}

TEST(FrameParserEngines, UsualNumbersAreSettledWithoutTheDom) {
  // Numbers the DOM accepts with room to spare are the structural engine's to
  // settle: handing them to the DOM would keep the verdicts but lose the speed.
  Engines e;
  for (const char* v : {"0", "-0", "7", "-12", "0.5", "-0.2268", "82074.556552", "1e5", "1E+5", "0.5e-3", "-233.6E-24",
                        "1e280", "1e-280", "1234567890123456789", "-1234567890123456789", "9223372036854775807",
                        "-9223372036854775807", "1234567890.123456789"}) {
    e.expect_same(std::string(R"({"uid":"a","ts":1,"x":)") + v + "}");
    e.expect_same(std::string(R"({"uid":"a","x":[)") + v + "," + v + R"(],"ts":1})");
  }
  EXPECT_EQ(e.deferred(), 0u);
  // ... and those it is not sure of are the DOM's (counted, same verdict):
  // invalid ones, and valid ones past its conservative limits (INT64_MIN and
  // 20-digit integers the DOM takes as uint64 included).
  const std::uint64_t before = e.deferred();
  for (const char* v : {"12345678901234567890", "-9223372036854775808", "18446744073709551615", "-9223372036854775809",
                        "1e281", "1e0280", "1.e5", "01", "-"}) {
    e.expect_same(std::string(R"({"uid":"a","ts":1,"x":)") + v + "}");
  }
  EXPECT_EQ(e.deferred(), before + 9);
}

TEST(FrameParserEngines, RealisticFramesAreSettledWithoutTheDom) {
  // The point of the structural engine: valid frames never reach the DOM.
  Engines e;
  for (const std::string& f : kFrames) e.expect_same(f);
  EXPECT_EQ(e.deferred(), 0u);
}

}  // namespace
}  // namespace uniqd::processor
