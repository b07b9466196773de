// kafka/client: the client block under every client's own properties, and
// the classification of fatal security failures.
#include "kafka/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace uniqd::kafka {
namespace {

using ::testing::HasSubstr;

std::string get(RdKafka::Conf& conf, const std::string& name) {
  std::string v;
  EXPECT_EQ(conf.get(name, v), RdKafka::Conf::CONF_OK) << name;
  return v;
}

TEST(KafkaClient, PropertiesUniqdOwnsAreRefusedNamingTheKey) {
  config::Config c;
  EXPECT_EQ(refused_user_property(c), "");
  // What uniqd sets itself may be repeated; other client properties pass.
  c.kafka.consumer = {{"isolation.level", "read_committed"},
                      {"enable.partition.eof", "true"},
                      {"fetch.max.bytes", "1048576"},
                      {"auto.offset.reset", "smallest"}};
  c.kafka.producer = {
      {"acks", "all"}, {"request.required.acks", "-1"}, {"enable.idempotence", "true"}, {"linger.ms", "20"}};
  EXPECT_EQ(refused_user_property(c), "");
  // Each of these lost or double-counted frames, or hung, when it won silently.
  const std::pair<const char*, const char*> refused[] = {{"enable.auto.commit", "true"},
                                                         {"enable.auto.offset.store", "true"},
                                                         {"isolation.level", "read_uncommitted"},
                                                         {"auto.offset.reset", "latest"},
                                                         {"enable.partition.eof", "false"},
                                                         {"group.id", "mine"},
                                                         {"transactional.id", "mine"},
                                                         {"bootstrap.servers", "elsewhere:9092"},
                                                         {"acks", "0"},
                                                         {"acks", "1"},
                                                         {"enable.idempotence", "false"},
                                                         // librdkafka's aliases of the same properties.
                                                         {"request.required.acks", "1"},
                                                         {"metadata.broker.list", "elsewhere:9092"}};
  for (const char* block : {"client", "consumer", "producer"}) {
    for (const auto& [k, v] : refused) {
      config::Config d;
      auto& props = std::string(block) == "client"     ? d.kafka.client
                    : std::string(block) == "consumer" ? d.kafka.consumer
                                                       : d.kafka.producer;
      props[k] = v;
      const std::string why = refused_user_property(d);
      EXPECT_THAT(why, HasSubstr(std::string("kafka.") + block + "." + k + ": '" + v + "'")) << block << " " << k;
    }
  }
}

TEST(KafkaClient, ClientBlockUnderTheRolesProperties) {
  set_client_properties({{"security.protocol", "SASL_SSL"}, {"sasl.mechanism", "PLAIN"}, {"client.id", "from-client"}});
  auto conf = make_conf({{"client.id", "default"}, {"linger.ms", "5"}}, {{"sasl.mechanism", "SCRAM-SHA-512"}},
                        "kafka.producer");
  EXPECT_EQ(get(*conf, "security.protocol"), "sasl_ssl");
  EXPECT_EQ(get(*conf, "sasl.mechanisms"), "SCRAM-SHA-512");  // the role's own wins
  EXPECT_EQ(get(*conf, "client.id"), "from-client");          // the block wins over built-in defaults
  EXPECT_EQ(get(*conf, "linger.ms"), "5");

  set_client_properties({{"no.such.property", "1"}});
  try {
    make_conf({}, {}, "kafka.consumer");
    ADD_FAILURE() << "no error";
  } catch (const KafkaError& e) {
    EXPECT_THAT(e.what(), HasSubstr("kafka.client.no.such.property"));
  }
  set_client_properties({});
}

TEST(KafkaClient, AuthorizationFailuresNameResourceAndOperation) {
  Access a{"frames", "READ", "uniqd", "uniqd-task", "IDEMPOTENT_WRITE"};
  auto line = authorization_failure(RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED, a);
  ASSERT_TRUE(line);
  EXPECT_THAT(*line, HasSubstr("READ on topic frames was refused"));
  EXPECT_THAT(*line, HasSubstr("--operation READ --topic frames"));
  EXPECT_THAT(*line, HasSubstr("rpk acl create"));
  EXPECT_EQ(line->find('\n'), std::string::npos);

  line = authorization_failure(RdKafka::ERR_GROUP_AUTHORIZATION_FAILED, a);
  ASSERT_TRUE(line);
  EXPECT_THAT(*line, HasSubstr("READ on group uniqd was refused"));
  EXPECT_THAT(*line, HasSubstr("--group uniqd"));

  line = authorization_failure(RdKafka::ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a);
  ASSERT_TRUE(line);
  EXPECT_THAT(*line, HasSubstr("WRITE on transactional id uniqd-task was refused"));
  EXPECT_THAT(*line, HasSubstr("--transactional-id uniqd-task"));

  line = authorization_failure(RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED, a);
  ASSERT_TRUE(line);
  EXPECT_THAT(*line, HasSubstr("IDEMPOTENT_WRITE on cluster was refused"));

  for (RdKafka::ErrorCode e : {RdKafka::ERR_NO_ERROR, RdKafka::ERR__TRANSPORT, RdKafka::ERR__ALL_BROKERS_DOWN,
                               RdKafka::ERR_NOT_COORDINATOR, RdKafka::ERR__TIMED_OUT}) {
    EXPECT_FALSE(authorization_failure(e, a)) << RdKafka::err2str(e);
  }
}

TEST(KafkaClient, AuthenticationFailures) {
  EXPECT_TRUE(authentication_failure(RdKafka::ERR__AUTHENTICATION, "SASL authentication error: Authentication failed"));
  EXPECT_TRUE(authentication_failure(RdKafka::ERR_SASL_AUTHENTICATION_FAILED, "x"));
  auto tls = authentication_failure(RdKafka::ERR__SSL,
                                    "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: certificate verify failed");
  ASSERT_TRUE(tls);
  EXPECT_THAT(*tls, HasSubstr("ssl.ca.location"));
  // A handshake cut short is retried like a broker that is down.
  EXPECT_FALSE(authentication_failure(RdKafka::ERR__SSL, "SSL handshake failed: Disconnected"));
  EXPECT_FALSE(authentication_failure(RdKafka::ERR__TRANSPORT, "Connection refused"));
}

TEST(KafkaClient, ScramWarningNamesBothVersions) {
  config::KafkaOptions k;
  EXPECT_FALSE(scram_warning(k, 0x020002ff, "2.0.2"));
  k.client["sasl.mechanism"] = "PLAIN";
  EXPECT_FALSE(scram_warning(k, 0x020002ff, "2.0.2"));
  k.client["sasl.mechanism"] = "SCRAM-SHA-512";
  auto w = scram_warning(k, 0x020002ff, "2.0.2");
  ASSERT_TRUE(w);
  EXPECT_THAT(*w, HasSubstr("librdkafka 2.0.2"));
  EXPECT_THAT(*w, HasSubstr("2.6.1"));
  EXPECT_FALSE(scram_warning(k, 0x020601ff, "2.6.1"));
  EXPECT_FALSE(scram_warning(k, 0x020800ff, "2.8.0"));
  config::KafkaOptions p;
  p.producer["sasl.mechanisms"] = "scram-sha-256";
  EXPECT_TRUE(scram_warning(p, 0x020002ff, "2.0.2"));
}

}  // namespace
}  // namespace uniqd::kafka
