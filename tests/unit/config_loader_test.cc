#include "config/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace uniqd::config {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Config has no operator==; a mismatch here names the field.
void expect_same(const Config& a, const Config& b) {
  EXPECT_EQ(a.application_id, b.application_id);
  EXPECT_EQ(a.input, b.input);
  EXPECT_EQ(a.input_path, b.input_path);
  EXPECT_EQ(a.rejects_path, b.rejects_path);
  EXPECT_EQ(a.engine.windows, b.engine.windows);
  EXPECT_EQ(a.engine.lateness, b.engine.lateness);
  EXPECT_EQ(a.engine.late_policy, b.engine.late_policy);
  EXPECT_EQ(a.engine.retention, b.engine.retention);
  EXPECT_EQ(a.engine.outlier_threshold, b.engine.outlier_threshold);
  EXPECT_EQ(a.engine.outlier_confirm, b.engine.outlier_confirm);
  EXPECT_EQ(a.engine.partition_time_confirm, b.engine.partition_time_confirm);
  EXPECT_EQ(a.engine.partition_time_step, b.engine.partition_time_step);
  EXPECT_EQ(a.engine.max_future_skew, b.engine.max_future_skew);
  EXPECT_EQ(a.engine.early_results, b.engine.early_results);
  EXPECT_EQ(a.engine.ts_unit, b.engine.ts_unit);
  EXPECT_EQ(a.engine.max_frame_bytes, b.engine.max_frame_bytes);
  EXPECT_EQ(a.engine.idle_timeout, b.engine.idle_timeout);
  EXPECT_EQ(a.kafka.brokers, b.kafka.brokers);
  EXPECT_EQ(a.kafka.input_topic, b.kafka.input_topic);
  EXPECT_EQ(a.kafka.output_topic, b.kafka.output_topic);
  EXPECT_EQ(a.kafka.dead_letter_topic, b.kafka.dead_letter_topic);
  EXPECT_EQ(a.kafka.create_partitions, b.kafka.create_partitions);
  EXPECT_EQ(a.kafka.replication_factor, b.kafka.replication_factor);
  EXPECT_EQ(a.kafka.client, b.kafka.client);
  EXPECT_EQ(a.kafka.consumer, b.kafka.consumer);
  EXPECT_EQ(a.kafka.producer, b.kafka.producer);
  EXPECT_EQ(a.state_dir, b.state_dir);
  EXPECT_EQ(a.state_store.shards, b.state_store.shards);
  EXPECT_EQ(a.state_store.block_cache, b.state_store.block_cache);
  EXPECT_EQ(a.state_store.write_buffer, b.state_store.write_buffer);
  EXPECT_EQ(a.guarantee, b.guarantee);
  EXPECT_EQ(a.commit_interval, b.commit_interval);
  EXPECT_EQ(a.metrics_address, b.metrics_address);
  EXPECT_EQ(a.log_level, b.log_level);
  EXPECT_EQ(a.log_format, b.log_format);
  EXPECT_EQ(a.until_end, b.until_end);
  EXPECT_EQ(a.progress, b.progress);
}

Config load(const std::string& yaml) {
  Config c;
  load_config_string(yaml, "t.yaml", c);
  return c;
}

// The message of the error loading yaml raises, checked to be one line.
std::string error_of(const std::string& yaml) {
  Config c;
  try {
    load_config_string(yaml, "t.yaml", c);
  } catch (const ConfigFileError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "no error for:\n" << yaml;
  return "";
}

std::string temp_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::path(::testing::TempDir()) / ("uniqd_config_loader_" + name);
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

TEST(ConfigLoader, EmptyInputKeepsDefaults) {
  for (const char* text : {"", "\n", "# only a comment\n", "---\n", "---\n...\n"}) {
    SCOPED_TRACE(text);
    expect_same(load(text), Config{});
  }
  const std::string path = temp_file("empty.yaml", "");
  Config c;
  load_config_file(path, c);
  expect_same(c, Config{});
}

TEST(ConfigLoader, ExampleFileIsTheDefaults) {
  Config c;
  load_config_file(UNIQD_SOURCE_DIR "/config/uniqd.example.yaml", c);
  expect_same(c, Config{});
  EXPECT_EQ(to_yaml(c), to_yaml(Config{}));
}

TEST(ConfigLoader, ExampleFileDocumentsEveryKey) {
  std::ifstream in(UNIQD_SOURCE_DIR "/config/uniqd.example.yaml");
  std::vector<std::string> example;
  for (std::string line; std::getline(in, line);) example.push_back(line);
  std::istringstream printed(to_yaml(Config{}));
  for (std::string line; std::getline(printed, line);) {
    // Up to the colon, indentation included, so each key is found in its section.
    const std::string key = line.substr(0, line.find(':') + 1);
    const bool found =
        std::any_of(example.begin(), example.end(), [&](const std::string& l) { return l.rfind(key, 0) == 0; });
    EXPECT_TRUE(found) << key;
  }
}

TEST(ConfigLoader, EveryKey) {
  const Config c = load(R"(
application_id: fleet-1
input: {kind: file, path: /data/frames.jsonl}
rejects_path: /tmp/rejects.jsonl
windows: [hour, minute]
lateness: 250ms
late_policy: update
retention: 2h
outlier_threshold: 10m
outlier_confirm: 5
partition_time_confirm: 3
partition_time_step: 2s
max_future_skew: 1d
early_results: false
ts_unit: ms
max_frame_bytes: 64KiB
idle_timeout: 1m
kafka:
  brokers: k1:9092,k2:9092
  topics: {input: in, output: out, dead_letter: dlq}
  create_partitions: 12
  replication_factor: 3
  consumer:
    fetch.max.bytes: 52428800
    enable.partition.eof: false
    client.rack: "eu-1a"
  producer:
    linger.ms: 5
state_dir: /srv/uniqd
state_store: {shards: 8, block_cache: 1GiB, write_buffer: 128MiB}
processing_guarantee: at_least_once
commit_interval: 250ms
metrics_address: 0.0.0.0:9100
log: {level: debug, format: json}
until_end: yes
progress: off
)");
  EXPECT_EQ(c.application_id, "fleet-1");
  EXPECT_EQ(c.input, InputKind::file);
  EXPECT_EQ(c.input_path, "/data/frames.jsonl");
  EXPECT_EQ(c.rejects_path, "/tmp/rejects.jsonl");
  EXPECT_EQ(c.engine.windows, (std::vector<std::string>{"hour", "minute"}));
  EXPECT_EQ(c.engine.lateness, milliseconds(250));
  EXPECT_EQ(c.engine.late_policy, LatePolicy::update);
  EXPECT_EQ(c.engine.retention, milliseconds(2 * 3600 * 1000));
  EXPECT_EQ(c.engine.outlier_threshold, milliseconds(600 * 1000));
  EXPECT_EQ(c.engine.outlier_confirm, 5);
  EXPECT_EQ(c.engine.partition_time_confirm, 3);
  EXPECT_EQ(c.engine.partition_time_step, milliseconds(2000));
  EXPECT_EQ(c.engine.max_future_skew, milliseconds(86400 * 1000));
  EXPECT_FALSE(c.engine.early_results);
  EXPECT_EQ(c.engine.ts_unit, TsUnit::ms);
  EXPECT_EQ(c.engine.max_frame_bytes, 65536u);
  EXPECT_EQ(c.engine.idle_timeout, milliseconds(60 * 1000));
  EXPECT_EQ(c.kafka.brokers, "k1:9092,k2:9092");
  EXPECT_EQ(c.kafka.input_topic, "in");
  EXPECT_EQ(c.kafka.output_topic, "out");
  EXPECT_EQ(c.kafka.dead_letter_topic, "dlq");
  EXPECT_EQ(c.kafka.create_partitions, 12);
  EXPECT_EQ(c.kafka.replication_factor, 3);
  // Numbers and booleans are kept as written: librdkafka takes strings.
  EXPECT_EQ(c.kafka.consumer,
            (std::map<std::string, std::string>{
                {"fetch.max.bytes", "52428800"}, {"enable.partition.eof", "false"}, {"client.rack", "eu-1a"}}));
  EXPECT_EQ(c.kafka.producer, (std::map<std::string, std::string>{{"linger.ms", "5"}}));
  EXPECT_EQ(c.state_dir, "/srv/uniqd");
  EXPECT_EQ(c.state_store.shards, 8);
  EXPECT_EQ(c.state_store.block_cache, 1ull << 30);
  EXPECT_EQ(c.state_store.write_buffer, 128ull << 20);
  EXPECT_EQ(c.guarantee, Guarantee::at_least_once);
  EXPECT_EQ(c.commit_interval, milliseconds(250));
  EXPECT_EQ(c.metrics_address, "0.0.0.0:9100");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.log_format, LogFormat::json);
  EXPECT_TRUE(c.until_end);
  EXPECT_FALSE(c.progress);
}

TEST(ConfigLoader, OnlyNamedKeysChange) {
  Config c;
  c.application_id = "from-before";
  c.kafka.brokers = "before:9092";
  load_config_string("kafka:\n  create_partitions: 8\nrejects_path:\n", "t.yaml", c);
  EXPECT_EQ(c.application_id, "from-before");
  EXPECT_EQ(c.kafka.brokers, "before:9092");
  EXPECT_EQ(c.kafka.create_partitions, 8);
  EXPECT_EQ(c.rejects_path, "");
}

TEST(ConfigLoader, ErrorLeavesConfigUnchanged) {
  Config c;
  EXPECT_THROW(load_config_string("application_id: changed\nlateness: soon\n", "t.yaml", c), ConfigFileError);
  EXPECT_EQ(c.application_id, "uniqd");
}

TEST(ConfigLoader, RoundTrip) {
  Config c;
  c.application_id = "app_2.x";
  c.input = InputKind::file;
  c.input_path = " leading space";
  c.rejects_path = "null";
  c.engine.windows = {"year", "week", "minute"};
  c.engine.lateness = milliseconds(1500);
  c.engine.late_policy = LatePolicy::update;
  c.engine.retention = milliseconds(7LL * 86400 * 1000);
  c.engine.outlier_threshold = milliseconds(90 * 1000);
  c.engine.outlier_confirm = 1;
  c.engine.partition_time_confirm = 4;
  c.engine.partition_time_step = milliseconds(0);
  c.engine.max_future_skew = milliseconds(0);
  c.engine.early_results = false;
  c.engine.ts_unit = TsUnit::ms;
  c.engine.max_frame_bytes = 1000;
  c.engine.idle_timeout = milliseconds(45 * 60 * 1000);
  c.kafka.brokers = "a:1, b:2";
  c.kafka.input_topic = "i";
  c.kafka.output_topic = "o";
  c.kafka.dead_letter_topic = "d";
  c.kafka.create_partitions = 1;
  c.kafka.replication_factor = 2;
  c.kafka.consumer = {{"a.b", "true"}, {"empty", ""}, {"tilde", "~"}, {"colon", "x: y"}, {"multi", "l1\nl2"}};
  c.kafka.producer = {{"acks", "all"}, {"n", "007"}};
  c.state_dir = "C:\\state #1";
  c.guarantee = Guarantee::at_least_once;
  c.state_store.shards = 16;
  c.state_store.block_cache = 3u << 20;
  c.commit_interval = milliseconds(100);
  c.metrics_address = "[::1]:9100";
  c.log_level = "off";
  c.log_format = LogFormat::json;
  c.until_end = true;
  c.progress = false;

  const std::string text = to_yaml(c);
  Config back;
  load_config_string(text, "printed", back);
  expect_same(back, c);
  EXPECT_EQ(to_yaml(back), text);

  const std::string defaults = to_yaml(Config{});
  expect_same(load(defaults), Config{});
  // Loaded over a different config, every key is overwritten.
  Config over = c;
  load_config_string(defaults, "printed", over);
  expect_same(over, Config{});
}

TEST(ConfigLoader, PrintsEveryKey) {
  const std::string text = to_yaml(Config{});
  for (const char* key : {"application_id:",
                          "input:",
                          "kind: stdin",
                          "path: \"\"",
                          "rejects_path:",
                          "windows: [minute, hour, day, week, month, year]",
                          "lateness: 5s",
                          "late_policy: drop",
                          "retention: 1h",
                          "outlier_threshold: 1h",
                          "outlier_confirm: 3",
                          "partition_time_confirm: 3",
                          "partition_time_step: 5s",
                          "max_future_skew: 1h",
                          "early_results: true",
                          "ts_unit: s",
                          "max_frame_bytes: 1MiB",
                          "idle_timeout: 30s",
                          "kafka:",
                          "brokers: 127.0.0.1:9092",
                          "topics:",
                          "input: frames",
                          "output: uniqd-results",
                          "dead_letter: uniqd-dead-letter",
                          "create_partitions: 4",
                          "replication_factor: 1",
                          "client: {}",
                          "consumer: {}",
                          "producer: {}",
                          "state_dir: /var/lib/uniqd",
                          "state_store:",
                          "shards: 4",
                          "block_cache: 64MiB",
                          "write_buffer: 64MiB",
                          "processing_guarantee: exactly_once",
                          "commit_interval: 1s",
                          "metrics_address:",
                          "log:",
                          "level: info",
                          "format: text",
                          "until_end: false",
                          "progress: true"}) {
    EXPECT_THAT(text, HasSubstr(key));
  }
}

// ---- errors: "<file>:<line>:<column>: <key path>: <what>" ----

TEST(ConfigLoaderErrors, UnknownKeySuggestsSibling) {
  EXPECT_EQ(error_of("lateness: 5s\nlatenes: 5s\n"), "t.yaml:2:1: latenes: unknown key; did you mean 'lateness'?");
  EXPECT_EQ(error_of("kafka:\n  topics:\n    inptu: x\n"),
            "t.yaml:3:5: kafka.topics.inptu: unknown key; did you mean 'input'?");
  EXPECT_EQ(error_of("log: {levle: info}\n"), "t.yaml:1:7: log.levle: unknown key; did you mean 'level'?");
}

TEST(ConfigLoaderErrors, UnknownKeyWithoutCloseMatch) {
  EXPECT_EQ(error_of("log:\n  colour: yes\n"), "t.yaml:2:3: log.colour: unknown key (known here: level, format)");
  EXPECT_EQ(error_of("frobnicate: 1\n"), "t.yaml:1:1: frobnicate: unknown key");
}

TEST(ConfigLoaderErrors, UnknownKeyInWrongSection) {
  EXPECT_EQ(error_of("brokers: k:9092\n"), "t.yaml:1:1: brokers: unknown key; did you mean 'kafka.brokers'?");
  EXPECT_EQ(error_of("kafka:\n  late_policy: drop\n"),
            "t.yaml:2:3: kafka.late_policy: unknown key; did you mean 'late_policy'?");
  EXPECT_THAT(error_of("engine:\n  lateness: 5s\n"),
              StartsWith("t.yaml:1:1: engine: unknown key; the engine settings (windows, lateness,"));
}

TEST(ConfigLoaderErrors, DuplicateKey) {
  EXPECT_EQ(error_of("lateness: 5s\nprogress: true\nlateness: 6s\n"),
            "t.yaml:3:1: lateness: duplicate key (first at 1:1)");
  EXPECT_EQ(error_of("kafka:\n  consumer:\n    a: 1\n    a: 2\n"),
            "t.yaml:4:5: kafka.consumer.a: duplicate key (first at 3:5)");
}

TEST(ConfigLoaderErrors, WrongType) {
  EXPECT_EQ(error_of("lateness: {seconds: 5}\n"),
            "t.yaml:1:11: lateness: expected a duration (examples: 250ms, 5s, 10m, 1h, 7d), got a map");
  EXPECT_EQ(error_of("state_dir: [a, b]\n"), "t.yaml:1:12: state_dir: expected a string, got a list");
  EXPECT_EQ(error_of("log:\n  level:\n    name: info\n"),
            "t.yaml:3:5: log.level: expected one of trace, debug, "
            "info, warn, error, critical, off, got a map");
  EXPECT_EQ(error_of("kafka: localhost:9092\n"),
            "t.yaml:1:8: kafka: expected a map of settings (brokers, topics, create_partitions, "
            "replication_factor, client, consumer, producer), got 'localhost:9092'");
  EXPECT_EQ(error_of("windows: minute\n"),
            "t.yaml:1:10: windows: expected a list such as [minute, hour], got 'minute'");
  EXPECT_EQ(error_of("- lateness: 5s\n"),
            "t.yaml:1:1: expected a map of settings (key: value) at the top of the file, got a list");
  EXPECT_EQ(error_of("? [a, b]\n: 1\n"), "t.yaml:1:3: keys must be names, got a list");
}

TEST(ConfigLoaderErrors, MissingValue) {
  EXPECT_EQ(error_of("lateness:\nprogress: true\n"),
            "t.yaml:1:1: lateness: has no value; expected a duration (examples: 250ms, 5s, 10m, 1h, 7d)");
  EXPECT_EQ(error_of("outlier_confirm: ~\n"), "t.yaml:1:1: outlier_confirm: has no value; expected an integer");
}

TEST(ConfigLoaderErrors, NotAnInteger) {
  EXPECT_EQ(error_of("outlier_confirm: 2.5\n"), "t.yaml:1:18: outlier_confirm: '2.5' is not an integer");
  EXPECT_EQ(error_of("kafka:\n  create_partitions: four\n"),
            "t.yaml:2:22: kafka.create_partitions: 'four' is not an integer");
  EXPECT_EQ(error_of("kafka: {replication_factor: 99999999999}\n"),
            "t.yaml:1:29: kafka.replication_factor: '99999999999' is out of range");
}

TEST(ConfigLoaderErrors, NotABoolean) {
  EXPECT_EQ(error_of("early_results: maybe\n"), "t.yaml:1:16: early_results: 'maybe' is not a boolean (true or false)");
  EXPECT_EQ(error_of("until_end: 1\n"), "t.yaml:1:12: until_end: '1' is not a boolean (true or false)");
}

TEST(ConfigLoaderErrors, BadDuration) {
  // The shape of the example in config/loader.h, at depth.
  EXPECT_EQ(error_of("# uniqd\n\n\n\n\n\nlateness:   '5 seconds'\n"),
            "t.yaml:7:13: lateness: '5 seconds' is not a duration (examples: 250ms, 5s, 10m, 1h, 7d)");
  EXPECT_EQ(error_of("commit_interval: 1.5s\n"),
            "t.yaml:1:18: commit_interval: '1.5s' is not a duration (examples: 250ms, 5s, 10m, 1h, 7d)");
  EXPECT_EQ(error_of("idle_timeout: -1s\n"),
            "t.yaml:1:15: idle_timeout: '-1s' is not a duration (examples: 250ms, 5s, 10m, 1h, 7d)");
}

TEST(ConfigLoaderErrors, BadSize) {
  EXPECT_EQ(error_of("max_frame_bytes: 1 MiB\n"),
            "t.yaml:1:18: max_frame_bytes: '1 MiB' is not a size (examples: 512, 64KiB, 1MiB, 1GiB)");
  EXPECT_EQ(error_of("max_frame_bytes: 1\n"), "t.yaml:1:18: max_frame_bytes: must be between 2 and 1GiB");
  EXPECT_EQ(error_of("max_frame_bytes: 2GiB\n"), "t.yaml:1:18: max_frame_bytes: must be between 2 and 1GiB");
}

TEST(ConfigLoaderErrors, Windows) {
  EXPECT_EQ(
      error_of("windows: [minute, hours]\n"),
      "t.yaml:1:19: windows[1]: 'hours' is not one of minute, hour, day, week, month, year; did you mean 'hour'?");
  EXPECT_EQ(error_of("windows:\n  - day\n  - fortnight\n"),
            "t.yaml:3:5: windows[1]: 'fortnight' is not one of minute, hour, day, week, month, year");
  EXPECT_EQ(error_of("windows: []\n"),
            "t.yaml:1:10: windows: the list is empty; name at least one of minute, hour, day, week, month, year");
  EXPECT_EQ(error_of("windows:\n"),
            "t.yaml:1:1: windows: the list is empty; name at least one of minute, hour, day, week, month, year");
  EXPECT_EQ(error_of("windows: [day, hour, day]\n"), "t.yaml:1:22: windows[2]: 'day' is listed twice (first at 1:11)");
  EXPECT_EQ(error_of("windows: [day, [hour]]\n"),
            "t.yaml:1:16: windows[1]: expected one of minute, hour, day, week, month, year, got a list");
}

TEST(ConfigLoaderErrors, BadEnumValue) {
  EXPECT_EQ(error_of("late_policy: updates\n"),
            "t.yaml:1:14: late_policy: 'updates' is not one of drop, update; did you mean 'update'?");
  EXPECT_EQ(error_of("ts_unit: msec\n"), "t.yaml:1:10: ts_unit: 'msec' is not one of s, ms; did you mean 'ms'?");
  EXPECT_EQ(error_of("processing_guarantee: exactly-once\n"),
            "t.yaml:1:23: processing_guarantee: 'exactly-once' is not one of exactly_once, at_least_once; "
            "did you mean 'exactly_once'?");
  EXPECT_EQ(error_of("log:\n  format: yaml\n"), "t.yaml:2:11: log.format: 'yaml' is not one of text, json");
  EXPECT_EQ(error_of("log:\n  level: warning\n"),
            "t.yaml:2:10: log.level: 'warning' is not one of trace, debug, info, warn, error, critical, off; "
            "did you mean 'warn'?");
  EXPECT_EQ(error_of("input: {kind: files}\n"),
            "t.yaml:1:15: input.kind: 'files' is not one of stdin, file, kafka; did you mean 'file'?");
}

TEST(ConfigLoaderErrors, LatenessBeyondRetention) {
  const std::string msg =
      "retention: 1h is shorter than lateness 2h; with late_policy update, final windows must be "
      "kept at least as long as late frames can arrive";
  EXPECT_EQ(error_of("retention: 1h\nlateness: 2h\nlate_policy: update\n"), "t.yaml:1:12: " + msg);
  // Without retention in the file, at the key that made it too short.
  EXPECT_EQ(error_of("late_policy: update\nlateness: 2h\n"), "t.yaml:2:11: " + msg);
  EXPECT_NO_THROW(load("late_policy: drop\nlateness: 2h\n"));
  EXPECT_NO_THROW(load("late_policy: update\nlateness: 1h\nretention: 1h\n"));
}

TEST(ConfigLoaderErrors, OutOfRange) {
  EXPECT_EQ(error_of("outlier_confirm: 0\n"), "t.yaml:1:18: outlier_confirm: must be between 1 and 1000, got 0");
  EXPECT_EQ(error_of("partition_time_confirm: 0\n"),
            "t.yaml:1:25: partition_time_confirm: must be between 1 and 1000, got 0");
  EXPECT_EQ(error_of("outlier_threshold: 500ms\n"), "t.yaml:1:20: outlier_threshold: must be at least 1s");
  EXPECT_EQ(error_of("kafka: {create_partitions: 0}\n"),
            "t.yaml:1:28: kafka.create_partitions: must be at least 1, got 0");
}

// The bounds of the flags (processor/cli.cc): a file could once set what
// --parse-threads or --outlier-confirm refuse (parse_threads: 5000 ran out
// of memory).
TEST(ConfigLoaderErrors, SameBoundsAsTheFlags) {
  EXPECT_EQ(error_of("outlier_confirm: 30000\n"),
            "t.yaml:1:18: outlier_confirm: must be between 1 and 1000, got 30000");
  EXPECT_EQ(error_of("partition_time_confirm: 1001\n"),
            "t.yaml:1:25: partition_time_confirm: must be between 1 and 1000, got 1001");
  EXPECT_EQ(error_of("parse_threads: 5000\n"), "t.yaml:1:16: parse_threads: must be between -1 and 64, got 5000");
  EXPECT_EQ(error_of("parse_threads: -2\n"), "t.yaml:1:16: parse_threads: must be between -1 and 64, got -2");
  const Config c = load("outlier_confirm: 1000\npartition_time_confirm: 1000\nparse_threads: 64\n");
  EXPECT_EQ(c.engine.outlier_confirm, 1000);
  EXPECT_EQ(c.engine.partition_time_confirm, 1000);
  EXPECT_EQ(c.parse_threads, 64);
  EXPECT_EQ(load("parse_threads: -1\n").parse_threads, -1);
}

TEST(ConfigLoader, InputPathAloneMeansFile) {
  const Config c = load("input:\n  path: x.jsonl\n");
  EXPECT_EQ(c.input, InputKind::file);
  EXPECT_EQ(c.input_path, "x.jsonl");
  // An empty path is no path: the kind stays.
  EXPECT_EQ(load("input:\n  path: ''\n").input, InputKind::stdin_);
  EXPECT_EQ(load("input: {kind: kafka, path: ''}\n").input, InputKind::kafka);
}

TEST(ConfigLoaderErrors, InputPathAndKindDisagree) {
  EXPECT_EQ(error_of("input:\n  kind: stdin\n  path: x.jsonl\n"),
            "t.yaml:3:9: input.path: 'x.jsonl' is set but input.kind is stdin; a path is read only with kind file "
            "(leave kind out, or the path)");
  EXPECT_THAT(error_of("input: {path: x.jsonl, kind: kafka}\n"),
              StartsWith("t.yaml:1:15: input.path: 'x.jsonl' is set but input.kind is kafka;"));
  // kind file without a path failed only when the input was opened ("cannot open ''").
  EXPECT_EQ(error_of("input:\n  kind: file\n"),
            "t.yaml:2:9: input.path: is empty; input.kind file needs the path of the file to read");
  EXPECT_EQ(error_of("input:\n  kind: file\n  path:\n"),
            "t.yaml:3:3: input.path: is empty; input.kind file needs the path of the file to read");
}

TEST(ConfigLoader, ParseHostPort) {
  const auto a = parse_host_port("0.0.0.0:9464");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 9464);
  const auto b = parse_host_port("[::1]:65535");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "[::1]");
  EXPECT_EQ(b->port, 65535);
  ASSERT_TRUE(parse_host_port("127.0.0.1:0"));  // any free port
  EXPECT_EQ(parse_host_port("127.0.0.1:0")->port, 0);
  // std::stoi read these as 34463 (99999 wrapped by the socket's 16 bits) and 9465.
  for (const char* bad : {"127.0.0.1:99999", "127.0.0.1:65536", "127.0.0.1:9465abc", "127.0.0.1: 9465",
                          "127.0.0.1:+9465", "127.0.0.1:-1", "127.0.0.1:", "127.0.0.1", ":9464", "", "h:000009464"}) {
    EXPECT_FALSE(parse_host_port(bad)) << bad;
  }
}

TEST(ConfigLoaderErrors, MetricsAddress) {
  EXPECT_EQ(error_of("metrics_address: 127.0.0.1:99999\n"),
            "t.yaml:1:18: metrics_address: '127.0.0.1:99999' is not host:port with a port from 0 to 65535 (0: any "
            "free port; example: 0.0.0.0:9464)");
  EXPECT_THAT(error_of("metrics_address: 127.0.0.1:9465abc\n"),
              StartsWith("t.yaml:1:18: metrics_address: '127.0.0.1:9465abc' is not host:port"));
  EXPECT_EQ(load("metrics_address: ''\n").metrics_address, "");  // off
  EXPECT_EQ(load("metrics_address: 127.0.0.1:0\n").metrics_address, "127.0.0.1:0");
}

// Values hold "${" as text when they came from the command line or from a
// file's "$${": printed, they must read back as that text, not as a reference.
TEST(ConfigLoader, LiteralDollarBraceRoundTrips) {
  Config c;
  c.input = InputKind::file;
  c.input_path = "in${x}.jsonl";
  c.rejects_path = "${env:HOME}/x";
  c.state_dir = "$${y}";
  c.kafka.brokers = "a${";
  c.kafka.consumer = {{"client.rack", "${file:/r}"}};
  const std::string text = to_yaml(c);
  Config back;
  load_config_string(text, "printed", back);
  expect_same(back, c);
  EXPECT_EQ(to_yaml(back), text);
  // The file's escape reads as the text; printed, it is escaped again.
  const Config escaped = load("rejects_path: \"$${x}\"\n");
  EXPECT_EQ(escaped.rejects_path, "${x}");
  EXPECT_THAT(to_yaml(escaped), HasSubstr("rejects_path: $${x}\n"));
}

TEST(ConfigLoaderErrors, TopicNames) {
  EXPECT_EQ(error_of("application_id: my app\n"),
            "t.yaml:1:17: application_id: 'my app' may only contain letters, digits, '.', '_' and '-' (it names "
            "Kafka topics)");
  EXPECT_EQ(error_of("application_id: ''\n"), "t.yaml:1:17: application_id: must not be empty");
  EXPECT_EQ(error_of("kafka:\n  topics:\n    output:\n"), "t.yaml:3:5: kafka.topics.output: must not be empty");
}

TEST(ConfigLoaderErrors, LibrdkafkaProperties) {
  EXPECT_EQ(error_of("kafka:\n  producer:\n    acks: [all]\n"),
            "t.yaml:3:11: kafka.producer.acks: a librdkafka property value must be a string, number or boolean, "
            "got a list");
  EXPECT_EQ(error_of("kafka:\n  consumer:\n    debug:\n"),
            "t.yaml:3:5: kafka.consumer.debug: has no value; a librdkafka property needs one");
  EXPECT_EQ(error_of("kafka: {consumer: [a=b]}\n"),
            "t.yaml:1:19: kafka.consumer: expected a map of librdkafka properties (name: value), got a list");
}

TEST(ConfigLoaderErrors, SecondDocument) {
  EXPECT_EQ(error_of("lateness: 5s\n---\nprogress: false\n"),
            "t.yaml:3:1: a second YAML document; the settings must be in one document");
}

TEST(ConfigLoaderErrors, InvalidYaml) {
  EXPECT_EQ(error_of("windows: [minute, hour\nlateness: 5s\n"),
            "t.yaml:2:9: not valid YAML: end of sequence flow not found");
  EXPECT_THAT(error_of("lateness: 5s\n  retention: 1h\n"), StartsWith("t.yaml:2:12: not valid YAML: "));
}

TEST(ConfigLoaderErrors, Files) {
  Config c;
  const std::string missing = ::testing::TempDir() + "/uniqd_config_loader_no_such_file.yaml";
  try {
    load_config_file(missing, c);
    ADD_FAILURE() << "no error";
  } catch (const ConfigFileError& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": cannot read: No such file or directory");
  }
  try {
    load_config_file(::testing::TempDir(), c);
    ADD_FAILURE() << "no error";
  } catch (const ConfigFileError& e) {
    EXPECT_THAT(e.what(), HasSubstr(": cannot read: is a directory"));
  }
  const std::string bad = temp_file("bad.yaml", "log:\n  level: info\n  format: [text\n");
  try {
    load_config_file(bad, c);
    ADD_FAILURE() << "no error";
  } catch (const ConfigFileError& e) {
    EXPECT_THAT(e.what(), StartsWith(bad + ":4:1: not valid YAML: "));
  }
  const std::string typo = temp_file("typo.yaml", "kafka:\n  brokerz: k:9092\n");
  try {
    load_config_file(typo, c);
    ADD_FAILURE() << "no error";
  } catch (const ConfigFileError& e) {
    EXPECT_EQ(std::string(e.what()), typo + ":2:3: kafka.brokerz: unknown key; did you mean 'brokers'?");
  }
  expect_same(c, Config{});
}

}  // namespace
}  // namespace uniqd::config
