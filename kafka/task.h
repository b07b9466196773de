// Kafka mode: this process is one replica of the application, a member of
// its consumer group (docs/SCALE_OUT.md). run_task sets the replica up
// (signals, metrics endpoint, topics, its state directory and identity) and
// runs its stream thread (kafka/stream_thread.h).
#pragma once

#include "config/config.h"

namespace uniqd::kafka {

// Runs until a stop signal, or with until_end until the group drained the
// input. Returns the process exit status.
int run_task(const config::Config& c);

}  // namespace uniqd::kafka
