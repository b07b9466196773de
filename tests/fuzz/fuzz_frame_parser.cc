// libFuzzer target: any bytes through the frame parser. It must classify
// every input (no crash, no leak, no UB) and agree with itself when parsed
// twice by one reused parser.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "processor/frame_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static uniqd::processor::FrameParser parser(1 << 20);
  std::string padded(reinterpret_cast<const char*>(data), size);
  padded.append(uniqd::processor::kFramePadding, '\0');
  uniqd::processor::ParsedFrame a, b;
  const auto ra = parser.parse(padded.data(), size, a);
  const auto rb = parser.parse(padded.data(), size, b);
  if (ra != rb) std::abort();
  if (!ra && (a.ts != b.ts || !(a.uid == b.uid) || a.ts < 0 || a.ts > uniqd::processor::kMaxTs)) std::abort();
  return 0;
}
