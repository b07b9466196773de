#include "processor/line_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>

namespace uniqd::processor {
namespace {

// Feeds bytes through a pipe from another thread, as stdin would.
struct Pipe {
  explicit Pipe(std::string bytes) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    read_fd = fds[0];
    writer = std::thread([fd = fds[1], b = std::move(bytes)] {
      std::size_t off = 0;
      while (off < b.size()) {
        const ssize_t n = ::write(fd, b.data() + off, std::min<std::size_t>(b.size() - off, 65536));
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      ::close(fd);
    });
  }
  ~Pipe() {
    writer.join();
    ::close(read_fd);
  }
  int read_fd;
  std::thread writer;
};

TEST(LineReader, SplitsLinesCrlfBlankAndLastLine) {
  Pipe p("{\"a\":1}\r\n\n  \t\r\n{\"b\":2}\n{\"c\":3}");
  LineReader r(p.read_fd, 1000);
  auto l = r.next();
  EXPECT_EQ(l.kind, LineReader::Kind::line);
  EXPECT_EQ(std::string(l.data, l.size), "{\"a\":1}");
  EXPECT_EQ(r.next().kind, LineReader::Kind::blank);
  EXPECT_EQ(r.next().kind, LineReader::Kind::blank);
  l = r.next();
  EXPECT_EQ(std::string(l.data, l.size), "{\"b\":2}");
  EXPECT_EQ(l.number, 4u);
  l = r.next();
  EXPECT_EQ(std::string(l.data, l.size), "{\"c\":3}");
  EXPECT_EQ(r.next().kind, LineReader::Kind::end);
}

// A CR inside a line of spaces is whitespace too: blank, like the same
// bytes as a Kafka value (is_blank_frame).
TEST(LineReader, WhitespaceWithCarriageReturnsIsBlank) {
  Pipe p(" \r \n\r\r\n\t\r\t\r\n \v \n");
  LineReader r(p.read_fd, 1000);
  EXPECT_EQ(r.next().kind, LineReader::Kind::blank);
  EXPECT_EQ(r.next().kind, LineReader::Kind::blank);
  EXPECT_EQ(r.next().kind, LineReader::Kind::blank);
  EXPECT_EQ(r.next().kind, LineReader::Kind::line) << "a vertical tab is not JSON whitespace";
  EXPECT_EQ(r.next().kind, LineReader::Kind::end);
}

TEST(LineReader, HugeLineIsSkippedNotBuffered) {
  const std::size_t huge = 100u << 20;  // 100 MB on one line
  std::string bytes = "{\"x\":1}\n" + std::string(huge, 'y') + "\r\n{\"z\":1}\n";
  Pipe p(std::move(bytes));
  LineReader r(p.read_fd, 1 << 20);
  EXPECT_EQ(r.next().kind, LineReader::Kind::line);
  auto l = r.next();
  ASSERT_EQ(l.kind, LineReader::Kind::too_large);
  EXPECT_EQ(l.full_size, huge);
  EXPECT_EQ(l.size, kRejectPrefixBytes);
  EXPECT_EQ(l.number, 2u);
  l = r.next();
  ASSERT_EQ(l.kind, LineReader::Kind::line);
  EXPECT_EQ(std::string(l.data, l.size), "{\"z\":1}");
  EXPECT_EQ(l.number, 3u);
}

TEST(LineReader, LineJustOverTheLimit) {
  Pipe p(std::string(11, 'a') + "\n" + std::string(10, 'b') + "\r\n" + std::string(11, 'c'));
  LineReader r(p.read_fd, 10);
  auto l = r.next();
  EXPECT_EQ(l.kind, LineReader::Kind::too_large);
  EXPECT_EQ(l.full_size, 11u);
  EXPECT_EQ(r.next().kind, LineReader::Kind::line) << "10 bytes + CR is within a 10-byte limit";
  l = r.next();
  EXPECT_EQ(l.kind, LineReader::Kind::too_large);
  EXPECT_EQ(l.full_size, 11u);
  EXPECT_EQ(r.next().kind, LineReader::Kind::end);
}

TEST(LineReader, TooLargeLineKeepsTheSamePrefixHoweverItArrives) {
  // File mode keeps an oversized line's first kRejectPrefixBytes without its
  // line-ending \r; through a pipe read a byte at a time the reader once kept
  // what it had when the line passed the limit (66 of 91 bytes), and a last
  // line's \r without a \n.
  const std::string line(91, 'q');
  const std::string big(3000, 'z');
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
    Pipe p(line + "\r\n" + big + "\n" + line + "\r");
    LineReader r(p.read_fd, 64, chunk);
    auto l = r.next();
    ASSERT_EQ(l.kind, LineReader::Kind::too_large) << chunk;
    EXPECT_EQ(l.full_size, 91u) << chunk;
    EXPECT_EQ(std::string(l.data, l.size), line) << chunk;
    l = r.next();
    ASSERT_EQ(l.kind, LineReader::Kind::too_large) << chunk;
    EXPECT_EQ(l.full_size, 3000u) << chunk;
    EXPECT_EQ(std::string(l.data, l.size), big.substr(0, kRejectPrefixBytes)) << chunk;
    l = r.next();
    ASSERT_EQ(l.kind, LineReader::Kind::too_large) << chunk;
    EXPECT_EQ(l.full_size, 91u) << chunk << ": the last line's \r is a line end too";
    EXPECT_EQ(std::string(l.data, l.size), line) << chunk;
    EXPECT_EQ(r.next().kind, LineReader::Kind::end);
  }
}

TEST(LineReader, LongLinesUpToALargeLimit) {
  // The buffer starts small and grows to the limit as longer lines come
  // (max_frame_bytes: 1GiB must not cost 1 GiB at start): every length up
  // to the limit is a line, one byte over it too large, across small reads.
  constexpr std::size_t kMax = 3u << 20;
  std::string bytes;
  const std::size_t sizes[] = {10, 100000, 1u << 20, kMax, kMax + 1, 70000, kMax - 1, 5};
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    bytes.append(sizes[i], static_cast<char>('a' + i));
    bytes += (i % 2 == 0) ? "\n" : "\r\n";
  }
  Pipe p(bytes);
  LineReader r(p.read_fd, kMax, 4096);
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    const auto l = r.next();
    if (sizes[i] > kMax) {
      EXPECT_EQ(l.kind, LineReader::Kind::too_large) << i;
      EXPECT_EQ(l.full_size, sizes[i]) << i;
      continue;
    }
    ASSERT_EQ(l.kind, LineReader::Kind::line) << i;
    ASSERT_EQ(l.size, sizes[i]) << i;
    EXPECT_EQ(std::string(l.data, l.size), std::string(sizes[i], static_cast<char>('a' + i))) << i;
    EXPECT_EQ(l.number, i + 1);
  }
  EXPECT_EQ(r.next().kind, LineReader::Kind::end);
}

}  // namespace
}  // namespace uniqd::processor

namespace uniqd::processor {
namespace {

// A hook that fails (results could not be written) ends the input at once,
// even though the writer keeps the pipe open, and the partial line read so
// far is not handed out as a frame.
TEST(LineReader, FailingBeforeReadHookEndsTheInput) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::string bytes = "{\"a\":1}\n{\"b\":";
  ASSERT_EQ(::write(fds[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  LineReader r(fds[0], 1000);
  int calls = 0;
  r.set_before_read(
      [](void* arg) {
        ++*static_cast<int*>(arg);
        return false;
      },
      &calls);
  auto l = r.next();
  ASSERT_EQ(l.kind, LineReader::Kind::line);
  EXPECT_EQ(std::string(l.data, l.size), "{\"a\":1}");
  EXPECT_EQ(r.next().kind, LineReader::Kind::end);
  EXPECT_TRUE(r.aborted());
  EXPECT_FALSE(r.interrupted());
  EXPECT_EQ(calls, 1);
  ::close(fds[1]);
  ::close(fds[0]);
}

}  // namespace
}  // namespace uniqd::processor
