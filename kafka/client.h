// librdkafka plumbing shared by the task, the tools and the tests: handles
// owned by unique_ptr, configuration with errors that name the property, and
// topic creation through the admin API.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace uniqd::kafka {

// A setup-time failure (bad property, unreachable admin call); messages name
// the property or topic at fault.
class KafkaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Uses topics that exist but may not create the missing ones (named in the
// message), or is refused something an ACL grants: retrying cannot help.
class AuthorizationError : public KafkaError {
 public:
  using KafkaError::KafkaError;
};

using Properties = std::map<std::string, std::string>;

// The kafka.client block: properties every client made by make_conf gets
// (TLS, SASL), under the role's own. Process-wide; set before the first
// client (prepare_clients does).
void set_client_properties(Properties client);

// Builds a global configuration: defaults first, then the kafka.client
// block, then the role's properties (which win). `section` names where the
// role's properties come from, for errors ("kafka.consumer"). Every client
// logs through uniqd's log, and its authentication and authorization
// failures are reported as fatal (report_fatal).
std::unique_ptr<RdKafka::Conf> make_conf(const Properties& defaults, const Properties& user,
                                         const std::string& section);

// Everything before the first client: the client block for make_conf, every
// secret property's value (client, consumer, producer) redacted from the
// logs, the SCRAM warning below. `stop` is called once, from whichever
// thread records the first fatal failure, to make the process wind down
// (the Kafka loop's stop flag); it must be async-safe enough for that.
void prepare_clients(const config::Config& c, std::function<void()> stop);

// The warning for a SCRAM mechanism with a librdkafka older than 2.6.1
// (its SCRAM logins to Kafka 4.x fail: confluentinc/librdkafka#4895), naming
// both versions; nullopt when there is nothing to warn about. `version` is
// RdKafka::version()'s 0xMMmmrrxx.
std::optional<std::string> scram_warning(const config::KafkaOptions& k, int version, std::string_view version_str);

// ---- fatal security failures: reported once, then the process stops ----

// What uniqd was doing when an error came back, so that a refusal can name
// the resource and operation (the ACL to add). Empty fields: not involved.
struct Access {
  std::string topic;
  std::string topic_operation{"READ"};  // READ, WRITE, DESCRIBE, CREATE
  std::string group;                    // the consumer group (READ)
  std::string transactional_id;         // WRITE
  std::string cluster_operation{"IDEMPOTENT_WRITE"};
};

// One line naming the refused operation and resource and the ACL that
// grants it, when e is an authorization error (topic, group, transactional
// id, cluster); nullopt otherwise. resource_kind: topic, group,
// transactional-id or cluster (kafka-acls' flag names).
std::optional<std::string> authorization_failure(RdKafka::ErrorCode e, std::string_view resource_kind,
                                                 std::string_view resource, std::string_view operation);
std::optional<std::string> authorization_failure(RdKafka::ErrorCode e, const Access& a);

// authorization_failure, reported (report_fatal) when it is one: true then.
// The one call the Kafka loop makes where an error comes back.
bool report_if_denied(RdKafka::ErrorCode e, const Access& a);

// One line when e (with librdkafka's text) says the login or the TLS
// handshake failed: wrong credentials, unknown mechanism, a certificate the
// client does not trust or the broker refuses. nullopt for everything a
// retry can fix (a broker down, a connection reset).
std::optional<std::string> authentication_failure(RdKafka::ErrorCode e, std::string_view text);

// Records the first fatal failure: logs the line (error level, component
// kafka), then calls the stop callback of prepare_clients. Later ones are
// logged at debug level only. Thread-safe.
void report_fatal(const std::string& line);
// The line of the first fatal failure, if any.
std::optional<std::string> fatal_failure();

// A librdkafka property in kafka.client, kafka.consumer or kafka.producer
// that uniqd must own for its guarantees (offsets committed only with what
// they cover, read_committed input under exactly_once, the group and
// transactional ids, the end-of-partition events --until-end needs): the
// message names the key, why, and the uniqd setting to use instead; empty
// when none. uniqd refuses to start on it (status 2) rather than let a value
// that loses or double-counts frames win silently.
std::string refused_user_property(const config::Config& c);

// Everything wrong with kafka.client, kafka.consumer and kafka.producer
// that is known before connecting: a property uniqd owns
// (refused_user_property), then one librdkafka does not know or refuses,
// named by its block ("kafka.consumer.fetch.max.bytess: No such
// configuration property"); empty when all are taken. Sets the client block
// (set_client_properties) and connects to nothing: run_task checks it before
// any topic is created, --print-config before it prints.
std::string check_client_properties(const config::Config& c);

// The largest record uniqd produces: one whole frame (a dead letter, a
// late frame's repartition entry) and its envelope. The producer's
// message.max.bytes and the max.message.bytes of the topics uniqd creates
// for such records are set to it.
std::size_t record_bytes_limit(const config::Config& c);

struct TopicSpec {
  std::string name;
  int partitions{4};
  int replication_factor{1};
  Properties configs;  // e.g. cleanup.policy=compact
};

// Creates the topics that do not exist yet; existing ones are left as they
// are. Throws KafkaError when the broker cannot be reached within timeout or
// refuses for another reason than "already exists". Without the right to
// create topics (no CREATE ACL), uses the ones that exist; when some are
// missing, reports them (report_fatal) and throws AuthorizationError. Also
// throws AuthorizationError when a fatal failure was reported meanwhile (a
// login refused).
void ensure_topics(const std::string& brokers, const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout);

// Partition count of a topic, or -1 when it does not exist. Throws
// AuthorizationError (reported) when the topic may not be described;
// `operation` is the one to name (READ and WRITE grant DESCRIBE too).
int partition_count(RdKafka::Handle& handle, const std::string& topic, std::chrono::milliseconds timeout,
                    std::string_view operation = "DESCRIBE");

// The short waits that bridge a broker's lag just after a topic was created
// (its metadata, its partitions' leaders): asks, then asks again every
// `every` until `ask` says yes, the next ask would start past `deadline`, or
// `stop` says so. True when `ask` said yes.
bool ask_until(std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds every,
               const std::function<bool()>& stop, const std::function<bool()>& ask);

// Looks up the topics a producer writes to, so that its first records go
// out as they are produced (best effort: errors other than a refusal are
// ignored). A topic it may not even describe lacks its WRITE ACL: reported,
// AuthorizationError, before anything is written.
void learn_topics(RdKafka::Handle& producer, const std::vector<std::string>& topics, std::chrono::milliseconds timeout);

}  // namespace uniqd::kafka
