#include "processor/line_reader.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "processor/frame.h"
#include "processor/frame_parser.h"

namespace uniqd::processor {
namespace {

// What the buffer holds of a line at first; it grows (doubling) to the most
// a line needs when a longer one comes, so that max_frame_bytes: 1GiB does
// not cost 1 GiB before the first frame.
constexpr std::size_t kInitialLineBytes = 64 * 1024;

}  // namespace

LineReader::LineReader(int fd, std::size_t max_frame_bytes, std::size_t read_chunk)
    : fd_(fd),
      max_(max_frame_bytes),
      chunk_(std::max<std::size_t>(read_chunk, 1)),
      // Room for one maximal line (+\r\n) plus one read, plus padding.
      full_size_(max_ + 2 + chunk_ + kFramePadding) {
  buf_.resize(std::min(full_size_, kInitialLineBytes + 2 + chunk_ + kFramePadding));
}

bool LineReader::fill() {
  if (eof_) return false;
  if (begin_ > 0 && (buf_.size() - kFramePadding - end_) < chunk_) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    scanned_ -= begin_;
    begin_ = 0;
  }
  if (buf_.size() - kFramePadding - end_ < chunk_ && buf_.size() < full_size_) {
    buf_.resize(std::min(full_size_, std::max(2 * buf_.size(), end_ + chunk_ + kFramePadding)));
  }
  const std::size_t room = buf_.size() - kFramePadding - end_;
  if (hook_ != nullptr) {
    // Only when no data is waiting: a file or a busy pipe never blocks, so
    // flushing there would only cost time.
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 0) == 0 && !hook_(hook_arg_)) {
      aborted_ = true;
      eof_ = true;
      return false;
    }
  }
  while (true) {
    if (stop_ != nullptr && *stop_ != 0) {
      interrupted_ = true;
      eof_ = true;
      return false;
    }
    const ssize_t n = ::read(fd_, buf_.data() + end_, std::min(room, chunk_));
    if (n > 0) {
      end_ += static_cast<std::size_t>(n);
      bytes_read_ += static_cast<std::uint64_t>(n);
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno == EINTR) {
      if (stop_ != nullptr && *stop_ != 0) {
        interrupted_ = true;
        eof_ = true;
        return false;
      }
      continue;
    }
    error_ = std::strerror(errno);
    eof_ = true;
    return false;
  }
}

LineReader::Line LineReader::next() {
  while (true) {
    const char* nl = nullptr;
    if (scanned_ < end_) {
      nl = static_cast<const char*>(std::memchr(buf_.data() + scanned_, '\n', end_ - scanned_));
    }
    if (nl == nullptr) {
      scanned_ = end_;
      const std::size_t pending = end_ - begin_;
      if (pending > max_ + 1) {
        // Too large: keep a prefix, then skip to the end of the line while
        // counting its bytes, never buffering it.
        prefix_.assign(buf_.data() + begin_, std::min(pending, kRejectPrefixBytes));
        std::uint64_t size = pending;
        char last = buf_[end_ - 1];
        begin_ = scanned_ = end_;
        bool got_newline = false;
        while (!got_newline && fill()) {
          const char* p = static_cast<const char*>(std::memchr(buf_.data() + begin_, '\n', end_ - begin_));
          const std::size_t at = p != nullptr ? static_cast<std::size_t>(p - buf_.data()) : end_;
          // The kept prefix is the same however the line arrived (a slow
          // pipe hands it over in small reads): its first kRejectPrefixBytes.
          if (prefix_.size() < kRejectPrefixBytes) {
            prefix_.append(buf_.data() + begin_, std::min(at - begin_, kRejectPrefixBytes - prefix_.size()));
          }
          size += at - begin_;
          if (at > begin_) last = buf_[at - 1];
          got_newline = p != nullptr;
          begin_ = scanned_ = (p != nullptr ? at + 1 : at);
        }
        if (!error_.empty()) return Line{Kind::error, nullptr, 0, 0, line_no_};
        if (!got_newline && (interrupted_ || aborted_)) return Line{Kind::end, nullptr, 0, 0, line_no_};
        // A \r that ends the line (before its \n, or the input's last byte)
        // belongs to the line end, not to the frame, as for any line.
        if (last == '\r') --size;
        if (prefix_.size() > size) prefix_.resize(size);
        return Line{Kind::too_large, prefix_.data(), prefix_.size(), size, ++line_no_};
      }
      if (fill()) continue;
      if (!error_.empty()) return Line{Kind::error, nullptr, 0, 0, line_no_};
      if (begin_ == end_ || interrupted_ || aborted_) return Line{Kind::end, nullptr, 0, 0, line_no_};
      nl = buf_.data() + end_;  // last line without a newline
    }
    const std::size_t at = static_cast<std::size_t>(nl - buf_.data());
    const char* data = buf_.data() + begin_;
    std::size_t size = at - begin_;
    begin_ = scanned_ = (at < end_ ? at + 1 : at);
    if (size > 0 && data[size - 1] == '\r') --size;
    ++line_no_;
    if (size > max_) {
      const std::size_t keep = std::min(size, kRejectPrefixBytes);
      prefix_.assign(data, keep);
      return Line{Kind::too_large, prefix_.data(), keep, size, line_no_};
    }
    if (is_blank_frame(std::string_view(data, size))) return Line{Kind::blank, data, size, size, line_no_};
    return Line{Kind::line, data, size, size, line_no_};
  }
}

}  // namespace uniqd::processor
