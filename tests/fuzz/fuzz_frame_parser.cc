// libFuzzer target: any bytes through the frame parser. It must classify
// every input (no crash, no leak, no UB), agree with itself when parsed
// twice by one reused parser, and the structural engine must give the DOM
// reference's verdict (reason, or uid and ts) on every input, with each
// grammar kernel this CPU has.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "processor/frame_parser.h"

using uniqd::processor::FrameParser;
using uniqd::processor::ParserEngine;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static FrameParser dom(1 << 20, uniqd::processor::TsUnit::seconds, ParserEngine::dom);
  static FrameParser structural(1 << 20, uniqd::processor::TsUnit::seconds, ParserEngine::structural);
  static FrameParser structural_scalar(1 << 20, uniqd::processor::TsUnit::seconds, ParserEngine::structural,
                                       uniqd::processor::json_grammar::Kernel::scalar);
  std::string padded(reinterpret_cast<const char*>(data), size);
  // Padding that looks like more of the frame: its content must not matter.
  padded.append(uniqd::processor::kFramePadding, size % 2 == 0 ? '\0' : '1');
  uniqd::processor::ParsedFrame a, b, c, d;
  const auto ra = dom.parse(padded.data(), size, a);
  const auto rb = dom.parse(padded.data(), size, b);
  const auto rc = structural.parse(padded.data(), size, c);
  const auto rd = structural_scalar.parse(padded.data(), size, d);
  if (ra != rb || ra != rc || ra != rd) std::abort();
  if (!ra && (a.ts != b.ts || !(a.uid == b.uid) || a.ts < 0 || a.ts > uniqd::processor::kMaxTs)) std::abort();
  if (!ra && (a.ts != c.ts || !(a.uid == c.uid))) std::abort();
  if (!ra && (a.ts != d.ts || !(a.uid == d.uid))) std::abort();
  return 0;
}
