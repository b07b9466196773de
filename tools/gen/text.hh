// A minimal growable byte buffer with inline appends (std::string's appends
// are out-of-line calls in libstdc++; this is the generator's hot path).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

namespace uniqd::gen {

class Text {
 public:
  Text() = default;
  Text(const Text&) = delete;
  Text& operator=(const Text&) = delete;
  ~Text() { std::free(data_); }

  void clear() { size_ = 0; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data_, size_}; }
  char operator[](size_t k) const { return data_[k]; }

  void reserve(size_t n) {
    if (n > cap_) grow_to(n);
  }
  void push_back(char c) {
    if (size_ == cap_) grow_to(size_ + 1);
    data_[size_++] = c;
  }
  Text& operator+=(char c) {
    push_back(c);
    return *this;
  }
  Text& operator+=(std::string_view v) {
    if (cap_ - size_ < v.size()) grow_to(size_ + v.size());
    std::memcpy(data_ + size_, v.data(), v.size());
    size_ += v.size();
    return *this;
  }

 private:
  [[gnu::noinline]] void grow_to(size_t need) {
    size_t cap = cap_ ? cap_ * 2 : 4096;
    while (cap < need) cap *= 2;
    char* p = static_cast<char*>(std::realloc(data_, cap));
    if (!p) throw std::bad_alloc();
    data_ = p;
    cap_ = cap;
  }

  char* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

}  // namespace uniqd::gen
