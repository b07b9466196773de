// The outcome of a state operation that can fail, RocksDB-style: a code and a
// message naming the thing at fault. Returned, never thrown, so that the
// commit path stays free of exceptions; [[nodiscard]] so that no caller drops
// a failed write on the floor.
#pragma once

#include <string>
#include <utility>

namespace uniqd::state {

class [[nodiscard]] Status {
 public:
  enum class Code : unsigned char { ok, not_found, corruption, invalid_argument, io_error };

  Status() = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::not_found, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::corruption, std::move(msg)); }
  static Status InvalidArgument(std::string msg) { return Status(Code::invalid_argument, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::io_error, std::move(msg)); }

  bool ok() const { return code_ == Code::ok; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::not_found; }
  bool IsCorruption() const { return code_ == Code::corruption; }
  bool IsInvalidArgument() const { return code_ == Code::invalid_argument; }
  bool IsIOError() const { return code_ == Code::io_error; }
  const std::string& message() const { return msg_; }

  // "OK", or the code's name and the message: "Corruption: <message>".
  std::string ToString() const {
    if (ok()) return "OK";
    return std::string(code_name(code_)) + ": " + msg_;
  }

 private:
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}

  static const char* code_name(Code c) {
    switch (c) {
      case Code::ok:
        return "OK";
      case Code::not_found:
        return "NotFound";
      case Code::corruption:
        return "Corruption";
      case Code::invalid_argument:
        return "Invalid argument";
      case Code::io_error:
        return "IO error";
    }
    return "Unknown";
  }

  Code code_{Code::ok};
  std::string msg_;
};

}  // namespace uniqd::state
