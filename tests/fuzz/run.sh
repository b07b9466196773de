#!/usr/bin/env bash
# Replays the corpus, then runs each libFuzzer target for a bounded time.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build-fuzz}"
seconds="${2:-30}"
work="$(mktemp -d /tmp/uniqd-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
for target in fuzz_frame_parser fuzz_pipeline; do
  bin="$build/tests/fuzz/$target"
  mkdir -p "$work/$target"
  echo "fuzz: $target: replaying tests/fuzz/corpus, then ${seconds}s of new inputs"
  "$bin" -runs=0 tests/fuzz/corpus >"$work/$target.replay.log" 2>&1 || { cat "$work/$target.replay.log"; exit 1; }
  if ! "$bin" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$work/" "$work/$target" tests/fuzz/corpus >"$work/$target.log" 2>&1; then
    tail -40 "$work/$target.log"
    echo "fuzz: $target FAILED; the crashing input is kept in tests/fuzz/crashes/"
    mkdir -p tests/fuzz/crashes && cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* tests/fuzz/crashes/ 2>/dev/null || true
    exit 1
  fi
  grep -E "^Done" "$work/$target.log" || true
done
echo "fuzz: no crash, no leak, no timeout"
