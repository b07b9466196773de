// Small fakes shared by the unit tests.
#pragma once

#include <string>
#include <vector>

#include "processor/engine.h"
#include "processor/result_json.h"

namespace uniqd::testing {

struct RecordingResults : processor::ResultSink {
  std::vector<processor::WindowResult> all;
  void emit(const processor::WindowResult& r) override { all.push_back(r); }
  std::vector<processor::WindowResult> finals() const {
    std::vector<processor::WindowResult> out;
    for (const auto& r : all) {
      if (r.final) out.push_back(r);
    }
    return out;
  }
  // "minute/60:users/frames/rev" lines, compact to compare by hand.
  std::vector<std::string> brief(bool finals_only = true) const {
    std::vector<std::string> out;
    for (const auto& r : all) {
      if (finals_only && !r.final) continue;
      out.push_back(processor::result_key(r) + ":" + std::to_string(r.unique_users) + "/" + std::to_string(r.frames) +
                    (r.final ? "/r" + std::to_string(r.revision) : "/early"));
    }
    return out;
  }
};

struct RecordingRejects : processor::RejectSink {
  std::vector<std::pair<processor::RejectReason, std::string>> all;
  void reject(processor::RejectReason reason, std::string_view bytes, const processor::SourcePosition&,
              std::uint64_t) override {
    all.emplace_back(reason, std::string(bytes));
  }
};

}  // namespace uniqd::testing
