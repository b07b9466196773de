#!/usr/bin/env bash
# Smoke test of scripts/kafka and of the broker's compatibility with the
# system librdkafka (Debian 12: 2.0.2, used by uniqd and kcat):
# metadata, produce, consume, consumer group (cooperative-sticky),
# transactions (send_offsets_to_transaction, commit, abort), graceful restart
# and crash restart keeping data. Starts its own broker on a free port in a
# temp dir and always stops it. Bounded: about 40 s.
#
#   tests/kafka_smoke/run.sh            # prints "N passed, N failed"
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
KAFKA="$REPO/scripts/kafka"

command -v gcc >/dev/null || { echo "kafka_smoke: gcc not found (scripts/deps)" >&2; exit 1; }
[ -f /usr/include/librdkafka/rdkafka.h ] || { echo "kafka_smoke: librdkafka-dev missing (scripts/deps)" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/kafka_smoke.XXXXXX")"
PORT=""
for p in $(shuf -i 20000-29990 -n 20); do
  if ! timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null &&
     ! timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$((p + 1))" 2>/dev/null; then PORT=$p; break; fi
done
[ -n "$PORT" ] || { echo "kafka_smoke: no free port found" >&2; exit 1; }
BROKER_DIR="$WORK/broker"
B="127.0.0.1:$PORT"

cleanup() {
  "$KAFKA" stop --dir "$BROKER_DIR" >/dev/null 2>&1 || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kafka_smoke: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

passed=0; failed=0
ok()   { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check NAME COMMAND...
  local name="$1"; shift
  local s; s=$(date +%s%N)
  if "$@" >"$WORK/last.log" 2>&1; then
    ok "$name ($(( ($(date +%s%N) - s) / 1000000 )) ms)"
  else
    fail "$name"; sed 's/^/     /' "$WORK/last.log" | tail -20
  fi
}
count_eq() { # count_eq EXPECTED COMMAND... : the command prints EXPECTED lines
  local want="$1"; shift
  local got
  got="$("$@" | wc -l)"
  [ "$got" -eq "$want" ] || { echo "expected $want lines, got $got"; return 1; }
}
kc() { timeout 30 kcat -b "$B" "$@"; }

t0=$(date +%s)
check "start broker on $B" "$KAFKA" start --port "$PORT" --dir "$BROKER_DIR"
check "metadata (kcat -L)" bash -c "timeout 20 kcat -b $B -L | grep -q 'broker 1 at $B'"
check "create topic in" "$KAFKA" topics --dir "$BROKER_DIR" --create --topic in --partitions 4
check "create topic out" "$KAFKA" topics --dir "$BROKER_DIR" --create --topic out --partitions 4

seq 1 100 | awk '{print "k" $1 ":v" $1}' >"$WORK/msgs"
check "produce 100 (kcat -P, idempotent, lz4)" kc -t in -P -K: -z lz4 -X enable.idempotence=true -l "$WORK/msgs"
check "consume 100 (kcat -C -e)" count_eq 100 kc -t in -C -e -q -f '%k=%s\n'
check "consumer group cooperative-sticky reads 100" count_eq 100 \
  kc -G g-coop -X partition.assignment.strategy=cooperative-sticky -X auto.offset.reset=earliest -e -q -f '%s\n' in

gcc -O1 -Wall -o "$WORK/txn_smoke" "$HERE/txn_smoke.c" -lrdkafka
check "transactions (librdkafka $(pkg-config --modversion rdkafka 2>/dev/null || echo '?'))" \
  timeout 120 "$WORK/txn_smoke" "$B" in out g-txn 100
check "read_committed sees the 100 committed" count_eq 100 \
  kc -t out -C -e -q -X isolation.level=read_committed -f '%s\n'
check "read_uncommitted also sees the 3 aborted" count_eq 3 \
  bash -c "timeout 30 kcat -b $B -t out -C -e -q -X isolation.level=read_uncommitted -f '%s\n' | grep ABORTED"

check "graceful restart" "$KAFKA" restart --dir "$BROKER_DIR"
check "data survives restart" count_eq 100 kc -t out -C -e -q -X isolation.level=read_committed -f '%s\n'
check "txn offsets survive restart (group g-txn lag 0)" bash -c \
  "'$KAFKA' groups --dir '$BROKER_DIR' --describe --group g-txn | awk '\$2==\"in\" {n++; if (\$6 != 0) bad=1} END {exit (n==4 && !bad) ? 0 : 1}'"

check "crash restart (SIGKILL)" "$KAFKA" restart --kill --dir "$BROKER_DIR"
check "produce after crash restart" bash -c "echo x:y | timeout 30 kcat -b $B -t in -P -K:"
check "consume after crash restart (101)" count_eq 101 kc -t in -C -e -q -f '%s\n'
check "stop" "$KAFKA" stop --dir "$BROKER_DIR"
check "status says not running" bash -c "'$KAFKA' status --dir '$BROKER_DIR'; [ \$? -eq 3 ]"

echo "kafka_smoke: $(( $(date +%s) - t0 )) s, Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REPO/kafka/pom.xml")"
echo "kafka_smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
