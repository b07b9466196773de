#include "processor/mapped_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "tests/unit/temp_dir.h"

namespace uniqd::processor {
namespace {

// A file truncated under its mapping: the next read of a page that is gone
// is SIGBUS. With the guard, uniqd ends with status 1 and names the file.
std::unique_ptr<MappedFile> map_then_truncate(const std::string& path) {
  {
    std::ofstream f(path);
    for (int i = 0; i < 4096; ++i) f << "{\"uid\":\"u" << i << "\",\"ts\":1468244340}\n";
  }
  const int fd = ::open(path.c_str(), O_RDONLY);
  auto m = MappedFile::map(fd, nullptr);
  ::close(fd);
  if (m != nullptr && ::truncate(path.c_str(), 0) != 0) return nullptr;
  return m;
}

volatile char g_sink;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

// In the death test's child: maps the file, truncates it, reads a page that
// is gone. Exits 3 when it could not set that up, 4 when the read did not fault.
[[noreturn]] void read_after_truncation(const std::string& path, bool guarded) {
  auto m = map_then_truncate(path);
  if (m == nullptr) std::_Exit(3);
  if (guarded) m->exit_if_truncated(path);
  g_sink = m->data()[m->size() / 2];
  std::_Exit(4);
}

TEST(MappedFileDeathTest, TruncatedInputEndsWithStatusOneAndItsName) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  test_support::TempDir dir;
  const std::string path = dir.path() + "/frames.jsonl";
  EXPECT_EXIT(read_after_truncation(path, true), ::testing::ExitedWithCode(1),
              "input '.*frames.jsonl' shrank while it was read");
}

TEST(MappedFileDeathTest, WithoutTheGuardItIsABusError) {
  // The test above would pass for the wrong reason if truncating did not
  // make the read fault at all.
  if (kAsan) GTEST_SKIP() << "AddressSanitizer handles SIGBUS itself (exit 1)";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  test_support::TempDir dir;
  EXPECT_EXIT(read_after_truncation(dir.path() + "/frames.jsonl", false), ::testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace uniqd::processor
