#!/usr/bin/env bash
# bench/file.sh - uniqd in file mode against its parse floor and a naive Python
# consumer, in one run (DESIGN §5). See bench/README.md.
#
#   bench/file.sh [--frames N] [--runs R] [--build DIR] [--python-frames P]
#                 [--profile-frames F] [--no-profile] [--data both|hostile|challenge]
#
# Generates (once, cached in ${UNIQD_BENCH_DIR:-/tmp/uniqd-bench}) N
# challenge-like frames (--data: uniqd-gen's hostile default profile, its
# challenge profile, shaped like the challenge generator's frames, or both,
# the default: the whole run once per profile, then the ratios of both side
# by side, for DESIGN §5's and issue 13's targets), then runs
# R rounds; each round runs every contender once, in a rotated order, so that
# all of them share the machine's noise:
#   floor-ondemand  uniqd-parse-floor --mode ondemand  (the parse floor)
#   floor-dom       uniqd-parse-floor --mode dom       (full validation, as uniqd parses)
#   uniqd-inline    uniqd --input FILE --parse-threads -1   (all six windows)
#   uniqd-2threads  uniqd --input FILE --parse-threads 2
#   uniqd-2threads-dom  the same with UNIQD_FRAME_PARSER=dom (the reference parser)
#   python-naive    bench/naive_consumer.py on the first P frames
# Rates are frames / wall seconds of the whole process; the table gives the
# median over the rounds, the ratios are the median of the per-round ratios.
# Then the parser's share of uniqd's time is measured with perf (cpu-clock
# samples) and callgrind (instructions) on the first F frames, and perf splits
# uniqd-2threads' CPU time by thread: the main thread (cutting the file,
# applying verdicts, counting, emitting) against the parse threads.
# Markdown on stdout, progress on stderr, a final `BENCH_FILE {json}` line.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
log() { echo "bench/file.sh: $*" >&2; }
FRAMES=1000000
RUNS=3
BUILD=""
PY_FRAMES=100000
PROFILE_FRAMES=20000
PROFILE=1
DATA_PROFILE=both
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --frames) FRAMES="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    --python-frames) PY_FRAMES="$2"; shift 2 ;;
    --profile-frames) PROFILE_FRAMES="$2"; shift 2 ;;
    --no-profile) PROFILE=0; shift ;;
    --data) DATA_PROFILE="$2"; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/file.sh: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done
if [ "$DATA_PROFILE" = both ]; then
  # One run per profile (each its own rounds, under whatever load there is
  # then), then their ratios side by side.
  PASS=()
  for ((i = 0; i < ${#ARGS[@]}; i++)); do
    if [ "${ARGS[$i]}" = --data ]; then i=$((i + 1)); else PASS+=("${ARGS[$i]}"); fi
  done
  BOTH="$(mktemp -d "${TMPDIR:-/tmp}/uniqd-file-both.XXXXXX")"
  trap 'rm -rf "$BOTH"' EXIT
  for prof in hostile challenge; do
    "$0" ${PASS[@]+"${PASS[@]}"} --data "$prof" | tee "$BOTH/$prof.md"
    echo
  done
  python3 - "$BOTH/hostile.md" "$BOTH/challenge.md" <<'EOF'
import json, sys
runs = {}
for prof, path in zip(("hostile", "challenge"), sys.argv[1:]):
    line = [l for l in open(path) if l.startswith("BENCH_FILE ")][-1]
    runs[prof] = json.loads(line[len("BENCH_FILE "):])
print("## bench/file.sh — both profiles")
print()
print("Ratios of throughputs, median of the per-round ratios (by wall time: what two cores deliver on a quiet")
print("machine; by CPU time: user+sys per frame, less sensitive to other load). Target (issue 13):")
print("uniqd-2threads / floor-ondemand >= 1.0 by wall time on both profiles.")
print()
print("| profile | 2threads / ondemand, wall | 2threads / ondemand, CPU | inline / ondemand, wall | inline / ondemand, CPU "
      "| 2threads-dom / ondemand, wall | load at start | load at end |")
print("|---|---:|---:|---:|---:|---:|---|---|")
load = lambda s: s.split("load average:")[-1].strip()
for prof, d in runs.items():
    r = d["ratios"]
    print(f"| {prof} | {r['uniqd-2threads/floor-ondemand']} | {r['uniqd-2threads/floor-ondemand (cpu)']} | "
          f"{r['uniqd-inline/floor-ondemand']} | {r['uniqd-inline/floor-ondemand (cpu)']} | "
          f"{r['uniqd-2threads-dom/floor-ondemand']} | {load(d['load_start'])} | {load(d['load_end'])} |")
print()
print("BENCH_FILE_BOTH " + json.dumps({p: d["ratios"] for p, d in runs.items()}, separators=(",", ":")))
EOF
  exit 0
fi
BUILD="$(bench_find_build bench/file.sh "$BUILD" uniqd uniqd-gen uniqd-parse-floor)"
[ "$PY_FRAMES" -le "$FRAMES" ] || PY_FRAMES="$FRAMES"
[ "$PROFILE_FRAMES" -le "$FRAMES" ] || PROFILE_FRAMES="$FRAMES"

# ---------------------------------------------------------------- data
DATA="${UNIQD_BENCH_DIR:-/tmp/uniqd-bench}"
mkdir -p "$DATA"
# Challenge-like: ~2 KB frames, 1000 frames per event-time second, 100 000
# users, and a few faults (the demo's mix: out-of-order, bit flips, broken JSON,
# missing uid, ts as strings, CRLF).
GEN_OPTS=(--rate 1000 --users 100000 --frame-bytes 2000 --seed 42 --max-delay 8 --delay-prob 0.05
  --flip-prob 0.001 --malformed-prob 0.001 --missing-uid-prob 0.0005 --ts-string-prob 0.01 --crlf-prob 0.1)
case "$DATA_PROFILE" in
  hostile) ;;
  challenge) GEN_OPTS+=(--profile challenge) ;;
  *) echo "bench/file.sh: --data must be both, hostile or challenge" >&2; exit 2 ;;
esac
key="$(echo "${GEN_OPTS[*]}" | md5sum | cut -c1-8)"
FILE="$DATA/frames-$FRAMES-$key.jsonl"
if [ ! -s "$FILE" ]; then
  log "generating $FRAMES frames into $FILE"
  "$BUILD/uniqd-gen" --count "$FRAMES" "${GEN_OPTS[@]}" --output "$FILE.tmp"
  mv "$FILE.tmp" "$FILE"
fi
PYFILE="$FILE"
if [ "$PY_FRAMES" -lt "$FRAMES" ]; then
  PYFILE="$DATA/frames-$FRAMES-$key.head$PY_FRAMES.jsonl"
  [ -s "$PYFILE" ] || head -n "$PY_FRAMES" "$FILE" >"$PYFILE"
fi
BYTES=$(stat -c %s "$FILE")
PYBYTES=$(stat -c %s "$PYFILE")
cat "$FILE" "$PYFILE" >/dev/null   # into the page cache: every contender reads from memory

WORK="$(mktemp -d "$DATA/file-run.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
LOAD_START="$(uptime)"
log "load at start: $LOAD_START"

# ---------------------------------------------------------------- rounds
NAMES=(floor-ondemand floor-dom uniqd-inline uniqd-2threads uniqd-2threads-dom python-naive)
cmd_of() {
  case "$1" in
    floor-ondemand) echo "$BUILD/uniqd-parse-floor --mode ondemand $FILE" ;;
    floor-dom) echo "$BUILD/uniqd-parse-floor --mode dom $FILE" ;;
    uniqd-inline) echo "$BUILD/uniqd --input $FILE --windows minute,hour,day,week,month,year --parse-threads -1 --no-progress" ;;
    uniqd-2threads) echo "$BUILD/uniqd --input $FILE --windows minute,hour,day,week,month,year --parse-threads 2 --no-progress" ;;
    uniqd-2threads-dom) echo "env UNIQD_FRAME_PARSER=dom $(cmd_of uniqd-2threads)" ;;
    python-naive) echo "python3 $REPO/bench/naive_consumer.py $PYFILE" ;;
  esac
}
frames_of() { if [ "$1" = python-naive ]; then echo "$PY_FRAMES"; else echo "$FRAMES"; fi; }
bytes_of() { if [ "$1" = python-naive ]; then echo "$PYBYTES"; else echo "$BYTES"; fi; }

# One run: wall seconds (bash's clock), user/sys seconds and peak RSS (GNU time).
run_one() {  # name round -> appends "name round wall user sys rss_kb" to $WORK/runs
  local name="$1" round="$2" t0 t1
  local out="$WORK/$name.$round"
  # shellcheck disable=SC2046
  t0=$EPOCHREALTIME
  /usr/bin/time -f "%U %S %M" -o "$out.time" $(cmd_of "$name") >"$out.stdout" 2>"$out.stderr" || {
    log "$name failed:"; tail -5 "$out.stderr" >&2; exit 1; }
  t1=$EPOCHREALTIME
  read -r u s m <"$out.time"
  local wall
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
  echo "$name $round $wall $u $s $m" >>"$WORK/runs"
  log "round $round $name: $wall s wall, $u s user, $s s sys, $((m / 1024)) MiB peak RSS"
}

for ((r = 1; r <= RUNS; r++)); do
  n=${#NAMES[@]}
  for ((i = 0; i < n; i++)); do
    run_one "${NAMES[$(((i + r - 1) % n))]}" "$r"
  done
done
# uniqd's own summary of the first inline run (sanity: frames, rejects, results).
SUMMARY="$(grep -o '[0-9]* frames (.*' "$WORK/uniqd-inline.1.stderr" | tail -1 || true)"

# ---------------------------------------------------------------- parser share
PERF_SHARE="n/a" CG_SHARE="n/a" PERF_NOTE="" CG_NOTE="" THREADS_SHARE="n/a" THREADS_NOTE=""
PROFILE_FILE="$DATA/frames-$FRAMES-$key.head$PROFILE_FRAMES.jsonl"
classify() {  # stdin: "percent symbol-or-dso..." lines -> shares by part
  awk '{
    p = $1; $1 = ""; s = $0
    if (s ~ /simdjson|FrameParser|ts_from_element|scan_number|escapes_valid|hex4|digit_run/) part = "parse"
    else if (s ~ /XXH|hash_uid/) part = "hash"
    else if (s ~ /unordered|MemoryStore|WindowCounter|Counter|OutlierFilter|Engine|window|calendar|civil/) part = "count"
    else if (s ~ /LineReader|split_lines|memchr|memcpy|memmove|memset|read|\[k\]|kernel/) part = "read"
    else part = "other"
    t[part] += p; all += p
  } END { for (k in t) printf "%s=%.1f ", k, 100 * t[k] / all }'
}
if [ "$PROFILE" -eq 1 ]; then
  if perf record -q -e cpu-clock -F 2000 -o "$WORK/perf.data" -- true >/dev/null 2>&1; then
    log "perf: sampling uniqd-inline (cpu-clock) on the whole file"
    perf record -q -e cpu-clock -F 2000 -o "$WORK/perf.data" -- $(cmd_of uniqd-inline) >/dev/null 2>"$WORK/perf.stderr"
    perf report -i "$WORK/perf.data" --no-children --sort sym --stdio 2>/dev/null |
      awk '/^ *[0-9.]+%/ { sub(/%/, "", $1); print }' >"$WORK/perf.syms"
    PERF_SHARE="$(classify <"$WORK/perf.syms")"
    PERF_NOTE="$(head -8 "$WORK/perf.syms" | awk '{ p = $1; $1 = ""; printf "%s%%%s; ", p, substr($0, 1, 70) }')"
    log "perf: sampling uniqd-2threads (cpu-clock) by thread"
    perf record -q -e cpu-clock -F 2000 -o "$WORK/perf2.data" -- $(cmd_of uniqd-2threads) >/dev/null 2>"$WORK/perf2.stderr"
    # The main thread is named uniqd, the parse threads uniqd-parse.
    THREADS_SHARE="$(perf report -i "$WORK/perf2.data" --no-children --sort comm --stdio 2>/dev/null |
      awk '/^ *[0-9.]+%/ { printf "%s %s; ", $2, $1 }')"
    for comm in uniqd uniqd-parse; do
      top="$(perf report -i "$WORK/perf2.data" --comms "$comm" --no-children --sort sym --stdio 2>/dev/null |
        awk '/^ *[0-9.]+%/ { p = $1; $1 = ""; printf "%s%s; ", p, substr($0, 1, 60) }' | cut -d';' -f1-6)"
      THREADS_NOTE+="  - $comm, top symbols (percent of all samples): $top"$'\n'
    done
  else
    PERF_NOTE="perf record not permitted here"
  fi
  if command -v valgrind >/dev/null; then
    [ -s "$PROFILE_FILE" ] || head -n "$PROFILE_FRAMES" "$FILE" >"$PROFILE_FILE"
    log "callgrind: uniqd-inline on the first $PROFILE_FRAMES frames"
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
      "$BUILD/uniqd" --input "$PROFILE_FILE" --parse-threads -1 --no-progress >/dev/null 2>"$WORK/cg.stderr"
    # Self cost per function, as a percent of all instructions.
    callgrind_annotate --inclusive=no "$WORK/cg.out" 2>/dev/null |
      grep -v 'PROGRAM TOTALS' | sed -nE 's/^ *[0-9,]+ +\( *([0-9.]+)%\) +(.*)$/\1 \2/p' >"$WORK/cg.syms"
    CG_SHARE="$(classify <"$WORK/cg.syms")"
    CG_NOTE="$(head -6 "$WORK/cg.syms" | awk '{ p = $1; $1 = ""; s = $0; sub(/^ *\?\?\?:/, "", s); sub(/^ */, "", s); sub(/ \[.*/, "", s)
      printf "%s%% %s; ", p, substr(s, 1, 70) }')"
  fi
fi
LOAD_END="$(uptime)"
log "load at end: $LOAD_END"

# ---------------------------------------------------------------- report
python3 - "$WORK/runs" "$FRAMES" "$BYTES" "$PY_FRAMES" "$PYBYTES" "$RUNS" <<'EOF' >"$WORK/report"
import json, statistics as st, sys
path, frames, nbytes, pyframes, pybytes, runs = sys.argv[1], *map(int, sys.argv[2:])
rows = {}
for line in open(path):
    name, rnd, wall, user, sys_, rss = line.split()
    rows.setdefault(name, {})[int(rnd)] = (float(wall), float(user), float(sys_), int(rss))
order = ["floor-ondemand", "floor-dom", "uniqd-inline", "uniqd-2threads", "uniqd-2threads-dom", "python-naive"]
out = {}
print("| contender | frames | frames/s | MB/s | wall s | user s | sys s | frames/CPU-s | peak RSS MiB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for n in order:
    f, b = (pyframes, pybytes) if n == "python-naive" else (frames, nbytes)
    r = list(rows[n].values())
    wall = st.median(x[0] for x in r)
    d = dict(frames=f, frames_per_s=round(f / wall), mb_per_s=round(b / wall / 1e6, 1), wall_s=wall,
             user_s=st.median(x[1] for x in r), sys_s=st.median(x[2] for x in r),
             frames_per_cpu_s=round(f / st.median(x[1] + x[2] for x in r)),
             peak_rss_mib=round(st.median(x[3] for x in r) / 1024, 1), runs=len(r))
    out[n] = d
    print(f"| {n} | {f} | {d['frames_per_s']:,} | {d['mb_per_s']} | {wall:.2f} | {d['user_s']:.2f} | {d['sys_s']:.2f} | {d['frames_per_cpu_s']:,} | {d['peak_rss_mib']} |")
def ratio(a, b, cpu):  # per-round throughput ratio a/b (by wall or CPU time), median over rounds
    fa = pyframes if a == "python-naive" else frames
    fb = pyframes if b == "python-naive" else frames
    t = (lambda x: x[1] + x[2]) if cpu else (lambda x: x[0])
    vals = [(fa / t(rows[a][k])) / (fb / t(rows[b][k])) for k in rows[a] if k in rows[b]]
    return round(st.median(vals), 3), [round(v, 3) for v in vals]
ratios = {}
print()
print("| ratio of throughputs (median of the per-round ratios) | by wall time | per round | by CPU time | per round | target |")
print("|---|---:|---|---:|---|---|")
for a, b, target in [("uniqd-inline", "floor-ondemand", ">= 0.9"), ("uniqd-2threads", "floor-ondemand", ">= 1.0"),
                     ("uniqd-2threads-dom", "floor-ondemand", ""),
                     ("uniqd-inline", "floor-dom", ""), ("uniqd-inline", "python-naive", ">= 25"),
                     ("uniqd-2threads", "python-naive", ">= 25")]:
    v, per = ratio(a, b, False)
    c, cper = ratio(a, b, True)
    ratios[f"{a}/{b}"] = v
    ratios[f"{a}/{b} (cpu)"] = c
    print(f"| {a} / {b} | {v} | {', '.join(map(str, per))} | {c} | {', '.join(map(str, cper))} | {target} |")
json.dump({"contenders": out, "ratios": ratios}, open(path + ".json", "w"))
EOF

{
  echo "## bench/file.sh — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM;" \
       "build $BUILD ($(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?'))."
  echo "Input ($DATA_PROFILE profile: uniqd-gen ${GEN_OPTS[*]}): $FILE — $FRAMES frames, $BYTES bytes ($(awk -v b="$BYTES" -v f="$FRAMES" 'BEGIN{printf "%.0f", b/f}') B/frame);" \
       "python-naive reads the first $PY_FRAMES frames ($PYBYTES bytes) and its rates are per frame of that prefix."
  echo "$RUNS rounds, contenders interleaved (rotated order) in each round; frames/s and MB/s from the wall time of the" \
       "whole process, frames/CPU-s from its user+sys time (less sensitive to other load on the machine); medians."
  echo
  echo "Load at start: \`$LOAD_START\`"
  echo "Load at end:   \`$LOAD_END\`"
  echo
  cat "$WORK/report"
  echo
  echo "uniqd's own summary (inline, round 1): $SUMMARY"
  echo
  echo "Parser share of uniqd-inline's time (percent, by function name: parse = simdjson + FrameParser," \
       "hash = XXH3, count = engine/counter/window state, read = line reading, copies, syscalls):"
  echo
  echo "- perf cpu-clock samples, whole file: ${PERF_SHARE}"
  [ -z "$PERF_NOTE" ] || echo "  - top symbols: $PERF_NOTE"
  echo "- perf cpu-clock samples of uniqd-2threads by thread (uniqd = the main thread: cutting the file, applying" \
       "verdicts, counting, emitting; uniqd-parse = the parse threads): ${THREADS_SHARE}"
  [ -z "$THREADS_NOTE" ] || printf '%s' "$THREADS_NOTE"
  echo "- callgrind instructions, first $PROFILE_FRAMES frames: ${CG_SHARE}"
  [ -z "$CG_NOTE" ] || echo "  - top functions: $CG_NOTE"
  echo "- floor-dom CPU time / uniqd-inline CPU time (the same DOM parse and line reading, nothing else; medians): $(python3 -c "
import json; d=json.load(open('$WORK/runs.json'))['contenders']; f=d['floor-dom']; u=d['uniqd-inline']
print(round((f['user_s']+f['sys_s'])/(u['user_s']+u['sys_s']),3))")"
  echo
  echo "Reproduce: \`bench/file.sh ${ARGS[*]}\`"
  echo
  python3 -c "
import json,sys; d=json.load(open('$WORK/runs.json'))
d.update(frames=$FRAMES, bytes=$BYTES, python_frames=$PY_FRAMES, runs=$RUNS, perf_share='$PERF_SHARE'.strip(), callgrind_share='$CG_SHARE'.strip(),
         load_start='''$LOAD_START'''.strip(), load_end='''$LOAD_END'''.strip())
print('BENCH_FILE ' + json.dumps(d, separators=(',', ':')))"
}
