#!/usr/bin/env bash
# Runs a command with a real, private Kafka broker (scripts/kafka: single-node
# KRaft Apache Kafka on 127.0.0.1) started for it and always stopped after.
#
#   tests/integration/with_broker.sh [--secure] CMD [ARGS...]
#   tests/integration/with_broker.sh ctest --test-dir build -L kafka --output-on-failure
#
# --secure: the broker of scripts/kafka-secure (SASL_SSL only, ACLs enforced);
# its TLS files, users and admin client settings are in UNIQD_TEST_BROKER_DIR.
#
# The broker gets two consecutive free ports (PORT for clients, PORT+1 for
# the KRaft controller) and a fresh directory; CMD sees
#   UNIQD_TEST_BROKERS=127.0.0.1:PORT
#   UNIQD_TEST_BROKER_DIR=DIR   (for scripts/kafka restart|stop|start|topics --dir DIR)
#   UNIQD_KAFKA=/path/to/scripts/kafka
# The exit status is CMD's (or 1 when the broker cannot be started). Every
# wait is bounded: broker start by UNIQD_KAFKA_START_TIMEOUT (default 60 s),
# stop by UNIQD_KAFKA_STOP_TIMEOUT (default 30 s, then SIGKILL).
# KEEP=1 keeps the broker directory (its server.log) after the run.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
KAFKA="$REPO/scripts/kafka"
if [ "${1:-}" = "--secure" ]; then
  KAFKA="$REPO/scripts/kafka-secure"
  shift
fi

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" >/dev/null 2>&1; }

# The jars first (cached; a no-op when fetched), so its time does not count
# against the broker's start timeout.
if ! timeout "${UNIQD_KAFKA_FETCH_TIMEOUT:-600}" "$KAFKA" fetch >/dev/null; then
  echo "with_broker: scripts/kafka fetch failed" >&2
  exit 1
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/uniqd-int.XXXXXX")"
DIR="$WORK/broker"
cleanup() {
  # stop is bounded: SIGTERM, SIGKILL after UNIQD_KAFKA_STOP_TIMEOUT s.
  timeout 120 "$KAFKA" stop --dir "$DIR" >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then echo "with_broker: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two consecutive free ports; a port can be taken between the probe and the
# start (another job), so a failed start tries other ports, a few times.
started=""
for attempt in 1 2 3; do
  PORT=""
  for p in $(shuf -i 20000-29990 -n 40); do
    if ! port_open "$p" && ! port_open $((p + 1)); then PORT=$p; break; fi
  done
  if [ -z "$PORT" ]; then echo "with_broker: no two consecutive free ports found" >&2; exit 1; fi
  if BROKERS="$(timeout 180 "$KAFKA" start --port "$PORT" --dir "$DIR" --clean)"; then
    started=1
    break
  fi
  echo "with_broker: broker start on port $PORT failed (attempt $attempt)" >&2
  timeout 120 "$KAFKA" stop --dir "$DIR" >/dev/null 2>&1 || true
done
if [ -z "$started" ]; then
  echo "with_broker: could not start a Kafka broker (log: $DIR/server.log)" >&2
  tail -n 30 "$DIR/server.log" >&2 2>/dev/null || true
  exit 1
fi

export UNIQD_TEST_BROKERS="$BROKERS"
export UNIQD_TEST_BROKER_DIR="$DIR"
export UNIQD_KAFKA="$KAFKA"
echo "with_broker: Kafka at $UNIQD_TEST_BROKERS (dir $DIR)" >&2

# CMD runs in the background so that a TERM/INT to this script still stops
# the broker (the trap runs), and CMD's status is returned.
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM
trap 'kill -INT "$child" 2>/dev/null; wait "$child"; exit 130' INT
wait "$child"
rc=$?
exit "$rc"
