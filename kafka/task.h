// Kafka mode: one consumer-group member running the engine over its assigned
// input partitions, publishing results and rejects, and committing offsets
// only for what has been emitted and acknowledged (at-least-once; see
// docs/KAFKA.md for the commit rule and what a restart re-reads).
#pragma once

#include "config/config.h"

namespace uniqd::kafka {

// Runs until a stop signal, or with until_end until the end offsets seen at
// assignment. Returns the process exit status.
int run_task(const config::Config& c);

}  // namespace uniqd::kafka
