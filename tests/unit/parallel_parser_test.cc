#include "processor/parallel_parser.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "processor/line_reader.h"
#include "processor/mapped_file.h"
#include "temp_dir.h"

namespace uniqd::processor {
namespace {

// What the engine is told about one line, in order.
struct Seen {
  std::string kind;  // line, blank, too_large
  std::int64_t number;
  std::string bytes;
  std::uint64_t full_size;
  std::optional<RejectReason> why;
  bool operator==(const Seen&) const = default;
};

std::string write_file(const std::string& dir, const std::string& bytes) {
  const std::string path = dir + "/input.jsonl";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  return path;
}

// LineReader's lines, with the verdict of a frame parser.
std::vector<Seen> by_line_reader(const std::string& path, std::size_t max) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  LineReader r(fd, max);
  FrameParser parser(max);
  std::vector<Seen> out;
  while (true) {
    const LineReader::Line l = r.next();
    if (l.kind == LineReader::Kind::end) break;
    const auto n = static_cast<std::int64_t>(l.number);
    const std::string bytes(l.data, l.size);
    if (l.kind == LineReader::Kind::blank) {
      out.push_back({"blank", n, bytes, l.full_size, std::nullopt});
    } else if (l.kind == LineReader::Kind::too_large) {
      out.push_back({"too_large", n, bytes, l.full_size, RejectReason::too_large});
    } else {
      std::string padded = bytes + std::string(kFramePadding, '\0');
      ParsedFrame f;
      out.push_back({"line", n, bytes, l.full_size, parser.parse(padded.data(), l.size, f)});
    }
  }
  ::close(fd);
  return out;
}

// The mapped file's lines through add_lines, cut into pieces of about
// piece bytes at line ends, as file mode does.
std::vector<Seen> by_mapped_pieces(const std::string& path, std::size_t max, std::size_t piece) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  std::vector<Seen> out;
  std::unique_ptr<MappedFile> m = MappedFile::map(fd, nullptr);
  if (m == nullptr) {
    ::close(fd);
    return out;  // an empty file: no lines
  }
  ParallelParser pp(2, max, TsUnit::seconds, 3);
  const ParallelParser::Apply apply = [&](const ParsedLine& l) {
    const std::string kind = l.blank ? "blank" : l.too_large ? "too_large" : "line";
    out.push_back({kind, l.pos.offset, std::string(l.bytes), l.full_size, l.blank ? std::nullopt : l.why});
  };
  const char* p = m->data();
  const char* const end = p + m->size();
  while (p < end) {
    const char* cut = p + std::min<std::size_t>(piece, static_cast<std::size_t>(end - p));
    if (cut < end) {
      const void* nl = std::memchr(cut - 1, '\n', static_cast<std::size_t>(end - cut + 1));
      cut = nl != nullptr ? static_cast<const char*>(nl) + 1 : end;
    }
    pp.add_lines(p, static_cast<std::size_t>(cut - p), apply);
    p = cut;
  }
  pp.finish(apply);
  ::close(fd);
  return out;
}

TEST(ParallelParser, InPlaceLinesAreCutAndNumberedLikeLineReader) {
  const std::string frame = R"({"uid":"a","ts":1468244340})";
  const std::string big(300, 'x');
  const std::vector<std::string> inputs = {
      frame + "\n" + frame + "\r\n\n \t\r\n" + frame,              // CRLF, blank, last line without \n
      frame + "\n",                                                // one line
      "\n\n\n",                                                    // blank only
      "\r",                                                        // a lone CR
      big + "\n" + frame + "\n" + big + "\r\n" + big,              // too large, with \r, and last
      "{\"uid\":\"a\",\"ts\":1}\n{\"uid\":\"a\"\n{bad\n" + frame,  // rejects
      frame,                                                       // the file ends right after the frame
  };
  test_support::TempDir dir;
  for (const std::string& in : inputs) {
    const std::string path = write_file(dir.path(), in);
    const auto expected = by_line_reader(path, 200);
    ASSERT_FALSE(expected.empty()) << in;
    for (std::size_t piece : {1u, 7u, 64u, 1u << 20}) {
      EXPECT_EQ(by_mapped_pieces(path, 200, piece), expected) << "piece " << piece << ": " << in;
    }
  }
}

TEST(ParallelParser, ManyPiecesInOrder) {
  // More pieces than batches in flight: applied in input order all the same.
  std::string in;
  for (int i = 0; i < 5000; ++i) {
    in += R"({"uid":"u)" + std::to_string(i) + R"(","ts":)" + std::to_string(1468244340 + i) + "}\n";
    if (i % 97 == 0) in += "\n";
  }
  test_support::TempDir dir;
  const std::string path = write_file(dir.path(), in);
  EXPECT_EQ(by_mapped_pieces(path, 1 << 20, 500), by_line_reader(path, 1 << 20));
}

TEST(MappedFile, OnlyNonEmptyRegularFiles) {
  test_support::TempDir dir;
  const std::string path = write_file(dir.path(), "");
  const int fd = ::open(path.c_str(), O_RDONLY);
  EXPECT_EQ(MappedFile::map(fd, nullptr), nullptr);
  ::close(fd);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  EXPECT_EQ(MappedFile::map(fds[0], nullptr), nullptr);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(MappedFile, PaddingAfterTheEndIsReadable) {
  // A file of exactly one page: the padding lies past the file's last page.
  test_support::TempDir dir;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::string path = write_file(dir.path(), std::string(page, 'a'));
  const int fd = ::open(path.c_str(), O_RDONLY);
  auto m = MappedFile::map(fd, nullptr);
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->size(), page);
  unsigned sum = 0;
  for (std::size_t i = 0; i < kFramePadding; ++i) sum += static_cast<unsigned char>(m->data()[page + i]);
  EXPECT_EQ(sum, 0u);
  ::close(fd);
}

}  // namespace
}  // namespace uniqd::processor
