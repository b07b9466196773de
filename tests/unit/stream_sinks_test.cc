#include "processor/stream_sinks.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/unit/temp_dir.h"

namespace uniqd::processor {
namespace {

WindowResult minute_result(std::int64_t start) {
  WindowResult r;
  r.start = start;
  r.end = start + 60;
  r.unique_users = 1;
  r.frames = 1;
  r.final = true;
  return r;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(StreamSinks, WritesAndClosesAFile) {
  test_support::TempDir dir;
  const std::string p = dir.path() + "/rejects.jsonl";
  std::FILE* f = std::fopen(p.c_str(), "w");
  ASSERT_NE(f, nullptr);
  StreamRejectSink rejects(f, true, "rejects to '" + p + "'");
  rejects.reject(RejectReason::malformed_json, "x", SourcePosition{0, 7}, 1);
  EXPECT_TRUE(rejects.flush());
  EXPECT_TRUE(rejects.close());
  EXPECT_FALSE(rejects.failed());
  EXPECT_EQ(slurp(p), "{\"reason\":\"malformed_json\",\"line\":7,\"bytes\":1,\"frame\":\"x\"}\n");
}

TEST(StreamSinks, FailedFlushIsStickyNamesTheStreamAndKeepsItsBytes) {
  std::FILE* f = std::fopen("/dev/full", "w");
  ASSERT_NE(f, nullptr);
  StreamResultSink results(f, "results on /dev/full");
  results.emit(minute_result(0));
  EXPECT_FALSE(results.failed()) << "nothing is written before a flush or a full buffer";
  EXPECT_FALSE(results.flush());
  ASSERT_TRUE(results.failed());
  const std::string first = results.error();
  EXPECT_NE(first.find("writing results on /dev/full failed: No space left on device"), std::string::npos) << first;
  EXPECT_NE(first.find("bytes not written"), std::string::npos) << first;
  // Later results are not taken and a later flush does not pretend success.
  for (int i = 1; i < 10000; ++i) results.emit(minute_result(60 * i));
  EXPECT_FALSE(results.flush());
  EXPECT_EQ(results.error(), first);
  std::fclose(f);
}

TEST(StreamSinks, AFullBufferThatCannotBeWrittenFailsWithoutAFlush) {
  std::FILE* f = std::fopen("/dev/full", "w");
  ASSERT_NE(f, nullptr);
  StreamRejectSink rejects(f, true, "rejects to '/dev/full'");
  const std::string frame(900, 'x');
  // 100 rejects of ~1 KB pass the 64 KiB at which the sink writes by itself.
  for (int i = 0; i < 100 && !rejects.failed(); ++i) {
    rejects.reject(RejectReason::malformed_json, frame, SourcePosition{0, i + 1}, frame.size());
  }
  EXPECT_TRUE(rejects.failed());
  EXPECT_NE(rejects.error().find("'/dev/full'"), std::string::npos) << rejects.error();
  EXPECT_FALSE(rejects.close());
}

TEST(StreamSinks, NoFileMeansOnlyCounted) {
  StreamRejectSink rejects(nullptr, true);
  rejects.reject(RejectReason::late, "x", SourcePosition{0, 1}, 1);
  EXPECT_TRUE(rejects.flush());
  EXPECT_TRUE(rejects.close());
  EXPECT_FALSE(rejects.failed());
}

}  // namespace
}  // namespace uniqd::processor
