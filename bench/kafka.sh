#!/usr/bin/env bash
# bench/kafka.sh - uniqd reading Kafka against the transport floor, in one run
# (DESIGN §5). See bench/README.md.
#
#   bench/kafka.sh [--frames N] [--partitions P] [--runs R] [--build DIR]
#                  [--guarantee at_least_once,exactly_once]
#                  [--variant NAME:key=value,key=value]... [--no-profile]
#                  [--compression lz4|none|zstd|snappy|gzip] [--data hostile|challenge]
#                  [--warmup W] [--floor-extract ondemand,structural|none]
#
# Starts its own broker (scripts/kafka, free port, temp dir; always stopped and
# removed), produces N frames (the same generator options as bench/file.sh,
# keyed by uid, P partitions, compressed by the producer with --compression,
# default lz4; none is what the challenge's producers send; producing is not
# measured; --data: uniqd-gen's hostile default profile or its challenge
# profile, as in bench/file.sh), then W unmeasured warm-up rounds (default 3:
# a fresh broker's JIT compiles the code paths each contender uses, which
# costs uniqd's first runs up to 1.6 core-seconds more of the broker's CPU
# than later ones, and the floor's far less; its C2 compiler threads settle
# after about five uniqd runs, two per round here), then R measured rounds.
# Each round runs, for every fetch variant (the built-in settings, plus each
# --variant: librdkafka consumer properties given to the floor with -X and to
# uniqd through --config kafka.consumer):
#   floor      uniqd-transport-floor (bare consumer, assign, read to the end, discard)
#   floor+E    the same floor reading each message's root uid and ts on its
#              consuming thread (--extract E: ondemand = simdjson On-Demand,
#              no validation; structural = uniqd's FrameParser, full
#              validation), once per --floor-extract entry (default both;
#              none leaves them out), default fetch settings only: the most a
#              consumer that looks at every frame could reach on this machine
#   uniqd      uniqd --kafka B --topic T --until-end, a fresh application id
#              (consumer group, so it reads from earliest) and fresh output
#              topics per run, once per --guarantee (a guarantee written
#              G+keyed runs G with --input-partitioned-by uid: the topic is
#              keyed by uid, so uniqd may count each input partition where it
#              is read, without the repartition topic); every run gets a fresh, empty
#              --state-dir (exactly_once's RocksDB store), deleted after the run.
#              Nothing reads the output topics back (a reader would need
#              isolation.level=read_committed under exactly_once).
# Rates: frames / wall seconds of the whole process ("e2e"), and frames /
# seconds of consumption ("read": the floor's assign-to-last-message; uniqd's
# first "assigned" to first "revoked" log lines, so with its final emit + commit). Ratios are
# medians of per-round ratios; with them, the ceiling: the e2e ratio a
# contender would reach if its CPU and the broker's kept every core busy
# (cores x floor wall / (contender CPU + broker CPU)), which only less CPU
# per frame can raise. One extra uniqd run under perf tells where its
# CPU time goes (per thread and per function). Markdown on stdout, progress on
# stderr, a final `BENCH_KAFKA {json}` line.
set -Eeuo pipefail
trap 'echo "bench/kafka.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
log() { echo "bench/kafka.sh: $*" >&2; }
FRAMES=1000000
PARTITIONS=4
RUNS=2
WARMUP=3
EXTRACTS="ondemand,structural"
BUILD=""
GUARANTEES="at_least_once"
PROFILE=1
VARIANTS=("default:")
COMPRESSION=lz4
DATA_PROFILE=hostile
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --frames) FRAMES="$2"; shift 2 ;;
    --partitions) PARTITIONS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --floor-extract) EXTRACTS="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --guarantee) GUARANTEES="$2"; shift 2 ;;
    --variant) VARIANTS+=("$2"); shift 2 ;;
    --no-profile) PROFILE=0; shift ;;
    --compression) COMPRESSION="$2"; shift 2 ;;
    --data) DATA_PROFILE="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/kafka.sh: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done
case "$DATA_PROFILE" in
  hostile|challenge) ;;
  *) echo "bench/kafka.sh: --data must be hostile or challenge, not '$DATA_PROFILE'" >&2; exit 2 ;;
esac
BUILD="$(bench_find_build bench/kafka.sh "$BUILD" uniqd uniqd-gen uniqd-transport-floor)"

DATA="${UNIQD_BENCH_DIR:-/tmp/uniqd-bench}"
mkdir -p "$DATA"
WORK="$(mktemp -d "$DATA/kafka-run.XXXXXX")"
KDIR="$WORK/broker"
cleanup() {
  "$REPO/scripts/kafka" stop --dir "$KDIR" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- broker
B="$(bench_start_broker "$KDIR")"

# Same frames as bench/file.sh (same options, seed), one message per line, keyed by uid.
GEN_OPTS=(--rate 1000 --users 100000 --frame-bytes 2000 --seed 42 --max-delay 8 --delay-prob 0.05
  --flip-prob 0.001 --malformed-prob 0.001 --missing-uid-prob 0.0005 --ts-string-prob 0.01 --crlf-prob 0.1)
case "$DATA_PROFILE" in
  hostile) ;;
  challenge) GEN_OPTS+=(--profile challenge) ;;
esac
TOPIC=frames
log "producing $FRAMES $DATA_PROFILE frames to $TOPIC ($PARTITIONS partitions, key uid, compression $COMPRESSION)"
t0=$EPOCHREALTIME
"$BUILD/uniqd-gen" --count "$FRAMES" "${GEN_OPTS[@]}" --kafka "$B" --topic "$TOPIC" --partitions "$PARTITIONS" \
  --key uid --kafka-property "compression.type=$COMPRESSION" >"$WORK/gen.log" 2>&1 || { tail -5 "$WORK/gen.log" >&2; exit 1; }
PRODUCE_S=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
log "produced in $PRODUCE_S s (not measured)"

# uniqd's flags for the guarantee: --guarantee if this build has it, else the YAML key.
HAS_GUARANTEE_FLAG=0
"$BUILD/uniqd" --help 2>&1 | grep -q -- '--guarantee' && HAS_GUARANTEE_FLAG=1
IFS=',' read -r -a GLIST <<<"$GUARANTEES"
declare -A GSKIP=()

variant_name() { echo "${1%%:*}"; }
variant_props() { local p="${1#*:}"; [ "$p" = "$1" ] && p=""; echo "$p"; }

LOAD_START="$(uptime)"
log "load at start: $LOAD_START"

# The broker's CPU seconds (user + sys) so far, from /proc: the broker shares
# these cores, so a contender's wall time depends on what it costs the broker
# too (serving its fetches; uniqd's internal topics, commits, transactions).
BPID="$(cat "$KDIR/kafka.pid" 2>/dev/null || true)"
CLK_TCK="$(getconf CLK_TCK)"
broker_cpu() {
  if [ -z "$BPID" ] || [ ! -r "/proc/$BPID/stat" ]; then echo 0; return; fi
  # Fields after "pid (comm) ": utime and stime are the 12th and 13th.
  awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$BPID/stat"
}

# One timed process: sets WALL, CPU_U, CPU_S, RSS and BROKER_S (the broker's
# CPU seconds meanwhile).
timed() {  # out-prefix cmd...
  local out="$1"; shift
  local t0 t1 b0 rc=0
  b0=$(broker_cpu)
  t0=$EPOCHREALTIME
  T0=$t0
  /usr/bin/time -f "%U %S %M" -o "$out.time" "$@" >"$out.stdout" 2>"$out.stderr" || rc=$?
  t1=$EPOCHREALTIME
  WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
  BROKER_S=$(awk -v a="$b0" -v b="$(broker_cpu)" 'BEGIN{printf "%.2f", b-a}')
  read -r CPU_U CPU_S RSS <"$out.time" 2>/dev/null || true
  return $rc
}
ts_of() { sed -nE 's/^([0-9-]+T[0-9:.]+)Z .*/\1/p' | head -1; }
secs_between() {  # two ISO times (UTC) -> seconds
  python3 -c "import sys,datetime as d; f=lambda s: d.datetime.fromisoformat(s); print('%.3f' % (f(sys.argv[2]) - f(sys.argv[1])).total_seconds())" "$1" "$2"
}

run_floor() {  # variant round [extract]
  local v="$1" r="$2" extract="${3:-none}" name props out kind=floor
  name="$(variant_name "$v")"; props="$(variant_props "$v")"
  [ "$extract" = none ] || kind="floor+$extract"
  local x=()
  if [ -n "$props" ]; then IFS=',' read -r -a kvs <<<"$props"; for kv in "${kvs[@]}"; do x+=(-X "$kv"); done; fi
  out="$WORK/$kind.$name.$r"
  timed "$out" "$BUILD/uniqd-transport-floor" --brokers "$B" --topic "$TOPIC" --extract "$extract" "${x[@]}" || {
    log "floor failed:"; tail -5 "$out.stderr" >&2; exit 1; }
  local line frames read_s
  line="$(grep '^transport ' "$out.stdout")"
  frames=$(sed -nE 's/.*frames=([0-9]+).*/\1/p' <<<"$line")
  read_s=$(sed -nE 's/.* seconds=([0-9.]+).*/\1/p' <<<"$line")
  local setup_s
  setup_s=$(sed -nE 's/.* setup_seconds=([0-9.]+).*/\1/p' <<<"$line")
  [ "$r" = warmup ] || echo "$kind $name - $r $WALL $CPU_U $CPU_S $RSS $read_s $frames ${setup_s:-0} $BROKER_S" >>"$WORK/runs"
  log "round $r $kind [$name]: $frames frames, $WALL s wall ($read_s s reading), $CPU_U s user, $CPU_S s sys; broker $BROKER_S s CPU"
}

N_UNIQD=0
run_uniqd() {  # variant guarantee round [perf]
  local v="$1" g="$2" r="$3" perf="${4:-}" name props out id
  name="$(variant_name "$v")"; props="$(variant_props "$v")"
  N_UNIQD=$((N_UNIQD + 1))
  id="bench-$$-$N_UNIQD"
  out="$WORK/uniqd.$name.$g.$r"
  local yaml="$out.yaml"
  : >"$yaml"
  if [ -n "$props" ]; then
    { echo "kafka:"; echo "  consumer:"; IFS=',' read -r -a kvs <<<"$props"
      for kv in "${kvs[@]}"; do echo "    ${kv%%=*}: \"${kv#*=}\""; done; } >>"$yaml"
  fi
  local gflag=() guarantee="${g%+keyed}"
  if [ "$HAS_GUARANTEE_FLAG" -eq 1 ]; then gflag=(--guarantee "$guarantee"); else echo "processing_guarantee: $guarantee" >>"$yaml"; fi
  [ "$g" = "$guarantee" ] || gflag+=(--input-partitioned-by uid)
  local cmd=("$BUILD/uniqd" --config "$yaml" --kafka "$B" --topic "$TOPIC" --application-id "$id"
    --output-topic "$id-results" --dead-letter-topic "$id-dead-letter" --until-end --no-progress
    --state-dir "$WORK/state-$id" "${gflag[@]}")
  rm -rf "$WORK/state-$id"   # fresh per run (the id is new, so this is a no-op unless reused)
  if [ -n "$perf" ]; then
    perf record -q -e cpu-clock -F 1000 -o "$WORK/perf.data" -- "${cmd[@]}" >/dev/null 2>"$out.perf.stderr" || return 1
    rm -rf "$WORK/state-$id"
    return 0
  fi
  if ! timed "$out" "${cmd[@]}"; then
    if [ "$guarantee" != at_least_once ] && grep -qi "$guarantee\|guarantee" "$out.stderr"; then
      echo "$g: not available in this build ($(grep -i "$guarantee\|guarantee" "$out.stderr" | head -1 | cut -c1-200))" >>"$WORK/notes"
      log "$g: not available in this build"
      GSKIP[$g]=1
      return 0
    fi
    log "uniqd failed:"; tail -5 "$out.stderr" >&2; exit 1
  fi
  if [ -d "$WORK/state-$id" ]; then
    echo "$(du -sb "$WORK/state-$id" | cut -f1)" >"$WORK/statebytes.$g"
    rm -rf "$WORK/state-$id"
  fi
  # Consumption: first "assigned" to first "revoked" (uniqd's log, UTC, ms): the
  # partitions are revoked by the close that follows the end of input, the final
  # emit and the last commit ("reached its end offset" is not logged when a
  # partition's last message, not an EOF event, tells it the end was reached).
  local a e frames read_s
  a="$(grep 'assigned ' "$out.stderr" | ts_of || true)"
  e="$(grep 'revoked ' "$out.stderr" | ts_of || true)"
  [ -n "$e" ] || e="$(grep -E '[0-9]+ frames \(' "$out.stderr" | tail -1 | ts_of || true)"
  frames=$(grep -oE '[0-9]+ frames \(' "$out.stderr" | tail -1 | grep -oE '^[0-9]+' || echo 0)
  if [ -z "$a" ] || [ -z "$e" ] || [ "$frames" != "$FRAMES" ]; then
    # Not a complete run (e.g. stopped by a signal from outside): keep its log, run again once.
    cp "$out.stderr" "$DATA/kafka-incomplete-$id.log"
    log "uniqd run $id incomplete ($frames frames; log kept in $DATA/kafka-incomplete-$id.log): $(tail -1 "$out.stderr" | cut -c1-200)"
    if [ -z "${RETRY:-}" ]; then RETRY=1 run_uniqd "$@"; return; fi
    exit 1
  fi
  read_s=$(secs_between "$a" "$e")
  # Start-up: from the launch to the first assignment (topic checks, group
  # join, restore); what is left of the wall time after the read is the close.
  local start_s
  start_s=$(python3 -c "import sys,datetime as d; t0=d.datetime.fromtimestamp(float(sys.argv[1]), d.timezone.utc).replace(tzinfo=None); print('%.3f' % (d.datetime.fromisoformat(sys.argv[2]) - t0).total_seconds())" "$T0" "$a")
  [ "$r" = warmup ] || echo "uniqd $name $g $r $WALL $CPU_U $CPU_S $RSS $read_s $frames $start_s $BROKER_S" >>"$WORK/runs"
  grep -o '[0-9]* frames (.*' "$out.stderr" | tail -1 >"$WORK/summary.$g" || true
  log "round $r uniqd [$name, $g]: $frames frames, $WALL s wall ($read_s s reading), $CPU_U s user, $CPU_S s sys; broker $BROKER_S s CPU"
}

# uniqd once per guarantee (those this build has) for a variant and round.
run_guarantees() {  # variant round
  local g
  for g in "${GLIST[@]}"; do
    [ -z "${GSKIP[$g]:-}" ] || continue
    run_uniqd "$1" "$g" "$2"
  done
}

for ((w = 1; w <= WARMUP; w++)); do
  log "warm-up round $w (not measured)"
  run_floor "${VARIANTS[0]}" warmup
  run_guarantees "${VARIANTS[0]}" warmup
done
IFS=',' read -r -a ELIST <<<"$EXTRACTS"
for ((r = 1; r <= RUNS; r++)); do
  for e in "${ELIST[@]}"; do
    [ "$e" = none ] || [ -z "$e" ] || run_floor "${VARIANTS[0]}" "$r" "$e"
  done
  for v in "${VARIANTS[@]}"; do
    run_floor "$v" "$r"
    run_guarantees "$v" "$r"
  done
done
NOTES="$(cat "$WORK/notes" 2>/dev/null || true)"

# ---------------------------------------------------------------- where the time goes
PERF_THREADS="n/a" PERF_SYMS="n/a" PERF_SHARE="n/a" PERF_MAIN="n/a"
classify() {  # stdin: "percent symbol" lines -> percent by part
  awk '{
    p = $1; $1 = ""; s = $0
    if (s ~ /simdjson|FrameParser|ts_from_element/) part = "parse"
    else if (s ~ /XXH|hash_uid/) part = "hash"
    else if (s ~ /unordered|MemoryStore|WindowCounter|Counter|OutlierFilter|Engine/) part = "count"
    else if (s ~ /rd_kafka|rd_|RdKafka|crc32|LZ4|lz4|zstd|snappy/) part = "librdkafka"
    else if (s ~ /\[k\]/) part = "kernel"
    else if (s ~ /memcpy|memmove|memset/) part = "copies"
    else part = "other"
    t[part] += p; all += p
  } END { for (k in t) printf "%s=%.1f ", k, 100 * t[k] / all }'
}
if [ "$PROFILE" -eq 1 ] && perf record -q -e cpu-clock -o "$WORK/perf.test" -- true >/dev/null 2>&1; then
  log "perf: one more uniqd run (default settings, ${GLIST[0]}) sampled with cpu-clock"
  if run_uniqd "${VARIANTS[0]}" "${GLIST[0]}" perf perf; then
    PERF_THREADS="$(perf report -i "$WORK/perf.data" --no-children --sort comm --stdio 2>/dev/null |
      awk '/^ *[0-9.]+%/ { printf "%s %s; ", $2, $1 }')"
    perf report -i "$WORK/perf.data" --no-children --sort sym --stdio 2>/dev/null |
      awk '/^ *[0-9.]+%/ { sub(/%/, "", $1); print }' >"$WORK/perf.syms"
    PERF_SYMS="$(head -10 "$WORK/perf.syms" | awk '{ p = $1; $1 = ""; printf "%s%%%s; ", p, substr($0, 1, 60) }')"
    PERF_SHARE="$(classify <"$WORK/perf.syms")"
    # The main thread alone (named after the program; librdkafka's threads are rdk:*).
    perf report -i "$WORK/perf.data" --no-children --comms uniqd --sort sym --stdio 2>/dev/null |
      awk '/^ *[0-9.]+%/ { sub(/%/, "", $1); print }' >"$WORK/perf.main.syms"
    PERF_MAIN="$(classify <"$WORK/perf.main.syms")"
  fi
fi
LOAD_END="$(uptime)"
log "load at end: $LOAD_END"

# ---------------------------------------------------------------- report
BYTES=$(grep '^transport ' "$WORK"/floor.*.1.stdout | head -1 | sed -nE 's/.*bytes=([0-9]+).*/\1/p')
python3 - "$WORK/runs" "$FRAMES" "${BYTES:-0}" <<'EOF' >"$WORK/report"
import json, os, statistics as st, sys
path, frames, nbytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = {}
for line in open(path):
    kind, var, g, rnd, wall, u, s, rss, read_s, n, start_s, broker_s = line.split()
    runs.setdefault((kind, var, g), {})[int(rnd)] = dict(wall=float(wall), user=float(u), sys=float(s),
                                                        rss=int(rss), read=float(read_s), frames=int(n),
                                                        start=float(start_s), broker=float(broker_s))
print("| contender | variant | frames | e2e frames/s | e2e MB/s | read frames/s | read MB/s | wall s | start s | read s | after s | user s | sys s | CPU µs/frame | broker CPU s | cores busy | peak RSS MiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
out = {}
for (kind, var, g), rr in sorted(runs.items(), key=lambda kv: (kv[0][1] != "default", kv[0][1], kv[0][0], kv[0][2])):
    r = list(rr.values())
    med = lambda k: st.median(x[k] for x in r)
    n = r[0]["frames"]
    wall, read, start = med("wall"), med("read"), med("start")
    label = kind if kind.startswith("floor") else f"uniqd {g}"
    d = dict(frames=n, e2e_frames_per_s=round(n / wall), e2e_mb_per_s=round(nbytes / wall / 1e6, 1),
             read_frames_per_s=round(n / read) if read else None, read_mb_per_s=round(nbytes / read / 1e6, 1) if read else None,
             wall_s=wall, start_s=start, read_s=read, after_s=round(max(wall - start - read, 0), 3), user_s=med("user"), sys_s=med("sys"),
             cpu_us_per_frame=round((med("user") + med("sys")) / n * 1e6, 2), broker_cpu_s=med("broker"),
             # The contender's and the broker's CPU over the wall time, per round:
             # how many of the machine's cores the two kept busy.
             cores_busy=round(st.median((x["user"] + x["sys"] + x["broker"]) / x["wall"] for x in r), 2),
             peak_rss_mib=round(med("rss") / 1024, 1), runs=len(r))
    out[f"{label} [{var}]"] = d
    if n != frames:
        print(f"<!-- {label} [{var}] read {n} frames, expected {frames} -->")
    print(f"| {label} | {var} | {n} | {d['e2e_frames_per_s']:,} | {d['e2e_mb_per_s']} | {d['read_frames_per_s'] or 0:,} | {d['read_mb_per_s']} | "
          f"{wall:.2f} | {start:.2f} | {read:.2f} | {d['after_s']:.2f} | {d['user_s']:.2f} | {d['sys_s']:.2f} | {d['cpu_us_per_frame']} | "
          f"{d['broker_cpu_s']:.2f} | {d['cores_busy']:.2f} | {d['peak_rss_mib']} |")
print()
cores = os.cpu_count() or 1
print(f"| ratio uniqd / floor (throughput, median of per-round ratios) | e2e | per round | read | per round | CPU floor / uniqd | ceiling on {cores} busy cores | target |")
print("|---|---:|---|---:|---|---:|---:|---|")
ratios = {}
for (kind, var, g), rr in sorted(runs.items()):
    if kind == "floor" or ("floor", var, "-") not in runs:
        continue
    fl = runs[("floor", var, "-")]
    ks = [k for k in rr if k in fl]
    e2e = [fl[k]["wall"] / rr[k]["wall"] for k in ks]
    rd = [fl[k]["read"] / rr[k]["read"] for k in ks if rr[k]["read"] > 0]
    cpu = [(fl[k]["user"] + fl[k]["sys"]) / (rr[k]["user"] + rr[k]["sys"]) for k in ks]
    # The e2e ratio the contender would reach if its CPU and the broker's
    # during its run kept every core busy from start to end: past it, only
    # less CPU per frame helps, not more overlap.
    ceil = [cores * fl[k]["wall"] / (rr[k]["user"] + rr[k]["sys"] + rr[k]["broker"]) for k in ks]
    me, mr, mc, mx = st.median(e2e), st.median(rd) if rd else 0, st.median(cpu), st.median(ceil)
    if kind == "uniqd":
        target = ">= 0.8" if g.startswith("exactly_once") else ">= 0.9"
        target += " (e2e: " + ("met" if me >= float(target[3:]) else "not met") + ")"
        name = f"uniqd {g}"
    else:
        # A floor that extracts: what looking at every frame costs any consumer here.
        target, name = "(a bound, not a contender)", kind
    ratios[f"{name.removeprefix('uniqd ')} [{var}]"] = dict(e2e=round(me, 3), read=round(mr, 3), cpu=round(mc, 3),
                                                          ceiling=round(mx, 3))
    print(f"| {name} [{var}] / floor [{var}] | {me:.3f} | {', '.join(f'{x:.3f}' for x in e2e)} | {mr:.3f} | "
          f"{', '.join(f'{x:.3f}' for x in rd)} | {mc:.3f} | {mx:.3f} | {target} |")
json.dump({"contenders": out, "ratios": ratios}, open(path + ".json", "w"))
EOF

{
  echo "## bench/kafka.sh — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM;" \
       "build $BUILD; broker: scripts/kafka (single node, same machine, $("$REPO/scripts/kafka" classpath 2>/dev/null | tr ':' '\n' | grep -oE 'kafka-[0-9.]+[0-9]' | head -1 || echo '?'))."
  echo "Topic: $FRAMES frames ($DATA_PROFILE profile), ${BYTES:-?} bytes, $PARTITIONS partitions, keyed by uid, producer compression $COMPRESSION (produced in $PRODUCE_S s, not measured)."
  echo "$WARMUP unmeasured warm-up round(s) (the floor and uniqd once each, warming the broker's JIT), then $RUNS rounds; in each: the floor, then uniqd per guarantee, per fetch variant. e2e = whole process wall time" \
       "(uniqd: topic creation, group join, reading, final emit, produce + commit, close); read = consumption only" \
       "(floor: assign to last message; uniqd: first 'assigned' to first 'revoked' log line, i.e. including the final emit" \
       "and commit, ms resolution); start = launch to the first assignment (uniqd: topic checks, group join, restore; floor:" \
       "client creation and assignment); after = wall - start - read (the close); broker CPU = the broker's user + sys" \
       "seconds during the contender's run (from /proc; it includes the idle broker's own background work); cores busy =" \
       "(contender's CPU + broker CPU) / wall, of $(nproc). Medians. Ceiling on busy cores = $(nproc) x the floor's wall /" \
       "(contender's CPU + broker CPU), per round: the e2e ratio the contender would reach with every core busy from" \
       "start to end; only less CPU per frame raises it."
  echo
  echo "Load at start: \`$LOAD_START\`"
  echo "Load at end:   \`$LOAD_END\`"
  echo
  [ -z "$NOTES" ] || { echo "$NOTES"; }
  cat "$WORK/report"
  echo
  for g in "${GLIST[@]}"; do
    [ -s "$WORK/summary.$g" ] && echo "uniqd's own summary ($g, last run): $(cat "$WORK/summary.$g")" && echo
    [ -s "$WORK/statebytes.$g" ] && echo "State directory after the last $g run: $(cat "$WORK/statebytes.$g") bytes (du -sb)." && echo
  done
  echo "Where uniqd's CPU time goes (one extra run under perf, cpu-clock samples, all threads):"
  echo
  echo "- by thread: $PERF_THREADS"
  echo "- by part, all threads: $PERF_SHARE"
  echo "- by part, the thread named uniqd only (consume and count; parse too with --parse-threads -1): $PERF_MAIN"
  echo "- top symbols: $PERF_SYMS"
  echo
  echo "Reproduce: \`bench/kafka.sh ${ARGS[*]}\`"
  echo
  python3 -c "
import json; d=json.load(open('$WORK/runs.json'))
d.update(frames=$FRAMES, data='$DATA_PROFILE', compression='$COMPRESSION', bytes=${BYTES:-0}, partitions=$PARTITIONS, runs=$RUNS, perf_threads='''$PERF_THREADS'''.strip(),
         perf_share='''$PERF_SHARE'''.strip(), perf_main_thread='''$PERF_MAIN'''.strip(), load_start='''$LOAD_START'''.strip(), load_end='''$LOAD_END'''.strip())
print('BENCH_KAFKA ' + json.dumps(d, separators=(',', ':')))"
}
