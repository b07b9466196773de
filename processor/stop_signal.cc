#include "processor/stop_signal.h"

#include <signal.h>

namespace uniqd::processor {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int) {
  g_stop = 1;
}

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked read must wake up
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A hangup (the terminal or the ssh session gone) stops as gracefully:
  // by default it killed uniqd with nothing committed.
  sigaction(SIGHUP, &sa, nullptr);
}

bool stop_requested() noexcept {
  return g_stop != 0;
}
void request_stop() noexcept {
  g_stop = 1;
}
void clear_stop_request() noexcept {
  g_stop = 0;
}
const volatile std::sig_atomic_t* stop_flag() noexcept {
  return &g_stop;
}

}  // namespace uniqd::processor
