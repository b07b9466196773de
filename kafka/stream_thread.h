// One replica's processing loop (Kafka Streams' StreamThread): one consumer
// in the application's group, subscribed to the input topic and the two
// internal topics, so that every assigned partition is a task of one of three
// kinds (docs/SCALE_OUT.md):
//   ingest  an input partition: parse, validate, event-time checks, rejects;
//           accepted frames go to their shard through the repartition topic,
//           the partition's time to every shard as markers
//   count   a repartition partition = a shard: its uid sets (RocksDB + the
//           changelog), partial counts per window
//   sum     a partials partition: global counts of the windows it owns,
//           published once every shard's watermark passed their end
// With input_partitioned_by: uid, input partition p is shard p: its frames
// go to count task p in process and the repartition topic is not used.
//
// Every commit_interval one Kafka transaction (exactly_once) carries what
// every task produced and every task's consumed offsets; the local RocksDB
// stores are written only after it committed. An abort rewinds every task to
// the last commit.
#pragma once

#include <string>

#include "config/config.h"
#include "kafka/record_collector.h"
#include "processor/metrics.h"

namespace uniqd::kafka {

struct ReplicaSetup {
  TopicNames topics;
  int input_partitions{0};
  std::string transactional_id;  // exactly_once
  std::string state_path;        // <state_dir>/<application_id>
};

// Runs the loop until a stop signal (processor/stop_signal.h) or, with
// until_end, until the group drained the input. Returns the process exit
// status.
int run_stream_thread(const config::Config& c, const ReplicaSetup& setup, processor::MetricsServer* metrics);

}  // namespace uniqd::kafka
