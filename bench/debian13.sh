#!/usr/bin/env bash
# bench/debian13.sh - the same source built on the host (Debian 12: g++ 12, simdjson 3.0.1) and
# in the image's build stage (Debian 13: g++ 14, simdjson 3.12), run on the same data in the
# same rounds: file mode and the parse floor, so that the README can say what the newer
# toolchain and library are worth. Figures, not pass/fail; Markdown on stdout.
#
#   bench/debian13.sh [--frames N] [--runs R] [--data hostile|challenge] [--build DIR]
#
# The Debian 13 build: the build stage of docker/Containerfile (scripts/container, podman,
# cached layers), then cmake + ninja in a container from it over a read-only mount of this
# repository, with the host's build type (RelWithDebInfo, as scripts/build release). Its
# binaries run in a container from the same image (the data mounted read-only; podman's
# start-up is outside the timings, which are taken inside the container by bash's clock).
# Each round runs every contender once, the host's and the container's alternating first:
#   floor-ondemand  uniqd-parse-floor --mode ondemand FILE   (one core)
#   uniqd-inline    uniqd --input FILE, all six windows, --parse-threads -1
#   uniqd-2threads  the same, --parse-threads 2
# Rates are frames per wall second; the table gives medians over the rounds.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FRAMES=300000
RUNS=3
DATA_PROFILE=hostile
BUILD="$REPO/build"
while [ $# -gt 0 ]; do
  case "$1" in
    --frames) FRAMES="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --data) DATA_PROFILE="$2"; shift 2 ;;
    --build) BUILD="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/debian13.sh: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done
log() { echo "bench/debian13.sh: $*" >&2; }
for b in uniqd uniqd-gen uniqd-parse-floor; do
  [ -x "$BUILD/$b" ] || { log "no $BUILD/$b: build first (./scripts/build release)"; exit 2; }
done
case "$DATA_PROFILE" in
  hostile) PROFILE_OPT=() ;;
  challenge) PROFILE_OPT=(--profile challenge) ;;
  *) log "--data must be hostile or challenge"; exit 2 ;;
esac

CONTAINER="$REPO/scripts/container"
BUILD_IMAGE=localhost/uniqd-build:dev
DATA="${UNIQD_BENCH_DIR:-/tmp/uniqd-bench}"
OUT="$DATA/debian13"
mkdir -p "$OUT/bin"

# ---------------------------------------------------------------- the Debian 13 build
"$CONTAINER" base
start=$SECONDS
"$CONTAINER" podman build --pull=never --layers --format docker --target build \
  --build-arg BASE=localhost/uniqd-base:trixie -t "$BUILD_IMAGE" -f "$REPO/docker/Containerfile" "$REPO" >&2
log "build stage image ready in $((SECONDS - start)) s"
start=$SECONDS
"$CONTAINER" podman run --rm --network none -v "$REPO:/repo:ro" -v "$OUT:/out" "$BUILD_IMAGE" bash -c '
  set -e
  cmake -S /repo -B /out/build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUNIQD_TESTS=OFF -DUNIQD_BENCH=ON \
    -DUNIQD_WERROR=ON >/dev/null
  nice -n 10 cmake --build /out/build --target uniqd uniqd-parse-floor >/dev/null
  install /out/build/uniqd /out/build/uniqd-parse-floor /out/bin/
  echo "g++ $(g++ -dumpfullversion), simdjson $(dpkg-query -W -f "\${Version}" libsimdjson-dev)"
' >"$OUT/toolchain"
log "Debian 13 build in $((SECONDS - start)) s: $(cat "$OUT/toolchain")"
HOST_TOOLCHAIN="g++ $(g++ -dumpfullversion), simdjson $(dpkg-query -W -f '${Version}' libsimdjson-dev)"

# ---------------------------------------------------------------- data
FILE="$DATA/debian13-$DATA_PROFILE-$FRAMES.jsonl"
if [ ! -s "$FILE" ]; then
  log "generating $FRAMES frames ($DATA_PROFILE) into $FILE"
  "$BUILD/uniqd-gen" --count "$FRAMES" --rate 1000 --users 100000 --frame-bytes 2000 --seed 42 \
    "${PROFILE_OPT[@]}" --output "$FILE.tmp"
  mv "$FILE.tmp" "$FILE"
fi
cat "$FILE" >/dev/null

# ---------------------------------------------------------------- rounds
# One script times the three contenders for either build: $1 = directory of the binaries,
# $2 = the data file; prints "name wall user sys" per contender.
TIMER='
set -e
TIMEFORMAT="%R %U %S"
run() { local name=$1; shift; { time "$@" >/dev/null 2>&1; } 2>/tmp/t; echo "$name $(cat /tmp/t)"; }
w="--windows minute,hour,day,week,month,year --no-progress"
run floor-ondemand "$1/uniqd-parse-floor" --mode ondemand "$2"
run uniqd-inline "$1/uniqd" --input "$2" $w --parse-threads -1
run uniqd-2threads "$1/uniqd" --input "$2" $w --parse-threads 2
'
RESULTS="$OUT/runs.$DATA_PROFILE"
: >"$RESULTS"
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
host_round() { bash -c "$TIMER" timer "$BUILD" "$FILE" | sed 's/^/debian12 /'; }
image_round() {
  "$CONTAINER" podman run --rm --network none -v "$OUT/bin:/bench:ro" -v "$FILE:/data.jsonl:ro" "$BUILD_IMAGE" \
    bash -c "$TIMER" timer /bench /data.jsonl | sed 's/^/debian13 /'
}
for ((r = 1; r <= RUNS; r++)); do
  if ((r % 2)); then host_round; image_round; else image_round; host_round; fi | tee -a "$RESULTS" \
    | sed "s/^/round $r: /" >&2
done
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- table
echo "## Debian 12 vs Debian 13 builds ($FRAMES $DATA_PROFILE frames, $RUNS rounds; load $LOAD_START at start, $LOAD_END at end)"
echo
echo "- Debian 12 (host): $HOST_TOOLCHAIN"
echo "- Debian 13 (image build stage): $(cat "$OUT/toolchain")"
echo
awk -v frames="$FRAMES" '
  function median(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { key = $1 " " $2; wall[key] = wall[key] " " $3; cpu[key] = cpu[key] " " ($4 + $5) }
  END {
    print "| contender | Debian 12 frames/s | Debian 13 frames/s | 13 / 12 | CPU µs/frame 12 | CPU µs/frame 13 |"
    print "|---|---|---|---|---|---|"
    split("floor-ondemand uniqd-inline uniqd-2threads", names, " ")
    for (i = 1; i <= 3; i++) {
      n = names[i]; w12 = median(wall["debian12 " n]); w13 = median(wall["debian13 " n])
      printf "| %s | %.0f | %.0f | %.2f | %.2f | %.2f |\n", n, frames / w12, frames / w13, w12 / w13,
        median(cpu["debian12 " n]) * 1e6 / frames, median(cpu["debian13 " n]) * 1e6 / frames
    }
    f12 = median(wall["debian12 floor-ondemand"]); f13 = median(wall["debian13 floor-ondemand"])
    printf "\nuniqd-2threads against its own build'"'"'s one-core On-Demand floor: Debian 12 %.2f, Debian 13 %.2f\n",
      f12 / median(wall["debian12 uniqd-2threads"]), f13 / median(wall["debian13 uniqd-2threads"])
  }' "$RESULTS"
echo
echo "Reproduce: bench/debian13.sh --frames $FRAMES --runs $RUNS --data $DATA_PROFILE"
