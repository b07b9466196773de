// SIGINT and SIGTERM for every input mode: one flag, set by the handler,
// read by the loops (file reading, Kafka consuming, retries, restore).
#pragma once

#include <csignal>

namespace uniqd::processor {

// Installs the handlers (idempotent). No SA_RESTART: a blocked read(2)
// returns EINTR, so the reader sees the flag at once instead of after the
// next line arrives.
void install_stop_signal_handlers();

// True once SIGINT or SIGTERM arrived (or request_stop() was called).
bool stop_requested() noexcept;

// Sets the flag as the signal would: a fatal condition found on one thread
// that must end the loops the same orderly way, and tests.
void request_stop() noexcept;

// Back to "not requested": tests only (a process stops once).
void clear_stop_request() noexcept;

// The flag itself, for code that waits on it (LineReader::set_stop_flag).
const volatile std::sig_atomic_t* stop_flag() noexcept;

}  // namespace uniqd::processor
