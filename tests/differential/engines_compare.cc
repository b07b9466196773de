// Parses every line of the given files with both frame parser engines (the
// DOM reference and the structural one) and fails on the first lines whose
// verdicts differ: the reject reason, or for an accepted frame its uid hash
// and ts. Also reports how many frames the structural engine handed to the
// DOM, and each engine's time over the whole input.
//
// usage: engines_compare [--ts-unit s|ms] [--bench ROUNDS] FILE...
// --bench: then parses the lines (held in memory) ROUNDS times with each
// engine alone and prints each engine's thread CPU time per frame.
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "processor/frame_parser.h"

namespace {

using uniqd::processor::FrameParser;
using uniqd::processor::kFramePadding;
using uniqd::processor::ParsedFrame;
using uniqd::processor::ParserEngine;
using uniqd::processor::RejectReason;
using uniqd::processor::TsUnit;

std::string verdict(const std::optional<RejectReason>& why, const ParsedFrame& f) {
  if (why) return std::string(uniqd::processor::reject_reason_name(*why));
  return "ok ts=" + std::to_string(f.ts) + " uid=" + std::to_string(f.uid.lo) + ":" + std::to_string(f.uid.hi);
}

double thread_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  TsUnit unit = TsUnit::seconds;
  std::vector<std::string> files;
  int bench_rounds = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--bench") == 0 && i + 1 < argc) {
      bench_rounds = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--ts-unit") == 0 && i + 1 < argc) {
      unit = std::strcmp(argv[++i], "ms") == 0 ? TsUnit::milliseconds : TsUnit::seconds;
    } else {
      files.emplace_back(argv[i]);
    }
  }
  if (files.empty()) {
    std::cerr << "usage: engines_compare [--ts-unit s|ms] FILE...\n";
    return 2;
  }
  constexpr std::size_t kMax = 1 << 20;
  FrameParser dom(kMax, unit, ParserEngine::dom);
  FrameParser structural(kMax, unit, ParserEngine::structural);
  std::uint64_t lines = 0, mismatches = 0;
  std::vector<std::string> kept;  // padded lines, for --bench
  double dom_s = 0, structural_s = 0;
  for (const std::string& name : files) {
    std::ifstream in(name, std::ios::binary);
    if (!in) {
      std::cerr << "engines_compare: cannot open '" << name << "'\n";
      return 2;
    }
    std::string line;
    std::uint64_t no = 0;
    while (std::getline(in, line)) {
      ++no;
      std::size_t size = line.size();
      if (size > 0 && line[size - 1] == '\r') --size;
      if (size > kMax) continue;
      line.resize(size);
      line.append(kFramePadding, '\0');
      ParsedFrame a, b;
      const auto t0 = std::chrono::steady_clock::now();
      const auto ra = dom.parse(line.data(), size, a);
      const auto t1 = std::chrono::steady_clock::now();
      const auto rb = structural.parse(line.data(), size, b);
      const auto t2 = std::chrono::steady_clock::now();
      dom_s += std::chrono::duration<double>(t1 - t0).count();
      structural_s += std::chrono::duration<double>(t2 - t1).count();
      ++lines;
      if (bench_rounds > 0) kept.push_back(line);
      const std::string va = verdict(ra, a), vb = verdict(rb, b);
      if (va != vb) {
        if (++mismatches <= 10) {
          std::cerr << name << ":" << no << ": dom says " << va << ", structural says " << vb << "\n  "
                    << line.substr(0, std::min<std::size_t>(size, 300)) << "\n";
        }
      }
    }
  }
  std::printf("lines=%llu mismatches=%llu deferred=%llu dom_s=%.3f structural_s=%.3f\n",
              static_cast<unsigned long long>(lines), static_cast<unsigned long long>(mismatches),
              static_cast<unsigned long long>(structural.deferred()), dom_s, structural_s);
  for (int r = 0; r < bench_rounds; ++r) {
    for (ParserEngine e : {ParserEngine::dom, ParserEngine::structural}) {
      FrameParser& parser = e == ParserEngine::dom ? dom : structural;
      const std::uint64_t deferred_before = parser.deferred();
      std::uint64_t accepted = 0;
      const double t0 = thread_cpu_s();
      for (const std::string& l : kept) {
        ParsedFrame f;
        accepted += parser.parse(l.data(), l.size() - kFramePadding, f) ? 0 : 1;
      }
      const double t = thread_cpu_s() - t0;
      std::printf("bench round %d %s: %.1f ns/frame CPU (%llu accepted, %llu deferred)\n", r + 1,
                  e == ParserEngine::dom ? "dom" : "structural", t * 1e9 / static_cast<double>(kept.size()),
                  static_cast<unsigned long long>(accepted),
                  static_cast<unsigned long long>(parser.deferred() - deferred_before));
    }
  }
  return mismatches == 0 ? 0 : 1;
}
