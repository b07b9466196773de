#!/usr/bin/env python3
"""The usual answer to the challenge, as a yardstick for bench/file.sh.

json.loads every line, take the root uid and ts, and add the uid to a
dict of sets keyed by (window, start) for minute, hour, day, ISO week, month
and year. No lateness, no watermark, nothing emitted before the end: at the
end of input it prints every window's unique count as one JSON line. Lines
that do not parse or lack uid/ts are counted and skipped.

    bench/naive_consumer.py FILE [--frames N]     # N: stop after N lines

Prints `naive frames=... bytes=... seconds=... frames_per_s=... mb_per_s=...`
on stderr.
"""
import argparse
import json
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--frames", type=int, default=0, help="stop after this many lines (0: all)")
    args = ap.parse_args()

    windows = defaultdict(set)
    frames = nbytes = bad = 0
    start = time.perf_counter()
    with open(args.file, "rb") as f:
        for line in f:
            if args.frames and frames >= args.frames:
                break
            frames += 1
            nbytes += len(line)
            try:
                doc = json.loads(line)
                uid = doc["uid"]
                ts = int(doc["ts"])
                dt = datetime.fromtimestamp(ts, tz=timezone.utc)
            except Exception:  # malformed JSON (even nesting deep enough for RecursionError), no uid/ts
                bad += 1
                continue
            day = ts - ts % 86400
            windows[("minute", ts - ts % 60)].add(uid)
            windows[("hour", ts - ts % 3600)].add(uid)
            windows[("day", day)].add(uid)
            windows[("week", day - dt.weekday() * 86400)].add(uid)
            windows[("month", (dt.year, dt.month))].add(uid)
            windows[("year", dt.year)].add(uid)
    out = sys.stdout
    for (w, s), uids in windows.items():
        out.write(json.dumps({"window": w, "start": s, "unique_users": len(uids)}) + "\n")
    secs = time.perf_counter() - start
    print(f"naive frames={frames} bytes={nbytes} seconds={secs:.3f} frames_per_s={frames / secs:.0f} "
          f"mb_per_s={nbytes / secs / 1e6:.1f} bad={bad} windows={len(windows)}", file=sys.stderr)


if __name__ == "__main__":
    main()
