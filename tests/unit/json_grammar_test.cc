// The grammar kernels (processor/json_grammar.h) against each other on token
// strings: random JSON documents as tokens, then mutated (a token inserted,
// deleted or replaced, two swapped, the string cut), across the avx512
// kernel's 64-token steps and its depth limit. The scalar kernel is the
// reference (frame_parser_engines_test proves it against simdjson's DOM).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "processor/json_grammar.h"

namespace uniqd::processor::json_grammar {
namespace {

// One byte per token: its first byte is all the kernels look at.
constexpr std::string_view kTokenBytes = "{}[]:,\"1tnx\xc3";

class Kernels {
 public:
  Kernels()
      : scratch_(kAvx512Scratch(kMaxTokens)),
        keys_(2, std::vector<std::uint32_t>(kMaxTokens + kListSlack)),
        scalars_(2, std::vector<std::uint32_t>(kMaxTokens + kListSlack)) {}

  // Both kernels on tokens; false (and a test failure) when they differ.
  bool same(const std::string& tokens) {
    std::string buf = tokens;
    buf.append(64, '\0');
    std::vector<std::uint32_t> idx(tokens.size());
    for (std::uint32_t i = 0; i < idx.size(); ++i) idx[i] = i;
    const auto* b = reinterpret_cast<const std::uint8_t*>(buf.data());
    const auto n = static_cast<std::uint32_t>(idx.size());
    Lists scalar{keys_[0].data(), 0, scalars_[0].data(), 0};
    Lists avx{keys_[1].data(), 0, scalars_[1].data(), 0};
    const bool a = check_scalar(b, idx.data(), n, scalar);
    const bool v = check_avx512(b, idx.data(), n, avx, scratch_.data());
    ++compared_;
    accepted_ += a ? 1 : 0;
    EXPECT_EQ(a, v) << "tokens: " << tokens;
    if (a != v) return false;
    if (!a) return true;
    const std::vector<std::uint32_t> ks(keys_[0].begin(), keys_[0].begin() + scalar.key_count);
    const std::vector<std::uint32_t> kv(keys_[1].begin(), keys_[1].begin() + avx.key_count);
    const std::vector<std::uint32_t> ss(scalars_[0].begin(), scalars_[0].begin() + scalar.scalar_count);
    const std::vector<std::uint32_t> sv(scalars_[1].begin(), scalars_[1].begin() + avx.scalar_count);
    EXPECT_EQ(ks, kv) << "root keys differ; tokens: " << tokens;
    EXPECT_EQ(ss, sv) << "scalars differ; tokens: " << tokens;
    return ks == kv && ss == sv;
  }
  std::uint64_t compared() const { return compared_; }
  std::uint64_t accepted() const { return accepted_; }

 private:
  static constexpr std::size_t kMaxTokens = 1 << 16;
  std::vector<std::uint8_t> scratch_;
  std::vector<std::vector<std::uint32_t>> keys_;
  std::vector<std::vector<std::uint32_t>> scalars_;
  std::uint64_t compared_{0};
  std::uint64_t accepted_{0};
};

// A random JSON value as tokens, at most depth more levels deep.
void value(std::mt19937& rng, int depth, std::string& out);
void members(std::mt19937& rng, int depth, std::string& out, bool object) {
  const int count = static_cast<int>(rng() % 6);
  out += object ? '{' : '[';
  for (int i = 0; i < count; ++i) {
    if (i > 0) out += ',';
    if (object) out += "\":";
    value(rng, depth - 1, out);
  }
  out += object ? '}' : ']';
}
void value(std::mt19937& rng, int depth, std::string& out) {
  const unsigned pick = rng() % 8;
  if (depth > 0 && pick < 2) return members(rng, depth, out, true);
  if (depth > 0 && pick < 4) return members(rng, depth, out, false);
  out += "\"1tn"[pick % 4];
}

std::string mutate(std::mt19937& rng, std::string s) {
  const int changes = static_cast<int>(rng() % 3);
  for (int k = 0; k < changes && !s.empty(); ++k) {
    const std::size_t at = rng() % s.size();
    const char token = kTokenBytes[rng() % kTokenBytes.size()];
    switch (rng() % 5) {
      case 0:
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), token);
        break;
      case 1:
        s.erase(at, 1);
        break;
      case 2:
        s[at] = token;
        break;
      case 3:
        std::swap(s[at], s[rng() % s.size()]);
        break;
      default:
        s.resize(at);
        break;
    }
  }
  return s;
}

class JsonGrammar : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!avx512_supported()) GTEST_SKIP() << "this CPU has no AVX-512 F/BW/VBMI: one kernel only";
  }
};

TEST_F(JsonGrammar, KernelsAgreeOnRandomAndMutatedDocuments) {
  Kernels k;
  std::mt19937 rng(20261130);
  for (int i = 0; i < 200000 && !HasFailure(); ++i) {
    std::string doc;
    members(rng, 1 + static_cast<int>(rng() % 6), doc, true);
    k.same(doc);
    k.same(mutate(rng, doc));
  }
  // Both outcomes are exercised in bulk, not just one.
  EXPECT_GT(k.accepted(), k.compared() / 4);
  EXPECT_LT(k.accepted(), k.compared() * 3 / 4);
}

TEST_F(JsonGrammar, KernelsAgreeOnRandomTokenStrings) {
  Kernels k;
  std::mt19937 rng(7);
  for (int i = 0; i < 200000 && !HasFailure(); ++i) {
    std::string s = "{";
    const std::size_t len = rng() % 12;
    for (std::size_t j = 0; j < len; ++j) s += kTokenBytes[rng() % 8];
    k.same(s);
    k.same(s + "}");
  }
}

TEST_F(JsonGrammar, KernelsAgreeAcrossStepsAndDepthLimits) {
  Kernels k;
  // Long flat members, so brackets, keys and colons fall on every lane and
  // across the 64-token steps.
  for (int count = 0; count < 150; ++count) {
    std::string doc = "{";
    for (int m = 0; m < count; ++m) doc += m == 0 ? "\":1" : ",\":[1,t]";
    doc += "}";
    EXPECT_TRUE(k.same(doc));
    for (std::size_t at = 0; at < doc.size(); at += 7) {
      std::string cut = doc;
      cut[at] = ':';
      k.same(cut);
    }
  }
  // Nesting around the avx512 kernel's limit (127, then the scalar kernel's)
  // and the parser's (kMaxDepth).
  for (int depth : {1, 2, 63, 64, 65, 126, 127, 128, 129, 255, 256, 257, 300}) {
    for (const char* inner : {"[", "{\":"}) {
      std::string doc = "{\":";
      std::string close = "}";
      for (int d = 1; d < depth; ++d) {
        doc += inner;
        close.insert(0, inner[0] == '[' ? "]" : "}");
      }
      doc += "1";
      k.same(doc + close);
      k.same(doc + close.substr(1));
      k.same(doc + "]" + close);
    }
  }
  EXPECT_GT(k.accepted(), 10u);
}

}  // namespace
}  // namespace uniqd::processor::json_grammar
