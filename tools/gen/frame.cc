// uniqd-gen: frame generator core. See README.md in this directory.
#include "frame.hh"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "words.hh"

namespace uniqd::gen {

namespace {

using namespace std::string_view_literals;

constexpr std::string_view kHexLower = "0123456789abcdef";
constexpr std::string_view kHexUpper = "0123456789ABCDEF";
constexpr int64_t kMaxTsSeconds = 253402300799;  // 9999-12-31T23:59:59Z

// Per-frame stream ids (see rng.hh).
enum Stream : uint64_t {
  sContent = 1,
  sDelay,
  sGap,
  sBlank,
  sMalformed = 10,
  sMissingUid,
  sMissingTs,
  sDupKey,
  sBadType,
  sUidNumber,
  sEscapedKey,
  sEscapedUid,
  sCrlf,
  sFlip,
  sTsString,
  sTsFloat,
};

// Helpers work on std::string and on Text.
template <class S>
void put_int(S& s, int64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  s += std::string_view(buf, static_cast<size_t>(res.ptr - buf));
}

template <class S>
void put_uint(S& s, uint64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  s += std::string_view(buf, static_cast<size_t>(res.ptr - buf));
}

template <class S>
void put_hex(S& s, uint64_t v, int digits) {
  char buf[16];
  for (int k = 0; k < digits; ++k) buf[k] = kHexLower[(v >> (4 * (digits - 1 - k))) & 15];
  s += std::string_view(buf, static_cast<size_t>(digits));
}

// "\uXXXX" with random hex letter case.
template <class S>
void put_u_escape(S& s, unsigned cp, Rng& r) {
  const std::string_view hex = r.below(2) ? kHexUpper : kHexLower;
  const char buf[6] = {'\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15], hex[cp & 15]};
  s += std::string_view(buf, 6);
}

template <class Arr>
std::string_view pick(const Arr& a, Rng& r) {
  return a[r.below(a.size())];
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::string_view escaped_key_variant(int target, Rng& r) {
  static constexpr std::array kUid = {R"("u\u0069d")"sv, R"("\u0075id")"sv, R"("ui\u0064")"sv,
                                      R"("\u0075\u0069\u0064")"sv};
  static constexpr std::array kTs = {R"("t\u0073")"sv, R"("\u0074s")"sv, R"("\u0074\u0073")"sv};
  return target == 0 ? pick(kUid, r) : pick(kTs, r);
}

// Escaped code point: mostly BMP (incl. control chars and NUL), sometimes a
// surrogate pair; never a lone surrogate.
void u_escape(std::string& s, Rng& r) {
  const unsigned u = r.pct();
  if (u < 10) {  // surrogate pair (astral code point)
    put_u_escape(s, 0xD800 + static_cast<unsigned>(r.below(0x400)), r);
    put_u_escape(s, 0xDC00 + static_cast<unsigned>(r.below(0x400)), r);
    return;
  }
  unsigned cp;
  if (u < 40) {
    cp = static_cast<unsigned>(r.below(0x80));  // ASCII incl. control chars and NUL
  } else if (u < 75) {
    cp = 0x400 + static_cast<unsigned>(r.below(0x100));  // Cyrillic
  } else if (u < 92) {
    cp = 0xA0 + static_cast<unsigned>(r.below(0xD800 - 0xA0));
  } else {
    cp = 0xE000 + static_cast<unsigned>(r.below(0xFFFE - 0xE000));
  }
  put_u_escape(s, cp, r);
}

// One random string body (JSON-escaped text without the quotes): ASCII and
// Cyrillic words, spaces, escapes, \uXXXX, digits, other UTF-8.
void random_body(std::string& s, Rng& r) {
  size_t want;
  const unsigned u = r.pct();
  if (u < 70) {
    want = 3 + r.below(22);
  } else if (u < 95) {
    want = 24 + r.below(97);
  } else {
    want = 120 + r.below(281);
  }
  const size_t start = s.size();
  while (s.size() - start < want) {
    const unsigned t = r.pct();
    if (t < 55) {
      if (s.size() != start && r.below(2)) s += ' ';
      s += pick(words::kAscii, r);
    } else if (t < 70) {
      if (s.size() != start) {
        s += ' ';
      } else {
        s += pick(words::kAscii, r);
      }
    } else if (t < 82) {
      s += pick(words::kCyrillic, r);
    } else if (t < 90) {
      s += pick(words::kEscapes, r);
    } else if (t < 95) {
      u_escape(s, r);
    } else if (t < 98) {
      put_uint(s, r.below(100000));
    } else {
      s += pick(words::kOtherUtf8, r);
    }
  }
}

// A string body of the challenge profile: lowercase ASCII words and spaces,
// now and then one of the escapes its generator writes.
void challenge_body(std::string& s, Rng& r) {
  static constexpr std::array kChallengeEscapes = {"\\\""sv, "\\\\"sv, "\\/"sv, "\\b"sv, "\\t"sv, "\\n"sv};
  const unsigned u = r.pct();
  const size_t want = u < 50 ? 4 + r.below(30) : u < 90 ? 30 + r.below(120) : 150 + r.below(250);
  const size_t start = s.size();
  while (s.size() - start < want) {
    if (s.size() != start) s += ' ';
    const unsigned t = r.pct();
    if (t < 6) {
      s += pick(kChallengeEscapes, r);
    } else if (t < 9) {
      put_uint(s, r.below(100000));
    } else {
      s += pick(words::kAscii, r);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Random JSON content.

struct FrameGenerator::Content {
  Text& s;
  Rng& r;
  const FrameGenerator& g;
  std::string_view colon;
  std::string_view comma;
  bool force_decoy = true;  // the first nested object carries decoy uid/ts

  static constexpr int kMaxDepth = 5;  // root object is depth 1

  void quoted(std::string_view w) {
    s += '"';
    s += w;
    s += '"';
  }

  // A random string body (no quotes) from the corpus, at most maxlen bytes
  // unless no body is that short (then the shortest).
  void string_body(size_t maxlen) {
    const size_t n =
        maxlen < g.corpus_fit_.size() ? std::max<size_t>(1, g.corpus_fit_[maxlen]) : g.corpus_off_.size() - 1;
    const size_t k = r.below(n);
    s += std::string_view(g.corpus_).substr(g.corpus_off_[k], g.corpus_off_[k + 1] - g.corpus_off_[k]);
  }

  void string_value(size_t maxlen) {
    s += '"';
    string_body(maxlen);
    s += '"';
  }

  void integer() {
    const unsigned u = static_cast<unsigned>(r.below(10));
    if (u < 4) {
      put_uint(s, r.below(100));
    } else if (u < 7) {
      put_uint(s, r.below(1000000));
    } else if (u < 8) {
      put_int(s, -static_cast<int64_t>(r.below(1000000)) - 1);
    } else if (u < 9 && !g.o_.challenge) {
      put_int(s, static_cast<int64_t>(r.next()));  // full signed 64-bit range
    } else {
      put_int(s, g.o_.start + r.range(-100000000, 100000000));
    }
  }

  void floating() {
    if (r.below(4) == 0) s += '-';
    if (r.below(3) == 0) {
      s += '0';
    } else {
      s += static_cast<char>('1' + r.below(9));
      for (uint64_t k = r.below(6); k > 0; --k) s += static_cast<char>('0' + r.below(10));
    }
    s += '.';
    for (uint64_t k = 1 + r.below(6); k > 0; --k) s += static_cast<char>('0' + r.below(10));
    if (!g.o_.challenge && r.below(5) == 0) {
      s += r.below(2) ? 'e' : 'E';
      const unsigned sign = static_cast<unsigned>(r.below(3));
      if (sign == 1) s += '-';
      if (sign == 2) s += '+';
      put_uint(s, r.below(40));
    }
  }

  // A key as written: static text, quoted or already JSON text.
  struct KeyRef {
    std::string_view text;
    bool quote;
  };
  void put_key(KeyRef k) {
    if (k.quote) {
      quoted(k.text);
    } else {
      s += k.text;
    }
  }

  void decoy_uid_value() {
    const unsigned u = r.pct();
    if (u < 60) {  // random hex, never a pool user
      s += '"';
      put_hex(s, r.next(), 16);
      put_hex(s, r.next(), 3);
      s += '"';
    } else if (u < 75) {  // some other pool user
      s += '"';
      g.pool_uid(s, r.below(g.o_.users));
      s += '"';
    } else if (u < 85) {
      put_uint(s, r.below(1000000000));
    } else if (u < 95) {
      string_value(24);
    } else {
      s += "null";
    }
  }

  void decoy_ts_value() {
    const unsigned u = r.pct();
    const int64_t far = g.o_.start + r.range(-5 * 365 * 86400LL, 5 * 365 * 86400LL);
    if (u < 50) {
      put_int(s, std::max<int64_t>(0, far));
    } else if (u < 65) {
      s += '"';
      put_int(s, std::max<int64_t>(0, far));
      s += '"';
    } else if (u < 75) {
      put_int(s, std::max<int64_t>(0, far));
      s += ".5";
    } else if (u < 85) {
      put_int(s, -static_cast<int64_t>(r.below(1000000)) - 1);
    } else {
      put_uint(s, r.below(100000));
    }
  }

  void value(int depth, size_t budget) {
    if (depth < kMaxDepth && budget >= 40) {
      const unsigned u = r.pct();
      if (u < 16) return object(depth + 1, budget);
      if (u < 26) return array(depth + 1, budget);
    }
    unsigned u = r.pct();
    if (g.o_.challenge && u >= 50 && u < 75) u = r.pct() < 60 ? 0 : u;  // text rather than numbers
    if (u < 50) {
      string_value(budget);
    } else if (u < 65) {
      integer();
    } else if (u < 75) {
      floating();
    } else if (u < 81) {
      s += "true";
    } else if (u < 87) {
      s += "false";
    } else if (u < 93) {
      s += "null";
    } else {
      quoted(pick(words::kAscii, r));
    }
  }

  size_t remaining(size_t limit) const { return s.size() < limit ? limit - s.size() : 0; }

  void object(int depth, size_t budget) {
    const size_t limit = s.size() + budget;
    s += '{';
    bool d_uid, d_ts;
    if (force_decoy) {
      force_decoy = false;
      d_uid = d_ts = true;
    } else {
      d_uid = r.pct() < 15;
      d_ts = r.pct() < 15;
    }
    const size_t n = r.below(20) == 0 ? 0 : 1 + r.below(7);
    const size_t slot_uid = r.below(n + 1), slot_ts = r.below(n + 1);
    std::array<KeyRef, 10> used{};
    size_t n_used = 0;
    bool first = true;
    auto sep = [&] {
      if (!first) s += comma;
      first = false;
    };
    auto decoy_key = [&](std::string_view plain, std::string_view escaped) {
      const KeyRef k{!g.o_.challenge && r.pct() < 3 ? escaped : plain, false};
      put_key(k);
      if (n_used < used.size()) used[n_used++] = k;
    };
    for (size_t m = 0; m <= n; ++m) {
      if (d_uid && m == slot_uid) {
        sep();
        decoy_key(R"("uid")"sv, R"("u\u0069d")"sv);
        s += colon;
        decoy_uid_value();
      }
      if (d_ts && m == slot_ts) {
        sep();
        decoy_key(R"("ts")"sv, R"("t\u0073")"sv);
        s += colon;
        decoy_ts_value();
      }
      if (m == n || (m > 0 && s.size() >= limit)) continue;
      sep();
      if (n_used > 0 && r.pct() < 8) {  // nested duplicate key
        put_key(used[r.below(n_used)]);
      } else {
        const KeyRef k{pick(words::kKeys, r), true};
        put_key(k);
        if (n_used < used.size()) used[n_used++] = k;
      }
      s += colon;
      value(depth, remaining(limit));
    }
    s += '}';
  }

  void array(int depth, size_t budget) {
    const size_t limit = s.size() + budget;
    s += '[';
    const size_t n = r.below(15) == 0 ? 0 : 1 + r.below(8);
    const bool numbers = r.below(3) == 0;
    for (size_t m = 0; m < n; ++m) {
      if (m > 0) {
        if (s.size() >= limit) break;
        s += comma;
      }
      if (numbers) {
        if (r.below(2)) {
          integer();
        } else {
          floating();
        }
      } else {
        value(depth, remaining(limit));
      }
    }
    s += ']';
  }
};

// ---------------------------------------------------------------------------

FrameGenerator::FrameGenerator(const Options& opt) : o_(opt), uid_salt_(splitmix64(opt.seed ^ 0x75696470306f6f6cULL)) {
  core_.reserve(opt.frame_bytes * 2 + 4096);
  // String bodies are drawn from a per-seed corpus: generating every string
  // token by token costs ~4 unpredictable branches per 6 bytes.
  Rng r(stream_seed(opt.seed, 0, 0x636f72707573ULL));
  std::vector<std::string> bodies(kCorpusSize);
  size_t longest = 0;
  for (auto& b : bodies) {
    if (opt.challenge) {
      challenge_body(b, r);
    } else {
      random_body(b, r);
    }
    longest = std::max(longest, b.size());
  }
  std::sort(bodies.begin(), bodies.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  corpus_off_.reserve(bodies.size() + 1);
  for (const auto& b : bodies) {
    corpus_off_.push_back(static_cast<uint32_t>(corpus_.size()));
    corpus_ += b;
  }
  corpus_off_.push_back(static_cast<uint32_t>(corpus_.size()));
  corpus_fit_.assign(longest + 1, 0);
  for (const auto& b : bodies) ++corpus_fit_[b.size()];
  for (size_t l = 1; l < corpus_fit_.size(); ++l) corpus_fit_[l] += corpus_fit_[l - 1];
}

template <class S>
void FrameGenerator::pool_uid(S& s, uint64_t k) const {
  const uint64_t a = splitmix64(k ^ uid_salt_);  // bijective in k: distinct users
  const uint64_t b = splitmix64(a ^ 0x5bd1e9955bd1e995ULL);
  put_hex(s, a, 16);
  put_hex(s, b >> 52, 3);
}

bool FrameGenerator::gap_at(const Options& o, uint64_t i) {
  return o.gap_prob > 0 && Rng(stream_seed(o.seed, i, sGap)).chance(o.gap_prob);
}

bool FrameGenerator::blank_at(const Options& o, uint64_t i) {
  return o.blank_prob > 0 && Rng(stream_seed(o.seed, i, sBlank)).chance(o.blank_prob);
}

void FrameGenerator::blank_line(uint64_t i, std::string& out, std::string* truth) {
  static constexpr std::array kBlanks = {""sv, " "sv, "\t"sv, "  \t "sv, "\r"sv, " \r "sv, "\t\r\t"sv};
  Rng r(stream_seed(o_.seed, i, sBlank + 100));
  out += pick(kBlanks, r);
  out += '\n';
  ++counters_[kBlank];
  ++counters_[kLines];
  ++classes_[kBlankLine];
  ++line_no_;
  if (truth) {
    *truth += R"({"line":)";
    put_uint(*truth, line_no_);
    *truth += R"(,"class":"blank"})";
    *truth += '\n';
  }
}

void FrameGenerator::frame(uint64_t i, std::string& out, std::string* truth) {
  const uint64_t seed = o_.seed;
  const size_t out0 = out.size();
  const bool ms = o_.ts_unit == TsUnit::ms;

  // ---- event time --------------------------------------------------------
  const bool gap = gap_at(o_, i);
  if (gap) {
    gap_total_ += o_.gap_seconds;
    ++counters_[kGap];
  }
  const auto off_ms = static_cast<int64_t>(std::floor(static_cast<double>(i) * 1000.0 / o_.rate));
  const int64_t event_ms = o_.start * 1000 + off_ms + gap_total_ * 1000;
  const int64_t event_s = floor_div(event_ms, 1000);
  int64_t v = ms ? event_ms : event_s;  // ts in the output unit
  Rng r_delay(stream_seed(seed, i, sDelay));
  const bool delay = o_.max_delay > 0 && r_delay.chance(o_.delay_prob);
  if (delay) {
    const int64_t d = ms ? r_delay.range(1, o_.max_delay * 1000) : r_delay.range(1, o_.max_delay);
    v = std::max<int64_t>(0, v - d);
    ++counters_[kDelay];
  }

  // ---- blank line before the frame --------------------------------------
  if (blank_at(o_, i)) blank_line(i, out, truth);

  // ---- fault decisions (each fault: own stream; first draw decides) ------
  auto decide = [&](Stream st, double p, Rng& r) {
    r = Rng(stream_seed(seed, i, st));
    return r.chance(p);
  };
  Rng r_mal(0), r_mu(0), r_mt(0), r_dup(0), r_bad(0), r_num(0), r_esck(0), r_escu(0), r_crlf(0), r_flip(0), r_tss(0),
      r_tsf(0);
  const bool f_mal = decide(sMalformed, o_.malformed_prob, r_mal);
  const bool missing_uid = decide(sMissingUid, o_.missing_uid_prob, r_mu);
  const bool missing_ts = decide(sMissingTs, o_.missing_ts_prob, r_mt);
  const bool f_dup = decide(sDupKey, o_.dup_key_prob, r_dup);
  const bool f_bad = decide(sBadType, o_.bad_type_prob, r_bad);
  const bool f_num = decide(sUidNumber, o_.uid_number_prob, r_num);
  const bool f_esck = decide(sEscapedKey, o_.escaped_key_prob, r_esck);
  const bool f_escu = decide(sEscapedUid, o_.escaped_uid_prob, r_escu);
  const bool crlf = decide(sCrlf, o_.crlf_prob, r_crlf);
  const bool f_flip = decide(sFlip, o_.flip_prob, r_flip);
  const bool f_tss = decide(sTsString, o_.ts_string_prob, r_tss);
  const bool f_tsf = decide(sTsFloat, o_.ts_float_prob, r_tsf);

  auto present = [&](int t) { return t == 0 ? !missing_uid : !missing_ts; };
  auto target_of = [&](Rng& r) {
    int t = static_cast<int>(r.below(2));
    if (!present(t)) t ^= 1;
    return present(t) ? t : -1;
  };
  const int bad_target = f_bad ? target_of(r_bad) : -1;
  const int dup_target = f_dup ? target_of(r_dup) : -1;
  const int esck_target = f_esck ? target_of(r_esck) : -1;
  if (missing_uid) ++counters_[kMissingUid];
  if (missing_ts) ++counters_[kMissingTs];
  if (bad_target == 0) ++counters_[kBadUid];
  if (bad_target == 1) ++counters_[kBadTs];
  if (dup_target >= 0) ++counters_[kDupKey];
  if (esck_target >= 0) ++counters_[kEscapedKey];

  Rng rc(stream_seed(seed, i, sContent));
  const uint64_t user = rc.below(o_.users);

  // ---- root uid -----------------------------------------------------------
  std::string uid_val, uid_id;  // JSON text, identity
  bool uid_bad = false;
  std::string_view uid_form;  // uid_number / uid_digit_string / escaped_uid (truth)
  if (!missing_uid) {
    if (bad_target == 0) {
      uid_bad = true;
      std::string hex;
      pool_uid(hex, user);
      switch (r_bad.below(12)) {
        case 0:
          uid_val = "true";
          break;
        case 1:
          uid_val = "false";
          break;
        case 2:
          uid_val = "null";
          break;
        case 3:
          uid_val = "{}";
          break;
        case 4:
          uid_val = "[]";
          break;
        case 5:
          uid_val = "1.5";
          break;
        case 6:
          uid_val = "1e5";
          break;
        case 7:
          uid_val = "-2.5E3";
          break;
        case 8:
          uid_val = "0.0";
          break;
        case 9:
          uid_val = R"({"id":")" + hex + "\"}";
          break;
        case 10:
          uid_val = "[\"" + hex + "\"]";
          break;
        default:
          uid_val = R"({"uid":")" + hex + "\"}";
          break;
      }
    } else if (f_num) {
      const uint64_t n = 100000000000000000ULL + splitmix64(user ^ uid_salt_ ^ 0x6e756d62ULL) % 900000000000000000ULL;
      const unsigned u = r_num.pct();
      if (u < 25) {  // same user as a digit string: "123" and 123 are one user
        uid_val = '"' + std::to_string(n) + '"';
        uid_id = std::to_string(n);
        uid_form = "uid_digit_string";
        ++counters_[kUidDigitString];
      } else {
        ++counters_[kUidNumber];
        uid_form = "uid_number";
        if (u < 90) {
          uid_val = uid_id = std::to_string(n);
        } else {
          static constexpr std::array kSpecial = {
              "0"sv,   "-0"sv, "18446744073709551615"sv, "-9223372036854775808"sv, "9223372036854775807"sv,
              "-42"sv, "7"sv};
          uid_val = pick(kSpecial, r_num);
          uid_id = uid_val == "-0" ? "0" : uid_val;
        }
      }
    } else {
      pool_uid(uid_id, user);
      uid_val = '"';
      if (f_escu) {
        ++counters_[kEscapedUid];
        uid_form = "escaped_uid";
        bool any = false;
        for (size_t k = 0; k < uid_id.size(); ++k) {
          const bool last_chance = !any && k + 1 == uid_id.size();
          if (last_chance || r_escu.pct() < 20) {
            put_u_escape(uid_val, static_cast<unsigned char>(uid_id[k]), r_escu);
            any = true;
          } else {
            uid_val += uid_id[k];
          }
        }
      } else {
        uid_val += uid_id;
      }
      uid_val += '"';
    }
  }

  // ---- root ts ------------------------------------------------------------
  std::string ts_val;
  bool ts_bad = false;
  int64_t ts_seconds = 0;
  if (!missing_ts) {
    if (bad_target == 1) {
      ts_bad = true;
      const std::string vs = std::to_string(v);
      switch (r_bad.below(24)) {
        case 0:
          ts_val = "true";
          break;
        case 1:
          ts_val = "false";
          break;
        case 2:
          ts_val = "null";
          break;
        case 3:
          ts_val = "{}";
          break;
        case 4:
          ts_val = "[]";
          break;
        case 5:
          ts_val = "-1";
          break;
        case 6:
          ts_val = v > 0 ? "-" + vs : "-1";
          break;
        case 7:
          ts_val = "-1.5";
          break;  // (-0.5 truncates to 0, a valid ts)
        case 8:
          ts_val = R"("")";
          break;
        case 9:
          ts_val = R"("abc")";
          break;
        case 10:
          ts_val = "\"-" + vs + '"';
          break;
        case 11:
          ts_val = "\" " + vs + '"';
          break;
        case 12:
          ts_val = '"' + vs + " \"";
          break;
        case 13:
          ts_val = '"' + vs + ".5\"";
          break;
        case 14:
          ts_val = "\"+" + vs + '"';
          break;
        case 15:
          ts_val = R"("1e9")";
          break;
        // (Well-formed values past the year 9999 are future, not bad_ts.)
        case 16:
          ts_val = R"("12345678901234567890.0")";
          break;
        case 17:
          ts_val = "-1e300";
          break;
        case 18:
          ts_val = "-1.0";
          break;
        case 19:
          ts_val = "-9223372036854775808";
          break;
        case 20:
          ts_val = R"("0x5783d4f4")";
          break;
        case 21:
          ts_val = R"("١٤٦٨٢٤٤٣٤٠")";
          break;  // Arabic-Indic digits
        case 22:
          ts_val = R"({"ts":)" + vs + '}';
          break;
        default:
          ts_val = '[' + vs + ']';
          break;
      }
    } else {
      if (f_flip) {
        const int64_t before = v;
        v ^= int64_t{1} << r_flip.below(41);
        ++counters_[kFlip];
        const int64_t delta = ms ? (v - before) / 1000 : v - before;
        if (delta > 3600 || delta < -3600) ++counters_[kFlipFar];
      }
      const std::string vs = std::to_string(v);
      if (f_tss) {
        ++counters_[kTsString];
        ts_val = '"';
        if (r_tss.pct() < 10 && vs.size() < 19) ts_val.append(1 + r_tss.below(19 - vs.size()), '0');
        ts_val += vs;
        ts_val += '"';
      } else if (f_tsf) {
        ++counters_[kTsFloat];
        std::string frac;
        for (uint64_t k = 1 + r_tsf.below(3); k > 0; --k) frac += static_cast<char>('0' + r_tsf.below(10));
        if (r_tsf.pct() < 20) {  // exponent form: 1.46824434075e9
          ts_val = vs.substr(0, 1) + '.' + vs.substr(1) + frac;
          ts_val += r_tsf.below(2) ? "e" : "E+";
          ts_val += std::to_string(vs.size() - 1);
        } else {
          ts_val = vs + '.' + frac;
        }
      } else {
        ts_val = vs;
      }
      ts_seconds = ms ? floor_div(v, 1000) : v;
      if (ts_seconds > kMaxTsSeconds) ts_bad = true;
    }
  }

  // ---- keys, duplicate member --------------------------------------------
  const std::string_view uid_key = esck_target == 0 ? escaped_key_variant(0, r_esck) : R"("uid")"sv;
  const std::string_view ts_key = esck_target == 1 ? escaped_key_variant(1, r_esck) : R"("ts")"sv;
  std::string dup_key, dup_val;
  if (dup_target >= 0) {
    dup_key =
        r_dup.pct() < 30 ? escaped_key_variant(dup_target, r_dup) : (dup_target == 0 ? R"("uid")"sv : R"("ts")"sv);
    const bool same = r_dup.below(2) == 0;
    if (dup_target == 0) {
      if (same) {
        dup_val = uid_val;
      } else {
        dup_val = '"';
        pool_uid(dup_val, r_dup.below(o_.users));
        dup_val += '"';
      }
    } else {
      dup_val = same ? ts_val : std::to_string(std::max<int64_t>(0, v + r_dup.range(-100, 100)));
    }
  }

  // ---- body ---------------------------------------------------------------
  core_.clear();
  root_colons_.clear();
  root_commas_.clear();
  root_keys_.clear();
  const bool pretty = rc.pct() < 10;
  const unsigned ws_roll = rc.pct();  // < 2: leading, 2-3: trailing whitespace
  const std::string_view ws = rc.below(2) ? " "sv : "\t"sv;
  Content c{core_, rc, *this, pretty ? ": "sv : ":"sv, pretty ? ", "sv : ","sv};

  const uint64_t B = o_.frame_bytes;
  const size_t target = B / 2 + rc.below(B + 1);  // mean B
  constexpr size_t kSpecialEstimate = 48;         // root uid + ts members
  const size_t rand_target = target > kSpecialEstimate ? target - kSpecialEstimate : 0;
  struct Special {
    size_t pos;
    int which;  // 0 uid, 1 ts, 2 duplicate
  };
  std::array<Special, 3> specials{
      {{rc.below(rand_target + 1), 0}, {rc.below(rand_target + 1), 1}, {rc.below(rand_target + 1), 2}}};
  std::sort(specials.begin(), specials.end(),
            [](const Special& a, const Special& b) { return a.pos < b.pos || (a.pos == b.pos && a.which < b.which); });
  const uint64_t decoy_member = rc.below(4);

  bool first = true;
  size_t special_bytes = 0;
  auto member_start = [&] {
    if (!first) {
      root_commas_.push_back(core_.size());
      core_ += c.comma;
    }
    first = false;
    root_keys_.push_back(core_.size() + 1);
  };
  auto emit_special = [&](int which) {
    std::string_view k, val;
    if (which == 0 && !missing_uid) {
      k = uid_key;
      val = uid_val;
    } else if (which == 1 && !missing_ts) {
      k = ts_key;
      val = ts_val;
    } else if (which == 2 && dup_target >= 0) {
      k = dup_key;
      val = dup_val;
    } else {
      return;
    }
    const size_t at = core_.size();
    member_start();
    core_ += k;
    root_colons_.push_back(core_.size());
    core_ += c.colon;
    core_ += val;
    special_bytes += core_.size() - at;
  };

  std::array<Content::KeyRef, 32> root_used{};
  size_t n_root_used = 0;
  core_ += '{';
  size_t si = 0;
  for (uint64_t member = 0;; ++member) {
    const size_t rand_bytes = core_.size() - special_bytes;
    while (si < specials.size() && specials[si].pos <= rand_bytes) emit_special(specials[si++].which);
    if (rand_bytes >= rand_target) break;
    const size_t budget = rand_target - rand_bytes;
    member_start();
    const unsigned u = rc.pct();
    if (n_root_used > 0 && u < 6) {  // duplicate root key (not uid/ts)
      c.put_key(root_used[rc.below(n_root_used)]);
    } else {
      const Content::KeyRef k = u < 9 && !o_.challenge ? Content::KeyRef{pick(words::kRootDecoyKeys, rc), false}
                                                       : Content::KeyRef{pick(words::kKeys, rc), true};
      c.put_key(k);
      if (n_root_used < root_used.size()) root_used[n_root_used++] = k;
    }
    root_colons_.push_back(core_.size());
    core_ += c.colon;
    const size_t cap = std::min<size_t>(budget, 80 + rc.below(500));
    if (member == decoy_member && cap >= 40) {
      c.object(2, cap);
    } else {
      c.value(1, cap);
    }
  }
  while (si < specials.size()) emit_special(specials[si++].which);
  core_ += '}';

  // ---- malformation ---------------------------------------------------------
  int mal_kind = -1;
  std::string_view body = core_.view();
  if (f_mal) {
    mal_.assign(core_.view());
    std::string& core_ = mal_;  // mutate a copy; shadows the Text member
    static constexpr std::array<int, kMalformedCount> kWeights = {4, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    int total = 0;
    for (int w : kWeights) total += w;
    int roll = static_cast<int>(r_mal.below(static_cast<uint64_t>(total)));
    mal_kind = 0;
    while (roll >= kWeights[static_cast<size_t>(mal_kind)]) roll -= kWeights[static_cast<size_t>(mal_kind++)];
    Rng& r = r_mal;
    auto member_prefix = [&](std::string_view member) {  // insert as first root member
      std::string m(member);
      if (core_.size() > 2) m += ',';
      core_.insert(1, m);
    };
    if ((mal_kind == kColonToEquals && root_colons_.empty()) || (mal_kind == kMissingComma && root_commas_.empty()) ||
        ((mal_kind == kControlChar || mal_kind == kBadEscape || mal_kind == kBadUtf8) && root_keys_.empty())) {
      mal_kind = kTruncated;
    }
    switch (mal_kind) {
      case kTruncated: {
        size_t cut = 1 + r.below(core_.size() - 1);  // keeps >= 1 byte, drops >= 1
        while (cut > 1 && (static_cast<unsigned char>(core_[cut]) & 0xC0) == 0x80) --cut;
        core_.resize(cut);
        break;
      }
      case kColonToEquals:
        core_[root_colons_[r.below(root_colons_.size())]] = '=';
        break;
      case kMissingComma:
        core_.erase(root_commas_[r.below(root_commas_.size())], 1);
        break;
      case kTrailingComma:
        core_.insert(core_.size() - 1, 1, ',');
        break;
      case kStrayChar: {
        static constexpr std::array kStray = {"x"sv, ","sv,  "}"sv, "]"sv,  "{"sv,   "\""sv,
                                              "0"sv, "{}"sv, ";"sv, "\\"sv, "null"sv};
        const std::string_view st = pick(kStray, r);
        if (r.pct() < 25) {
          core_.insert(0, st);
        } else {
          core_ += st;
        }
        break;
      }
      case kControlChar: {
        static constexpr std::array<char, 9> kCtl = {0x00, 0x01, 0x07, 0x08, 0x09, 0x0b, 0x0c, 0x1b, 0x1f};
        core_.insert(root_keys_[r.below(root_keys_.size())], 1, kCtl[r.below(kCtl.size())]);
        break;
      }
      case kBadEscape: {
        static constexpr std::array kBad = {"\\x41"sv,   "\\'"sv, "\\u12G4"sv, "\\U0041"sv, "\\a"sv,
                                            "\\uZZZZ"sv, "\\ "sv, "\\0"sv,     "\\u00g0"sv};
        core_.insert(root_keys_[r.below(root_keys_.size())], pick(kBad, r));
        break;
      }
      case kBadUtf8: {
        static constexpr std::array kBad = {
            "\xff"sv,     "\xc0\x80"sv,         "\x80"sv, "\xed\xa0\x80"sv, "\xf8\x88\x80\x80\x80"sv,
            "\xe2\x82"sv, "\xf4\x90\x80\x80"sv, "\xfe"sv};
        core_.insert(root_keys_[r.below(root_keys_.size())], pick(kBad, r));
        break;
      }
      case kUnquotedKey: {
        static constexpr std::array kBad = {"key:1"sv, "'key':1"sv, "uid:\"x\""sv, "\"k\":'v'"sv, "1:2"sv};
        member_prefix(pick(kBad, r));
        break;
      }
      case kNumberOverflow: {
        static constexpr std::array kBig = {"18446744073709551616"sv,
                                            "-9223372036854775809"sv,
                                            "99999999999999999999999"sv,
                                            "1e400"sv,
                                            "-1e400"sv,
                                            "1.5e999"sv};
        const std::string m = "\"big\":" + std::string(pick(kBig, r));
        if (r.below(2)) {
          member_prefix(m);
        } else {  // as last member
          core_.insert(core_.size() - 1, (core_.size() > 2 ? "," : "") + m);
        }
        break;
      }
      case kRootNotObject: {
        const unsigned u = r.pct();
        if (u < 50) {
          core_ = '[' + core_ + ']';
        } else {
          static constexpr std::array kScalar = {"\"uid\""sv, "1468244340"sv, "null"sv, "true"sv, "[]"sv, "\"{}\""sv};
          core_ = pick(kScalar, r);
        }
        break;
      }
      case kTooDeep: {
        const size_t depth = 1100;
        std::string m = "\"deep\":";
        m.append(depth, '[');
        m.append(depth, ']');
        member_prefix(m);
        break;
      }
      case kBadLiteral: {
        static constexpr std::array kLit = {"NaN"sv,  "Infinity"sv, "-Infinity"sv, "nan"sv, "undefined"sv,
                                            "True"sv, "None"sv,     "tru"sv,       "nul"sv};
        member_prefix("\"x\":" + std::string(pick(kLit, r)));
        break;
      }
      default: {  // kMissingValue
        static constexpr std::array kBad = {"\"k\":"sv, "\"k\""sv, "\"k\"::1"sv, ":1"sv};
        member_prefix(pick(kBad, r));
        break;
      }
    }
    ++counters_[kMalformed];
    ++malformed_[static_cast<size_t>(mal_kind)];
    body = mal_;
  }

  // ---- the line -------------------------------------------------------------
  const size_t line_start = out.size();
  if (ws_roll < 2) out += ws;
  out += body;
  if (ws_roll >= 2 && ws_roll < 4) out += ws;
  const size_t frame_len = out.size() - line_start;
  if (crlf) {
    out += "\r\n";
    ++counters_[kCrlf];
  } else {
    out += '\n';
  }
  ++counters_[kFrames];
  ++counters_[kLines];
  counters_[kBytes] += out.size() - out0;
  ++line_no_;

  int cls = kOk;
  if (frame_len > o_.max_frame_bytes) {
    cls = kTooLarge;
  } else if (f_mal) {
    cls = kMalformedJson;
  } else if (dup_target >= 0) {
    cls = kDuplicateKey;
  } else if (missing_uid) {
    cls = kMissingUidC;
  } else if (missing_ts) {
    cls = kMissingTsC;
  } else if (uid_bad) {
    cls = kBadUidType;
  } else if (ts_bad) {
    cls = kBadTsC;
  }
  ++classes_[static_cast<size_t>(cls)];

  if (truth) {
    std::string& t = *truth;
    t += R"({"line":)";
    put_uint(t, line_no_);
    t += R"(,"frame":)";
    put_uint(t, i);
    t += R"(,"class":")";
    t += kClassNames[static_cast<size_t>(cls)];
    t += '"';
    if (cls == kOk) {
      t += R"(,"uid":")";
      t += uid_id;
      t += R"(","ts":)";
      put_int(t, ts_seconds);
    }
    t += R"(,"event_ts":)";
    put_int(t, event_s);
    t += R"(,"user":)";
    put_uint(t, user);
    t += R"(,"bytes":)";
    put_uint(t, frame_len);
    t += R"(,"faults":[)";
    bool any = false;
    auto fault = [&](bool on, std::string_view name) {
      if (!on) return;
      if (any) t += ',';
      any = true;
      t += '"';
      t += name;
      t += '"';
    };
    fault(gap, "gap");
    fault(delay, "delay");
    fault(missing_uid, "missing_uid");
    fault(missing_ts, "missing_ts");
    fault(bad_target == 0, "bad_uid");
    fault(bad_target == 1, "bad_ts");
    fault(dup_target >= 0, "dup_key");
    fault(esck_target >= 0, "escaped_key");
    fault(!uid_form.empty(), uid_form);
    fault(!missing_ts && bad_target != 1 && f_flip, "flip");
    fault(!missing_ts && bad_target != 1 && f_tss, "ts_string");
    fault(!missing_ts && bad_target != 1 && !f_tss && f_tsf, "ts_float");
    fault(crlf, "crlf");
    t += ']';
    if (mal_kind >= 0) {
      t += R"(,"malformed":")";
      t += kMalformedNames[static_cast<size_t>(mal_kind)];
      t += '"';
    }
    t += "}\n";
  }
}

}  // namespace uniqd::gen
