#include "processor/mapped_file.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "processor/frame_parser.h"

namespace uniqd::processor {

std::unique_ptr<MappedFile> MappedFile::map(int fd, std::string* why) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) return nullptr;
  const auto size = static_cast<std::size_t>(st.st_size);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t file_pages = (size + page - 1) / page * page;
  // Anonymous zero pages first, the file over their start: the padding
  // after the file's last page stays readable, which a mapping of the file
  // alone would not be (SIGBUS past the file's last page).
  const std::size_t reserved = file_pages + (kFramePadding + page - 1) / page * page;
  void* area = ::mmap(nullptr, reserved, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) {
    if (why != nullptr) *why = std::strerror(errno);
    return nullptr;
  }
  void* file = ::mmap(area, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
  if (file == MAP_FAILED) {
    if (why != nullptr) *why = std::strerror(errno);
    ::munmap(area, reserved);
    return nullptr;
  }
  ::madvise(file, size, MADV_SEQUENTIAL);
  return std::unique_ptr<MappedFile>(new MappedFile(static_cast<char*>(file), size, reserved));
}

void MappedFile::release_before(const char* upto) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t end = static_cast<std::size_t>(upto - data_) / page * page;
  if (end <= released_) return;
  ::madvise(data_ + released_, end - released_, MADV_DONTNEED);
  released_ = end;
}

MappedFile::~MappedFile() {
  ::munmap(data_, reserved_);
}

}  // namespace uniqd::processor
