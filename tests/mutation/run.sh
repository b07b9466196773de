#!/usr/bin/env bash
# Mutation check of the engine's boundary rules (docs/SEMANTICS.md §1, §3, §4).
#
# Each mutant below flips one boundary in a temporary copy of the source tree
# (the working tree as it is, build directories left out), rebuilds that copy
# incrementally and runs the unit and differential tiers on it (ctest -L
# 'unit|differential': gtest, the hand cases of tools/oracle/testdata on the
# engine, the CLI tests, 50 engine-vs-oracle streams). A mutant the tiers do
# not fail SURVIVES: the rule it breaks is not tested. Mutants known to be
# equivalent (no observable difference) say why below and are not failures.
# The source tree itself is never modified.
#
# Not run in CI: on 2 shared cores the copy's first build took ~6 min, then
# 25-50 s per mutant (incremental build + tiers); ~15 min for all of them.
# Usage: tests/mutation/run.sh [--keep DIR] [--jobs N] [MUTANT...]   (default: all)
#   tests/mutation/run.sh --list   prints the mutants
# Exit status: 0 when every non-equivalent mutant was killed, 1 otherwise
# (also when a mutant's text is no longer in the source: update the table).
set -euo pipefail
cd "$(dirname "$0")/../.."
src=$PWD
keep=""
jobs=2
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --list) list=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "tests/mutation/run.sh: unknown option $1" >&2; exit 2 ;;
    *) only+=("$1"); shift ;;
  esac
done

# name @ file @ exact text (found once) @ replacement @ why it is equivalent (empty: it must be killed)
MUTANTS=(
  "lateness_open_ge@processor/counter.cc@if (ms(w.end) > wm_) {@if (ms(w.end) >= wm_) {@"
  "final_at_end_lt@processor/counter.cc@(all_open || ms(s.window.end) <= wm_)@(all_open || ms(s.window.end) < wm_)@"
  "outlier_threshold_lt@processor/outlier_filter.cc@(a > b ? a - b : b - a) <= opts_.threshold;@(a > b ? a - b : b - a) < opts_.threshold;@"
  "retention_count_ge@processor/counter.cc@ms(w.end) + opts_.retention_ms > wm_) {@ms(w.end) + opts_.retention_ms >= wm_) {@"
  "retention_free_lt@processor/counter.cc@if (s.final && ms(s.window.end) + keep_ms <= wm_) {@if (s.final && ms(s.window.end) + keep_ms < wm_) {@"
  "ptime_step_lt@processor/outlier_filter.cc@(f.frame.ts - *before) * 1000 <= opts_.immediate_step_ms)@(f.frame.ts - *before) * 1000 < opts_.immediate_step_ms)@"
  "future_skew_ge@processor/engine.cc@if (f.ts > now_ + opts_.max_future_skew) {@if (f.ts >= now_ + opts_.max_future_skew) {@"
  "early_every_step@processor/counter.cc@minute_of(old) < minute_of(wm_)) emit_early();@minute_of(old) <= minute_of(wm_)) emit_early();@"
  "early_first_watermark@processor/counter.cc@old != kNoWatermark && minute_of(old)@minute_of(old)@"
  "early_hour_cadence@processor/counter.cc@minute_of(old) < minute_of(wm_)) emit_early();@minute_of(old) / 60 < minute_of(wm_) / 60) emit_early();@"
  "all_idle_no_watermark@processor/watermark.h@const std::int64_t t = any_busy_ ? low_ : low_idle_;@const std::int64_t t = any_busy_ ? low_ : INT64_MAX;@"
  "all_idle_fastest@processor/watermark.h@if (time) low_idle_ = std::min(low_idle_, *time);@if (time) low_idle_ = low_idle_ == INT64_MAX ? *time : std::max(low_idle_, *time);@"
  "outlier_confirm_gt@processor/outlier_filter.cc@members.size()) >= opts_.confirm) confirm(*joined, out);@members.size()) > opts_.confirm) confirm(*joined, out);@"
  "outlier_reject_gt@processor/outlier_filter.cc@return c.against >= opts_.confirm; });@return c.against > opts_.confirm; });@"
)

if [ "${list:-0}" = 1 ]; then
  for m in "${MUTANTS[@]}"; do IFS='@' read -r name file _ _ why <<<"$m"; echo "$name ($file)${why:+ equivalent}"; done
  exit 0
fi

work=${keep:-$(mktemp -d /tmp/uniqd-mutation-XXXXXX)}
mkdir -p "$work"
copy=$work/src
build=$work/build
log=$work/log
mkdir -p "$log"
echo "mutation check: copy and build in $work"
rm -rf "$copy"
mkdir -p "$copy"
# The working tree (tracked and new files), without build directories.
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$copy"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$copy" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUNIQD_BENCH=OFF >"$log/configure.txt"
fi

# Every target is built: the tiers use more than uniqd and the unit tests
# (the oracle, uniqd-gen, tests/differential's tools), and a stale one fails.
run_tiers() {  # $1: log name; prints the failed tests (empty when all passed)
  if ! nice -n 10 cmake --build "$build" -j "$jobs" >"$log/$1.build.txt" 2>&1; then
    echo "BUILD FAILED"
    return
  fi
  nice -n 10 ctest --test-dir "$build" -L 'unit|differential' -j "$jobs" --timeout 900 --output-on-failure >"$log/$1.ctest.txt" 2>&1 || true
  grep -E '^\s+[0-9]+ - .*\((Failed|Timeout|Not Run|SEGFAULT|Subprocess aborted)\)' "$log/$1.ctest.txt" \
    | sed -E 's/^\s+[0-9]+ - //' | tr '\n' ' ' || true
}

echo "baseline (no mutant): building and running the tiers"
base=$(run_tiers baseline)
if [ -n "$base" ]; then
  echo "the unmutated copy fails already: $base (see $log/baseline.ctest.txt)" >&2
  exit 2
fi

survivors=0
stale=0
killed=0
equivalent=0
for m in "${MUTANTS[@]}"; do
  IFS='@' read -r name file from to why <<<"$m"
  if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" $name "* ]]; then continue; fi
  if ! python3 - "$copy/$file" "$from" "$to" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"STALE      the mutant's text is found {text.count(old)} times in {path} (expected once): {old}")
open(path, "w").write(text.replace(old, new))
PY
  then
    # The code moved: the table above needs updating, which is a failure.
    stale=$((stale + 1))
    continue
  fi
  t0=$(date +%s)
  failed=$(run_tiers "$name")
  cp "$src/$file" "$copy/$file"
  took=$(( $(date +%s) - t0 ))
  if [ -n "$failed" ]; then
    killed=$((killed + 1))
    echo "killed     $name (${took}s): $failed"
  elif [ -n "$why" ]; then
    equivalent=$((equivalent + 1))
    echo "equivalent $name (${took}s): $why"
  else
    survivors=$((survivors + 1))
    echo "SURVIVED   $name (${took}s): $file: '$from' -> '$to' fails no test"
  fi
done
# Leave the copy's build matching the source again.
nice -n 10 cmake --build "$build" -j "$jobs" >/dev/null 2>&1 || true
echo "$killed killed, $survivors survived, $equivalent equivalent, $stale stale (logs in $log)"
if [ -z "$keep" ] && [ "$survivors" = 0 ] && [ "$stale" = 0 ]; then rm -rf "$work"; fi
[ "$survivors" = 0 ] && [ "$stale" = 0 ]
