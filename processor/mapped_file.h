// A regular file mapped read-only into memory, so that file mode hands its
// lines to the parse threads in place: no read(2) copy, no copy into
// batches, and the reading thread is left with cutting the file into pieces
// and counting. The mapping is followed by at least kFramePadding readable
// bytes (zeros), so the last line can be parsed in place too.
//
// The file must not shrink while mapped: reading a page that is gone past
// its end is SIGBUS. uniqd maps only regular files given with --input, and
// exit_if_truncated() turns that SIGBUS into a message naming the file and
// exit status 1 instead of a silent "Bus error".
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace uniqd::processor {

class MappedFile {
 public:
  // nullptr when fd is not a regular file, is empty, or cannot be mapped
  // (error() of a failed mapping is then in *why); the caller reads it instead.
  static std::unique_ptr<MappedFile> map(int fd, std::string* why);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return data_; }
  std::size_t size() const { return size_; }
  // The bytes before `upto` will not be read again: their pages leave this
  // process (they stay in the page cache), so the resident size stays that
  // of the pieces in flight, not of the whole file.
  void release_before(const char* upto);
  // From now until this mapping goes, a SIGBUS on its pages (the file was
  // truncated while read) ends the process with status 1 and one line on
  // stderr naming `name`: the results written so far cover part of the file.
  // One mapping at a time; any other SIGBUS keeps its default action.
  void exit_if_truncated(const std::string& name);

 private:
  MappedFile(char* data, std::size_t size, std::size_t reserved) : data_(data), size_(size), reserved_(reserved) {}
  char* data_;
  std::size_t size_;
  std::size_t reserved_;     // bytes reserved: the file's pages and the padding's
  std::size_t released_{0};  // bytes from data_ given back so far (whole pages)
};

}  // namespace uniqd::processor
