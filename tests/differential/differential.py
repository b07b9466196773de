#!/usr/bin/env python3
"""Engine vs oracle on generated streams (docs/SEMANTICS.md is the contract).

Each case generates a stream with uniqd-gen (seeded, so a failure is
reproducible with the printed command), runs build/uniqd and
build/uniqd-oracle with the same flags, and requires:
  - the same results, final and early, record for record, in the same order
    (window, start, end, unique_users, frames, final, revision);
  - the same rejects: the same line numbers with the same reasons;
  - every non-blank line accounted for (accepted or rejected): uniqd's summary
    adds up to the lines of the file, counted here per SEMANTICS §1, and its
    rejects file holds one record per reject;
  - something to compare: final results in every case, early ones in the run.

usage: differential.py BUILD_DIR [--cases N] [--first K] [--keep DIR]
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile

SUMMARY_RE = re.compile(r"(\d+) frames \(.*?; accepted (\d+), rejected (\d+)(?: \([^)]*\))?, blank (\d+);")
ORACLE_LINES_RE = re.compile(r"\(lines=(\d+) blank=(\d+)\)")

# Starts near calendar edges, so long windows close inside short streams.
STARTS = [
    1468244340,  # 2016-07-11T13:39:00Z (the challenge's data)
    1609455600,  # 2020-12-31T23:00:00Z: year, month, ISO week 53 end
    1582934400,  # 2020-02-29T00:00:00Z: leap day
    1451602800,  # 2015-12-31T23:00:00Z: ISO week 53 of 2015
    1483225200,  # 2016-12-31T23:00:00Z: leap year ends
    1609628400,  # 2021-01-02T23:00:00Z: Sunday night, week change
]
WINDOW_SETS = ["minute,hour,day,week,month,year"] * 4 + ["minute,day", "week,year", "hour", "minute,month"]


def case(seed):
    rnd = random.Random(seed)
    lateness = rnd.choice([0, 2, 5, 5, 30])
    gen = {
        "--count": rnd.choice([800, 1500, 3000]),
        "--rate": rnd.choice([0.2, 1, 5, 20, 50]),
        "--users": rnd.choice([5, 50, 500, 5000]),
        "--frame-bytes": rnd.choice([150, 400, 900]),
        "--seed": seed,
        "--start": rnd.choice(STARTS),
        "--max-delay": rnd.choice([1, lateness + 1, 20, 120]),
        "--delay-prob": rnd.choice([0.0, 0.05, 0.3]),
        "--flip-prob": rnd.choice([0.0, 0.01, 0.03]),
        "--ts-string-prob": 0.02,
        "--ts-float-prob": 0.02,
        "--malformed-prob": rnd.choice([0.0, 0.02]),
        "--missing-uid-prob": 0.005,
        "--missing-ts-prob": 0.005,
        "--dup-key-prob": 0.005,
        "--bad-type-prob": 0.005,
        "--uid-number-prob": 0.02,
        "--escaped-key-prob": 0.02,
        "--crlf-prob": rnd.choice([0.0, 0.5]),
        "--blank-prob": 0.01,
        "--gap-prob": rnd.choice([0.0, 0.002]),
        "--gap-seconds": rnd.choice([7200, 90000]),
    }
    ms = rnd.random() < 0.2
    if ms:
        gen["--ts-unit"] = "ms"
    policy = "update" if seed % 2 else "drop"
    flags = [
        "--windows", rnd.choice(WINDOW_SETS),
        "--lateness", f"{lateness}s",
        "--late-policy", policy,
        "--retention", rnd.choice(["10m", "1h", "2d"]),
        "--outlier-threshold", rnd.choice(["10m", "1h"]),
        "--outlier-confirm", str(rnd.choice([2, 3, 5])),
        "--partition-time-confirm", str(rnd.choice([1, 3, 3])),
        "--partition-time-step", rnd.choice(["0s", "5s", "30s"]),
        "--max-frame-bytes", str(rnd.choice([1 << 20, 700])),
        "--ts-unit", "ms" if ms else "s",
    ]
    if rnd.random() < 0.15:
        flags.append("--no-early-results")
    # Engine only: the parse stage must not change a single byte of output.
    threads = ["--parse-threads", rnd.choice(["-1", "0", "1", "3"])]
    return gen, flags, threads


def results(text):
    out = []
    for line in text.splitlines():
        r = json.loads(line)
        out.append((r["window"], r["start_ts"], r["end_ts"], r["start"], r["end"], r["unique_users"],
                    r["frames"], r["final"], r["revision"]))
    return out


def count_lines(path, max_frame_bytes):
    """(lines, blank) of a file per SEMANTICS §1: one \r before \n is the line
    end; size first; blank = empty or only JSON whitespace."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    blank = 0
    for line in lines:
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) <= max_frame_bytes and line.strip(b" \t\r") == b"":
            blank += 1
    return len(lines), blank


def accounting(frames_path, flags, eng_stderr, orc_stderr, n_rejects):
    """Problems with 'every non-blank line accounted for'."""
    max_frame = int(flags[flags.index("--max-frame-bytes") + 1])
    lines, blank = count_lines(frames_path, max_frame)
    m = None
    for m in SUMMARY_RE.finditer(eng_stderr):
        pass
    if m is None:
        return [f"no summary line on uniqd's stderr: {eng_stderr[-500:]}"]
    frames, accepted, rejected, eng_blank = (int(g) for g in m.groups())
    problems = []
    if frames != accepted + rejected:
        problems.append(f"uniqd: {frames} frames but {accepted} accepted + {rejected} rejected")
    if (frames, eng_blank) != (lines - blank, blank):
        problems.append(f"uniqd counted {frames} frames and {eng_blank} blank lines; the file has {lines} lines, "
                        f"{blank} blank")
    if n_rejects != rejected:
        problems.append(f"uniqd's summary says {rejected} rejected, its rejects file holds {n_rejects}")
    o = ORACLE_LINES_RE.search(orc_stderr)
    if o is None or (int(o.group(1)), int(o.group(2))) != (lines, blank):
        problems.append(f"the oracle's line count {o.groups() if o else None}, the file's ({lines}, {blank})")
    return problems


def rejects(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            out.append((r["line"], r["reason"]))
    return out


def run_case(build, seed, work):
    gen, flags, threads = case(seed)
    frames = os.path.join(work, f"frames-{seed}.jsonl")
    gen_cmd = [os.path.join(build, "uniqd-gen"), "--output", frames] + [str(x) for kv in gen.items() for x in kv]
    subprocess.run(gen_cmd, check=True, stderr=subprocess.DEVNULL)
    eng_rej = os.path.join(work, f"engine-rejects-{seed}.jsonl")
    orc_rej = os.path.join(work, f"oracle-rejects-{seed}.jsonl")
    eng = subprocess.run([os.path.join(build, "uniqd"), "--input", frames, "--rejects", eng_rej, "--no-progress"] + flags
                         + threads,
                         capture_output=True, text=True, timeout=300)
    orc = subprocess.run([os.path.join(build, "uniqd-oracle"), "--input", frames, "--rejects", orc_rej] + flags,
                         capture_output=True, text=True, timeout=300)
    repro = " ".join(gen_cmd) + f"\n  then: uniqd --input {frames} " + " ".join(flags + threads)
    problems = []
    if eng.returncode != 0:
        problems.append(f"uniqd exited {eng.returncode}: {eng.stderr[-2000:]}")
    if orc.returncode != 0:
        problems.append(f"oracle exited {orc.returncode}: {orc.stderr[-2000:]}")
    if problems:
        return problems, repro, 0, 0
    ef, of = results(eng.stdout), results(orc.stdout)
    if ef != of:
        for i, (a, b) in enumerate(zip(ef, of)):
            if a != b:
                problems.append(f"result #{i} differs:\n  engine {a}\n  oracle {b}")
                break
        if len(ef) != len(of):
            problems.append(f"engine emitted {len(ef)} results, oracle {len(of)}")
    er, orr = rejects(eng_rej), rejects(orc_rej)
    if er != orr:
        es, os_ = set(er), set(orr)
        problems.append(f"rejects differ: engine-only {sorted(es - os_)[:5]}, oracle-only {sorted(os_ - es)[:5]}")
    problems += accounting(frames, flags, eng.stderr, orc.stderr, len(er))
    n_final = sum(1 for r in ef if r[7])
    n_early = len(ef) - n_final
    if not n_final:
        problems.append("no final result at all: the case tests nothing")
    if n_early and "--no-early-results" in flags:
        problems.append(f"{n_early} early results with --no-early-results")
    return problems, repro, n_final, n_early


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--cases", type=int, default=50)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--keep")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="uniqd-diff-")
    os.makedirs(work, exist_ok=True)
    failures = 0
    total_finals = total_early = 0
    for seed in range(args.first, args.first + args.cases):
        problems, repro, n, early = run_case(args.build, seed, work)
        total_finals += n
        total_early += early
        if problems:
            failures += 1
            print(f"case {seed}: FAILED\n  " + "\n  ".join(problems) + f"\n  reproduce: {repro}")
        else:
            print(f"case {seed}: ok ({n} final, {early} early results)")
    if total_early == 0 and args.cases >= 10:
        failures += 1
        print("FAILED: no early result in any case: early results are compared nowhere")
    print(f"{args.cases - failures} passed, {failures} failed ({total_finals} final, {total_early} early results "
          f"compared)")
    if not args.keep and failures == 0:
        subprocess.run(["rm", "-rf", work])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
