#include "processor/cli.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "config/loader.h"
#include "config/units.h"

namespace uniqd::processor {
namespace {

// CLI11 validators that name the flag and the accepted forms.
std::string check_duration(const std::string& v) {
  return config::parse_duration(v) ? "" : "'" + v + "' is not a duration (examples: 250ms, 5s, 10m, 1h, 7d)";
}
std::string check_size(const std::string& v) {
  return config::parse_size(v) ? "" : "'" + v + "' is not a size (examples: 65536, 64KiB, 1MiB)";
}
// Empty is allowed: it turns the metrics server off, as in the file.
std::string check_host_port(const std::string& v) {
  return v.empty() || config::parse_host_port(v) ? "" : "'" + v + "' " + std::string(config::kHostPortForm);
}

// The file comes first and flags override it, so the file must be loaded
// before CLI11 writes the flags into c: find --config ahead of the parse, in
// every spelling CLI11 accepts for it (a missed one would drop the file
// without a word).
std::optional<std::string> find_config_path(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--") break;
    if ((a == "--config" || a == "-c") && i + 1 < argc) return std::string(argv[i + 1]);
    if (a.starts_with("--config=")) return std::string(a.substr(9));
    if (a.starts_with("-c") && a.size() > 2 && a[2] != '-') return std::string(a.substr(a[2] == '=' ? 3 : 2));
  }
  return std::nullopt;
}

}  // namespace

std::optional<int> parse_command_line(int argc, char** argv, config::Config& c, const ConfigCheck& check) {
  if (auto path = find_config_path(argc, argv)) {
    if (path->empty()) {
      std::fprintf(stderr, "uniqd: --config: the value is empty; give the path of a YAML file\n");
      return 2;
    }
    try {
      config::load_config_file(*path, c);
    } catch (const config::ConfigFileError& e) {
      std::fprintf(stderr, "uniqd: %s\n", e.what());
      return 2;
    }
  }
  CLI::App app{"uniqd — exact unique users per minute, hour, day, week, month and year from JSON frames"};
  app.set_version_flag("--version", "uniqd 0.1.0");

  std::string input;
  std::string windows, lateness, retention, outlier_threshold, max_future_skew, max_frame_bytes, late_policy, ts_unit,
      guarantee, partition_time_step, input_partitioned_by;
  int outlier_confirm = 0, partition_time_confirm = 0;
  bool no_early = false, no_progress = false;

  std::string brokers, commit_interval, idle_timeout, config_path, log_format;
  bool print_config = false;
  app.add_option("--config,-c", config_path, "YAML configuration (config/uniqd.example.yaml); flags override it");
  app.add_flag("--print-config", print_config, "Print the effective configuration as YAML and exit");
  app.add_option("--metrics-address", c.metrics_address,
                 "Serve /metrics, /healthz, /readyz on host:port (port 0: any free port; empty: off)")
      ->check(check_host_port);
  app.add_option("--log-format", log_format, "text (default) or json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--input,-i", input, "Frames file, one JSON object per line; - for standard input");
  app.add_option("--kafka", brokers, "Consume from Kafka at these bootstrap servers (host:port,...)");
  app.add_option("--topic", c.kafka.input_topic, "Kafka input topic (default frames)");
  app.add_option("--output-topic", c.kafka.output_topic, "Kafka results topic (default uniqd-results)");
  app.add_option("--dead-letter-topic", c.kafka.dead_letter_topic,
                 "Kafka topic for rejects (default uniqd-dead-letter)");
  app.add_option("--application-id", c.application_id, "Consumer group id and topic prefix (default uniqd)");
  app.add_flag("--until-end", c.until_end, "Kafka: stop at the end offsets seen at start, emit everything as final");
  app.add_option("--commit-interval", commit_interval, "Kafka: how often offsets are committed (default 1s)")
      ->check(check_duration);
  app.add_option("--idle-timeout", idle_timeout, "Kafka: a silent partition stops holding the watermark (default 30s)")
      ->check(check_duration);
  app.add_option("--rejects", c.rejects_path, "Write rejected frames here as JSON lines (reason + frame)");
  app.add_option("--windows", windows, "Comma-separated: minute,hour,day,week,month,year (default: all)");
  app.add_option("--lateness", lateness, "Watermark lag behind partition time (default 5s)")->check(check_duration);
  app.add_option("--late-policy", late_policy, "drop (default) or update")->check(CLI::IsMember({"drop", "update"}));
  app.add_option("--retention", retention, "Keep final windows this long for late updates (default 1h)")
      ->check(check_duration);
  app.add_option("--outlier-threshold", outlier_threshold, "Suspect a ts this far from partition time (default 1h)")
      ->check(check_duration);
  app.add_option("--outlier-confirm", outlier_confirm, "Frames that confirm or refute a jump (default 3)")
      ->check(CLI::Range(config::kMinConfirm, config::kMaxConfirm));
  app.add_option("--partition-time-confirm", partition_time_confirm,
                 "Frames that must agree before the partition time takes a step larger than "
                 "--partition-time-step (default 3; 1: the partition time is the largest ts, bit flips within the "
                 "outlier threshold included)")
      ->check(CLI::Range(config::kMinConfirm, config::kMaxConfirm));
  app.add_option("--partition-time-step", partition_time_step,
                 "Steps of the partition time up to this are taken at once (default 5s)")
      ->check(check_duration);
  app.add_option("--max-future-skew", max_future_skew, "Reject ts beyond wall clock + this (default 1h)")
      ->check(check_duration);
  app.add_option("--ts-unit", ts_unit, "s (default) or ms")->check(CLI::IsMember({"s", "ms"}));
  app.add_option("--max-frame-bytes", max_frame_bytes, "Reject longer frames as too_large (default 1MiB)")
      ->check(check_size);
  app.add_flag("--no-early-results", no_early, "Only final results, no early updates of long windows");
  app.add_flag("--no-progress", no_progress, "No progress line on a terminal");
  app.add_option("--parse-threads", c.parse_threads,
                 "Parse threads (file, stdin and Kafka): 0 = one per core (default), -1 = parse inline on one core")
      ->check(CLI::Range(config::kMinParseThreads, config::kMaxParseThreads));
  app.add_option("--log-level", c.log_level, "trace, debug, info, warn, error, critical, off (default info)")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--state-dir", c.state_dir, "Kafka: directory of the RocksDB state store (default /var/lib/uniqd)");
  app.add_option("--guarantee", guarantee, "Kafka: exactly_once (default) or at_least_once")
      ->check(CLI::IsMember({"exactly_once", "at_least_once"}));
  app.add_option("--replica-id", c.replica_id,
                 "Kafka: this replica's name in the application (default: host name + hash of the state dir)");
  app.add_option("--input-partitioned-by", input_partitioned_by,
                 "Kafka: uid when producers key the input by uid (input partition = shard, no repartition topic); "
                 "none (default)")
      ->check(CLI::IsMember({"none", "uid"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "uniqd: %s\nRun with --help for the flags.\n", e.what());
    return 2;
  }

  // Given or not is what counts, not empty or not: "--input ''" is a
  // mistake to report, never a silent fall back to the file or the default.
  const auto given = [&](const char* flag) { return app.count(flag) > 0; };
  struct NotEmpty {
    const char* flag;
    const std::string* value;
    const char* wanted;
  };
  for (const NotEmpty& f : {NotEmpty{"--input", &input, "a file path, or - for standard input"},
                            NotEmpty{"--kafka", &brokers, "bootstrap servers (host:port,...)"},
                            NotEmpty{"--windows", &windows, "a comma-separated list such as minute,hour"}}) {
    if (given(f.flag) && f.value->empty()) {
      std::fprintf(stderr, "uniqd: %s: the value is empty; give %s\n", f.flag, f.wanted);
      return 2;
    }
  }
  if (given("--kafka") && given("--input")) {
    std::fprintf(stderr, "uniqd: --input and --kafka exclude each other: read a file or a topic\n");
    return 2;
  }
  // A path kept from the file would contradict the kind the flag chose.
  if (given("--kafka")) {
    c.input = config::InputKind::kafka;
    c.input_path.clear();
    c.kafka.brokers = brokers;
  } else if (given("--input") && input == "-") {
    c.input = config::InputKind::stdin_;
    c.input_path.clear();
  } else if (given("--input")) {
    c.input = config::InputKind::file;
    c.input_path = input;
  }
  if (given("--commit-interval")) c.commit_interval = *config::parse_duration(commit_interval);
  if (given("--idle-timeout")) c.engine.idle_timeout = *config::parse_duration(idle_timeout);
  if (given("--windows")) {
    c.engine.windows.clear();
    std::stringstream ss(windows);
    for (std::string w; std::getline(ss, w, ',');) {
      if (!w.empty()) c.engine.windows.push_back(w);
    }
  }
  if (given("--lateness")) c.engine.lateness = *config::parse_duration(lateness);
  if (given("--retention")) c.engine.retention = *config::parse_duration(retention);
  if (given("--outlier-threshold")) c.engine.outlier_threshold = *config::parse_duration(outlier_threshold);
  if (given("--max-future-skew")) c.engine.max_future_skew = *config::parse_duration(max_future_skew);
  if (given("--partition-time-step")) c.engine.partition_time_step = *config::parse_duration(partition_time_step);
  if (given("--max-frame-bytes")) c.engine.max_frame_bytes = *config::parse_size(max_frame_bytes);
  if (given("--outlier-confirm")) c.engine.outlier_confirm = outlier_confirm;
  if (given("--partition-time-confirm")) c.engine.partition_time_confirm = partition_time_confirm;
  if (given("--guarantee")) {
    c.guarantee = guarantee == "at_least_once" ? config::Guarantee::at_least_once : config::Guarantee::exactly_once;
  }
  if (given("--input-partitioned-by")) {
    c.input_partitioned_by =
        input_partitioned_by == "uid" ? config::InputPartitioning::uid : config::InputPartitioning::none;
  }
  if (given("--late-policy"))
    c.engine.late_policy = late_policy == "update" ? config::LatePolicy::update : config::LatePolicy::drop;
  if (given("--ts-unit")) c.engine.ts_unit = ts_unit == "ms" ? config::TsUnit::ms : config::TsUnit::s;
  if (no_early) c.engine.early_results = false;
  if (no_progress) c.progress = false;
  if (given("--log-format")) c.log_format = log_format == "json" ? config::LogFormat::json : config::LogFormat::text;
  // Flags get the file's checks: the configuration is checked as a whole,
  // by the loader, so no flag can set what a file could not. Flag values are
  // taken literally (${env:...} is a file feature): to_yaml writes a "${" in
  // them as "$${", which the loader reads back as the same text.
  try {
    config::Config checked = c;
    config::load_config_string(config::to_yaml(c), "flags", checked);
  } catch (const config::ConfigFileError& e) {
    std::string what = e.what();
    // "flags:L:C: key: problem" — the position is in generated text; drop it.
    if (what.starts_with("flags:")) {
      const auto key_at = what.find(": ");
      if (key_at != std::string::npos) what = what.substr(key_at + 2);
    }
    std::fprintf(stderr, "uniqd: %s (after applying the command line)\n", what.c_str());
    return 2;
  }
  if (print_config) {
    // A configuration printed as fine must also start: what uniqd checks
    // at start without a broker is checked here too.
    if (check) {
      if (const std::string bad = check(c); !bad.empty()) {
        std::fprintf(stderr, "uniqd: %s\n", bad.c_str());
        return 2;
      }
    }
    // Checked, flush included: buffered output fails only when flushed, and
    // a configuration cut short or never written must not exit 0.
    if (std::fputs(config::to_yaml(c).c_str(), stdout) == EOF || std::fflush(stdout) != 0) {
      std::fprintf(stderr, "uniqd: cannot write the configuration to standard output: %s\n", std::strerror(errno));
      return 1;
    }
    return 0;
  }
  return std::nullopt;
}

}  // namespace uniqd::processor
