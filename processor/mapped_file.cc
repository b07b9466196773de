#include "processor/mapped_file.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "processor/frame_parser.h"

namespace uniqd::processor {
namespace {

// What the SIGBUS handler needs, set before it is installed: the guarded
// range and the whole message (nothing to format in a signal handler).
std::atomic<const char*> g_guarded{nullptr};
std::atomic<std::size_t> g_guarded_size{0};
char g_message[1024];
std::size_t g_message_size{0};

void on_sigbus(int sig, siginfo_t* info, void*) {
  const char* begin = g_guarded.load();
  const auto* at = static_cast<const char*>(info->si_addr);
  if (begin != nullptr && at >= begin && at < begin + g_guarded_size.load()) {
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, g_message, g_message_size);
    ::_exit(1);
  }
  // Not the input's: what SIGBUS would have done without this handler.
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

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

void MappedFile::exit_if_truncated(const std::string& name) {
  const int n = std::snprintf(g_message, sizeof g_message,
                              "uniqd: input '%s' shrank while it was read (SIGBUS on its mapped pages): stopped with "
                              "status 1; the results and rejects written so far cover only part of it\n",
                              name.c_str());
  g_message_size = n < 0 ? 0 : std::min(static_cast<std::size_t>(n), sizeof g_message - 1);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  g_guarded_size = (size_ + page - 1) / page * page;  // the file's pages
  g_guarded = data_;
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, nullptr);
}

MappedFile::~MappedFile() {
  const char* mine = data_;
  g_guarded.compare_exchange_strong(mine, nullptr);
  ::munmap(data_, reserved_);
}

}  // namespace uniqd::processor
