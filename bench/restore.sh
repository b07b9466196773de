#!/usr/bin/env bash
# bench/restore.sh - how fast uniqd (exactly_once) rebuilds its window state on
# start: from its local RocksDB store, and from the changelog topic alone. See
# bench/README.md.
#
#   bench/restore.sh [--frames N] [--users U] [--runs R] [--build DIR] [--min-pairs P]
#                    [--brokers HOST:PORT [--broker-dir DIR]]
#
# Starts its own broker (scripts/kafka, free port, temporary directory, stopped
# by an EXIT trap; --brokers uses a running one instead, e.g. the test
# broker, and --broker-dir names its directory for the changelog's size), produces N frames (default 400000; ~300 B, 1000 frames per
# event-time second, U users, default 400000, 4 partitions, keyed by uid), runs
# uniqd --guarantee exactly_once on a fresh state directory until it has
# consumed every frame (its /metrics: uniqd_frames_total = N and consumer lag 0,
# then one more committed transaction), stops it with SIGTERM (graceful: the last
# transaction commits), then R times (default 3), in alternating order, restarts
#   rocksdb     uniqd on the same state directory (restore from RocksDB + the
#               changelog records after its checkpoint: normally none)
#   changelog   uniqd on an empty state directory (restore from the changelog only)
# waits for its `restored N pairs (...) in S s (R pairs/s)` log line, and stops
# it with SIGTERM. Reports the medians, the state directory's size and the
# changelog's size on the broker. Every wait is bounded; exits non-zero if a
# restore line never appears, a run fails, or the changelog restore holds
# fewer than P pairs (default 1000000; 0 disables the check), or if any restore
# holds a different number of pairs than the consuming run had at its end.
# Markdown on stdout, progress on stderr, a final `BENCH_RESTORE {json}` line;
# uniqd's logs of the last run are kept in ${UNIQD_BENCH_DIR:-/tmp/uniqd-bench}/restore-last-logs.
set -Eeuo pipefail
trap 'echo "bench/restore.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
log() { echo "bench/restore.sh: $*" >&2; }
FRAMES=400000
USERS=400000
RUNS=3
BUILD=""
MIN_PAIRS=1000000
BROKERS=""
BROKER_DIR=""
CONSUME_TIMEOUT="${UNIQD_BENCH_CONSUME_TIMEOUT:-900}"  # s for the first run to consume everything
STALL_TIMEOUT="${UNIQD_BENCH_STALL_TIMEOUT:-180}"      # s without progress before giving up
RESTORE_TIMEOUT="${UNIQD_BENCH_RESTORE_TIMEOUT:-600}"  # s for a `restored` line to appear
STOP_TIMEOUT="${UNIQD_BENCH_STOP_TIMEOUT:-120}"        # s between SIGTERM and SIGKILL
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --frames) FRAMES="$2"; shift 2 ;;
    --users) USERS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --min-pairs) MIN_PAIRS="$2"; shift 2 ;;
    --brokers) BROKERS="$2"; shift 2 ;;
    --broker-dir) BROKER_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/restore.sh: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done
BUILD="$(bench_find_build bench/restore.sh "$BUILD" uniqd uniqd-gen)"
"$BUILD/uniqd" --help 2>&1 | grep -q -- '--state-dir' ||
  { echo "bench/restore.sh: $BUILD/uniqd has no --state-dir (no RocksDB state store in this build)" >&2; exit 2; }

DATA="${UNIQD_BENCH_DIR:-/tmp/uniqd-bench}"
mkdir -p "$DATA"
WORK="$(mktemp -d "$DATA/restore-run.XXXXXX")"
KDIR="$WORK/broker"
UPID=""
cleanup() {
  # keep uniqd's logs of the last run for a look at what a restart did
  if ls "$WORK"/*.log >/dev/null 2>&1; then
    rm -rf "$DATA/restore-last-logs"; mkdir -p "$DATA/restore-last-logs"; cp "$WORK"/*.log "$DATA/restore-last-logs/" 2>/dev/null || true
    for f in "$WORK"/state/*/LOG*; do [ -f "$f" ] && cp "$f" "$DATA/restore-last-logs/rocksdb-$(basename "$f")"; done 2>/dev/null || true
  fi
  if [ -n "$UPID" ] && kill -0 "$UPID" 2>/dev/null; then
    kill -TERM "$UPID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$UPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$UPID" 2>/dev/null || true
  fi
  [ -n "$BROKERS" ] || "$REPO/scripts/kafka" stop --dir "$KDIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { log "$*"; exit 1; }

# ---------------------------------------------------------------- broker
if [ -n "$BROKERS" ]; then
  B="$BROKERS"
  KDIR="$BROKER_DIR"
  log "using the broker at $B"
else
  B="$(bench_start_broker "$KDIR")"
fi

TOPIC="restore-frames-$$"
GEN_OPTS=(--rate 1000 --users "$USERS" --frame-bytes 300 --seed 42)
log "producing $FRAMES frames to $TOPIC (4 partitions, key uid, ${GEN_OPTS[*]})"
t0=$EPOCHREALTIME
timeout 900 "$BUILD/uniqd-gen" --count "$FRAMES" "${GEN_OPTS[@]}" --kafka "$B" --topic "$TOPIC" --partitions 4 \
  --key uid >"$WORK/gen.log" 2>&1 || { tail -5 "$WORK/gen.log" >&2; fail "uniqd-gen failed"; }
PRODUCE_S=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
log "produced in $PRODUCE_S s"

LOAD_START="$(uptime)"
log "load at start: $LOAD_START"

APP="restore-bench-$$"
STATE="$WORK/state"          # the state directory of the consuming run, reused by the rocksdb restores
mkdir -p "$STATE"

# ---------------------------------------------------------------- helpers
start_uniqd() {  # state-dir log
  "$BUILD/uniqd" --kafka "$B" --topic "$TOPIC" --application-id "$APP" --output-topic "$APP-results" \
    --dead-letter-topic "$APP-dead-letter" --guarantee exactly_once --state-dir "$1" --idle-timeout 1h \
    --metrics-address 127.0.0.1:0 --no-progress </dev/null >/dev/null 2>"$2" &
  UPID=$!
  START_T=$EPOCHREALTIME
}
stop_uniqd() {  # log; SIGTERM, bounded wait; fails if uniqd does not exit cleanly
  local rc=0 i
  kill -TERM "$UPID" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do kill -0 "$UPID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$UPID" 2>/dev/null; then
    kill -KILL "$UPID" 2>/dev/null || true
    wait "$UPID" 2>/dev/null || true
    UPID=""
    tail -5 "$1" >&2
    fail "uniqd did not stop within ${STOP_TIMEOUT} s of SIGTERM (killed; log above)"
  fi
  wait "$UPID" || rc=$?
  UPID=""
  [ "$rc" -eq 0 ] || { tail -5 "$1" >&2; fail "uniqd exited with status $rc after SIGTERM (log above)"; }
}
metrics_port() {  # log -> port, waiting up to 60 s for the line
  local i p
  for ((i = 0; i < 600; i++)); do
    p="$(sed -nE 's#.*metrics on http://[^:]+:([0-9]+)/metrics.*#\1#p' "$1" | head -1)"
    [ -n "$p" ] && { echo "$p"; return 0; }
    kill -0 "$UPID" 2>/dev/null || break
    sleep 0.1
  done
  return 1
}
# "frames lag_sum lag_partitions committed pairs" from /metrics ("" if unreachable)
scrape() {
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null | awk '
    /^uniqd_frames_total[ {]/ { f += $NF }
    /^uniqd_consumer_lag_messages[ {]/ { l += $NF; n++ }
    /^uniqd_transactions_total\{outcome="committed"\}/ { c = $NF }
    /^uniqd_state_pairs[ {]/ { p = $NF }
    /^uniqd_internal_lag_messages[ {]/ { i += $NF }
    END { if (NR) printf "%d %d %d %d %d %d\n", f, l + i, n, c, p, i }'
}
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", b-a}'; }

# ---------------------------------------------------------------- consume everything
log "consuming: uniqd --guarantee exactly_once --state-dir $STATE (fresh) --idle-timeout 1h"
CLOG="$WORK/consume.log"
start_uniqd "$STATE" "$CLOG"
MPORT="$(metrics_port "$CLOG")" || { tail -5 "$CLOG" >&2; fail "uniqd logged no metrics port"; }
deadline=$(( $(date +%s) + CONSUME_TIMEOUT ))
last_frames=-1; last_change=$(date +%s); DONE_T=""; COMMITTED_AT_DONE=""
while :; do
  kill -0 "$UPID" 2>/dev/null || { tail -5 "$CLOG" >&2; fail "uniqd exited while consuming (log above)"; }
  now=$(date +%s)
  [ "$now" -lt "$deadline" ] || { tail -5 "$CLOG" >&2; fail "not everything consumed within $CONSUME_TIMEOUT s"; }
  # lag: the input's and the internal topics' (the count tasks count what
  # the ingest tasks routed to them a commit later).
  read -r frames lag nlag committed pairs _ <<<"$(scrape "$MPORT")" || true
  frames="${frames:-0}"
  if [ "$frames" != "$last_frames" ]; then last_frames="$frames"; last_change=$now; fi
  if [ -z "$DONE_T" ]; then
    if [ "$frames" -ge "$FRAMES" ] && [ "${nlag:-0}" -ge 4 ] && [ "${lag:-1}" -eq 0 ]; then
      DONE_T="$(secs_since "$START_T")"; COMMITTED_AT_DONE="${committed:-0}"
      log "all $frames frames consumed after $DONE_T s (lag 0 on $nlag partitions, $pairs pairs in memory); waiting for one more commit"
    elif [ $((now - last_change)) -ge "$STALL_TIMEOUT" ]; then
      tail -5 "$CLOG" >&2; fail "no progress for $STALL_TIMEOUT s at $frames of $FRAMES frames (lag ${lag:-?})"
    fi
  elif [ "${committed:-0}" -gt "$COMMITTED_AT_DONE" ]; then
    # A commit after everything was read; done once one more commit found
    # nothing left to read and the pairs unchanged (what the ingest tasks
    # routed in the last commit is counted in the next).
    if [ "${lag:-1}" -eq 0 ] && [ "${pairs:-0}" = "${PAIRS_AT_COMMIT:-x}" ]; then break; fi
    COMMITTED_AT_DONE="${committed:-0}"; PAIRS_AT_COMMIT="${pairs:-0}"
  elif [ $((now - last_change)) -ge 60 ] && [ -z "${committed:-}" ]; then
    fail "metrics unreachable"
  fi
  sleep 0.5
done
MEM_PAIRS="$pairs"
stop_uniqd "$CLOG"
grep -q 'restored ' "$CLOG" || fail "the consuming run logged no restore line"
STATE_BYTES=$(du -sb "$STATE" | cut -f1)
STATE_HUMAN=$(du -sh "$STATE" | cut -f1)
# the changelog's log segments (not the preallocated, sparse index files)
CHANGELOG_BYTES=$( (cat "$KDIR"/data/"$APP"-changelog-*/*.log 2>/dev/null || true) | wc -c)
CHANGELOG_PARTS=$( (ls -d "$KDIR"/data/"$APP"-changelog-* 2>/dev/null || true) | wc -l)
CONSUME_RATE=$(awk -v n="$FRAMES" -v s="$DONE_T" 'BEGIN{printf "%.0f", n/s}')
log "stopped; state dir $STATE_HUMAN ($STATE_BYTES B), changelog on the broker $CHANGELOG_BYTES B"

# ---------------------------------------------------------------- restores
: >"$WORK/restores"
restore_once() {  # kind round
  local kind="$1" r="$2" dir lg i line
  if [ "$kind" = rocksdb ]; then dir="$STATE"; else dir="$WORK/empty-$r"; rm -rf "$dir"; mkdir -p "$dir"; fi
  lg="$WORK/restore.$kind.$r.log"
  start_uniqd "$dir" "$lg"
  line=""
  for ((i = 0; i < RESTORE_TIMEOUT * 10; i++)); do
    line="$(grep -m1 'restored [0-9]* pairs' "$lg" 2>/dev/null || true)"
    [ -n "$line" ] && break
    kill -0 "$UPID" 2>/dev/null || break
    sleep 0.1
  done
  local to_line; to_line="$(secs_since "$START_T")"
  if [ -z "$line" ]; then
    tail -5 "$lg" >&2
    kill -0 "$UPID" 2>/dev/null && stop_uniqd "$lg" || { wait "$UPID" 2>/dev/null || true; UPID=""; }
    fail "round $r [$kind]: no 'restored' line within $RESTORE_TIMEOUT s (log above)"
  fi
  local rss; rss=$(awk '/VmHWM/ {print $2}' "/proc/$UPID/status" 2>/dev/null || echo 0)
  stop_uniqd "$lg"
  # restored 1300976 pairs (0 from RocksDB, 231 changelog records replayed) in 1.21 s (1077978 pairs/s)
  local f
  f="$(sed -nE 's/.*restored ([0-9]+) pairs \(([0-9]+) from RocksDB, ([0-9]+) changelog records replayed\) in ([0-9.]+) s \(([0-9]+) pairs\/s[^)]*\).*/\1 \2 \3 \4 \5/p' <<<"$line")"
  [ -n "$f" ] || fail "round $r [$kind]: cannot read the restore line: $line"
  echo "$kind $r $f $to_line ${rss:-0}" >>"$WORK/restores"
  read -r p db rec s rate <<<"$f"
  log "round $r [$kind]: $p pairs ($db from RocksDB, $rec changelog records) in $s s = $rate pairs/s; line after $to_line s; peak RSS $((${rss:-0} / 1024)) MiB"
}
for ((r = 1; r <= RUNS; r++)); do
  if [ $((r % 2)) -eq 1 ]; then order=(rocksdb changelog); else order=(changelog rocksdb); fi
  for k in "${order[@]}"; do restore_once "$k" "$r"; done
done
LOAD_END="$(uptime)"
log "load at end: $LOAD_END"

# ---------------------------------------------------------------- report
python3 - "$WORK/restores" "$MIN_PAIRS" <<'EOF' >"$WORK/report"
import json, statistics as st, sys
rows = {}
for line in open(sys.argv[1]):
    kind, rnd, pairs, db, rec, s, rate, to_line, rss = line.split()
    rows.setdefault(kind, []).append(dict(round=int(rnd), pairs=int(pairs), from_rocksdb=int(db), records=int(rec),
                                          seconds=float(s), pairs_per_s=int(rate), to_line_s=float(to_line),
                                          rss_mib=round(int(rss) / 1024, 1), before_s=round(float(to_line) - float(s), 3)))
print("| restore from | rounds | pairs | from RocksDB | changelog records replayed | restore s | pairs/s | per round pairs/s | start → `restored` line s | of which before the restore s | peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
out = {}
for kind in ("rocksdb", "changelog"):
    r = rows.get(kind, [])
    if not r:
        continue
    med = lambda k: st.median(x[k] for x in r)
    d = {k: med(k) for k in ("pairs", "from_rocksdb", "records", "seconds", "pairs_per_s", "to_line_s", "before_s", "rss_mib")}
    d["per_round_pairs_per_s"] = [x["pairs_per_s"] for x in sorted(r, key=lambda x: x["round"])]
    d["runs"] = len(r)
    out[kind] = d
    label = "RocksDB (same state dir)" if kind == "rocksdb" else "changelog only (empty state dir)"
    print(f"| {label} | {len(r)} | {d['pairs']:,.0f} | {d['from_rocksdb']:,.0f} | {d['records']:,.0f} | {d['seconds']:.2f} | "
          f"{d['pairs_per_s']:,.0f} | {', '.join(f'{x:,}' for x in d['per_round_pairs_per_s'])} | {d['to_line_s']:.2f} | {d['before_s']:.2f} | {d['rss_mib']} |")
json.dump(out, open(sys.argv[1] + ".json", "w"))
EOF
CL_PAIRS=$(python3 -c "import json; d=json.load(open('$WORK/restores.json')); print(int(d['changelog']['pairs']))")
CL_RATE=$(python3 -c "import json; d=json.load(open('$WORK/restores.json')); print(int(d['changelog']['pairs_per_s']))")
CHECK_OK=1
if [ "$MIN_PAIRS" -gt 0 ] && [ "$CL_PAIRS" -lt "$MIN_PAIRS" ]; then CHECK_OK=0; fi
PAIRS_SET="$(awk '{print $3}' "$WORK/restores" | sort -u | tr '\n' ' ')"
# Every restore, from RocksDB or from the changelog alone, must bring back
# exactly the pairs the consuming run held when it stopped.
SAME_OK=1
[ "$PAIRS_SET" = "${MEM_PAIRS:-?} " ] || SAME_OK=0

{
  echo "## bench/restore.sh — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM;" \
       "build $BUILD; broker: ${BROKERS:+$BROKERS, }scripts/kafka (single node, same machine)."
  echo "Input: $FRAMES frames (uniqd-gen ${GEN_OPTS[*]}), 4 partitions, keyed by uid (produced in $PRODUCE_S s)." \
       "uniqd --guarantee exactly_once --idle-timeout 1h (other settings default: all six windows, late_policy drop)" \
       "consumed them in $DONE_T s from start ($CONSUME_RATE frames/s, including start-up), then SIGTERM."
  echo "Durable state after it: state dir $STATE_HUMAN ($STATE_BYTES bytes, du -sb), changelog topic on the broker" \
       "$CHANGELOG_BYTES bytes of log segments in $CHANGELOG_PARTS partitions; $MEM_PAIRS (window, uid) pairs held in memory at the end (uniqd_state_pairs)."
  echo "$RUNS rounds, alternating order; each restart is timed by uniqd's own \`restored …\` log line (restore():" \
       "loading the RocksDB store into memory, replaying the changelog from the checkpoint, writing what was replayed to" \
       "RocksDB); 'start → restored line' is the wall time from launching the process to that line; 'before the restore'" \
       "is the difference (topic checks, opening RocksDB, init_transactions). Medians."
  echo
  echo "Load at start: \`$LOAD_START\`"
  echo "Load at end:   \`$LOAD_END\`"
  echo
  cat "$WORK/report"
  echo
  echo "Pair counts seen across all restores: $PAIRS_SET"
  if [ "$SAME_OK" -eq 1 ]; then echo "Check: every restore holds the $MEM_PAIRS pairs the consuming run ended with: ok."
  else echo "Check: the restores hold $PAIRS_SET pairs, the consuming run ended with ${MEM_PAIRS:-?}: **FAILED**."; fi
  echo
  if [ "$MIN_PAIRS" -gt 0 ]; then
    if [ "$CHECK_OK" -eq 1 ]; then echo "Check: the changelog restore holds $CL_PAIRS pairs >= $MIN_PAIRS: ok."
    else echo "Check: the changelog restore holds $CL_PAIRS pairs < $MIN_PAIRS: **FAILED**."; fi
    echo
  fi
  echo "Reproduce: \`bench/restore.sh ${ARGS[*]}\`"
  echo
  python3 -c "
import json; d=json.load(open('$WORK/restores.json'))
print('BENCH_RESTORE ' + json.dumps(dict(restores=d, frames=$FRAMES, users=$USERS, runs=$RUNS, consume_s=float('$DONE_T'),
      state_dir_bytes=$STATE_BYTES, changelog_bytes=${CHANGELOG_BYTES:-0}, memory_pairs=int('${MEM_PAIRS:-0}'),
      changelog_pairs_per_s=$CL_RATE, load_start='''$LOAD_START'''.strip(), load_end='''$LOAD_END'''.strip()), separators=(',', ':')))"
}
[ "$CHECK_OK" -eq 1 ] || fail "the changelog restore holds $CL_PAIRS pairs, fewer than --min-pairs $MIN_PAIRS"
[ "$SAME_OK" -eq 1 ] || fail "restores hold $PAIRS_SET pairs, the consuming run ended with ${MEM_PAIRS:-?}"
