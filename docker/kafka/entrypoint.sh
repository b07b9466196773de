#!/bin/bash
# entrypoint.sh broker          run the broker; advertised as $KAFKA_ADVERTISED_HOST:9092
# entrypoint.sh redpanda ...    the same (the command docker/compose.yaml gives Redpanda)
# entrypoint.sh topics ARGS...  kafka-topics against $KAFKA_BOOTSTRAP (default redpanda:9092)
# entrypoint.sh tool CLASS ARGS any Java main class of the broker's classpath
set -euo pipefail
CP='/opt/kafka/libs/*'
DATA=/var/lib/kafka/data
tool_log4j=/tmp/tools-log4j2.properties
printf '%s\n' 'status = error' 'appender.err.type = Console' 'appender.err.name = STDERR' \
  'appender.err.target = SYSTEM_ERR' 'appender.err.layout.type = PatternLayout' \
  'appender.err.layout.pattern = %p %m%n' 'rootLogger.level = WARN' \
  'rootLogger.appenderRef.err.ref = STDERR' >"$tool_log4j"
tool() {
  local cls="$1"; shift
  exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$tool_log4j" \
    -cp "$CP" "$cls" "$@"
}
case "${1:-broker}" in
  topics) shift; tool org.apache.kafka.tools.TopicCommand --bootstrap-server "${KAFKA_BOOTSTRAP:-redpanda:9092}" "$@" ;;
  topics-at) shift; b="$1"; shift; tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" "$@" ;;
  tool) shift; tool "$@" ;;
  broker|redpanda) ;;
  *) exec "$@" ;;
esac
host="${KAFKA_ADVERTISED_HOST:-$(hostname)}"
conf=/var/lib/kafka/server.properties
cat >"$conf" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://$host:9092
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
PROPS
log4j=/var/lib/kafka/log4j2.properties
printf '%s\n' 'status = warn' 'appender.out.type = Console' 'appender.out.name = STDOUT' \
  'appender.out.layout.type = PatternLayout' 'appender.out.layout.pattern = [%d] %p %m (%c)%n' \
  'rootLogger.level = INFO' 'rootLogger.appenderRef.out.ref = STDOUT' \
  'logger.sc.name = state.change.logger' 'logger.sc.level = WARN' >"$log4j"
if [ ! -f "$DATA/meta.properties" ]; then
  # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding, not starting with '-'.
  id=-
  while [[ "$id" == -* ]]; do id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"; done
  java -Xmx256m -cp "$CP" -Dlog4j2.configurationFile="$tool_log4j" kafka.tools.StorageTool format \
    --ignore-formatted -t "$id" -c "$conf" >/dev/null
fi
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -Djava.awt.headless=true \
  -Dlog4j2.configurationFile="$log4j" -cp "$CP" kafka.Kafka "$conf"
