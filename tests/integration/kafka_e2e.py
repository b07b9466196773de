#!/usr/bin/env python3
"""uniqd against a real Kafka broker, end to end, held to the oracle.

usage: kafka_e2e.py --uniqd U --gen G --oracle O [--keep DIR] CASE...
CASE: single | partitions | broker_restart | latency | offset_reset | broker_down_at_start | all

Needs UNIQD_TEST_BROKERS and UNIQD_TEST_BROKER_DIR (tests/integration/with_broker.sh
sets them); exits 77 (skipped) without them, 1 with a message on any mismatch.

  single          one input partition, every fault uniqd-gen can inject (bit flips, digit-string
                  and float ts, 14 kinds of malformed JSON, missing uid/ts, duplicate keys, bad
                  types, escaped keys, CRLF, blank lines, gaps, delays past lateness, oversized
                  frames). uniqd --until-end, three settings (drop with all windows; drop with
                  minute only, so late frames are dead letters; update with revisions). The
                  output topic's final results, revision by revision, equal the oracle's on the
                  same lines; the dead-letter topic holds exactly the frames uniqd rejects in
                  file mode, with the same reason, at the same offset (= line - 1), with the
                  input's bytes (the first KiB, uniqd.truncated and uniqd.bytes for too_large).
  partitions      four input partitions, keyed by uid and unkeyed (round robin): results equal
                  the oracle's on the whole file (see INTERLEAVING below for why they must);
                  dead letters = file-mode rejects as a multiset of (reason, bytes).
  broker_restart  uniqd runs live (no --until-end) on a third of a stream; the broker is
                  restarted under it (SIGTERM), the next third is produced and read; the broker
                  crashes (SIGKILL) and restarts, the last third is produced and read; uniqd is
                  stopped (SIGTERM) and a second uniqd --until-end of the same group finishes.
                  uniqd must survive both (exit 0) and publish after each; every oracle window
                  is in the output with the oracle's counts; duplicates (at-least-once) must
                  agree; dead letters, deduplicated by (partition, offset), are exactly the
                  file-mode rejects. --restarts graceful,crash picks the sequence.
  latency         uniqd live while the frames are produced; prints its "results readable on
                  ... ms on average" line (reported, not judged beyond being there).
  broker_down_at_start
                  uniqd --until-end (--log-format json) starts while the broker is stopped: it
                  must keep retrying and say the broker is down; the broker starts 6 s later; uniqd must finish
                  (exit 0) with the oracle's final results, every stderr line JSON.
  offset_reset    exactly_once only: two --until-end runs over growing input say nothing of a
                  reset (the second logs the state store's input offsets); after the group's
                  offsets are reset to the earliest (kafka-consumer-groups), a third warns once
                  per partition that it reads from offset 0 while the state counts up to the
                  end of what was produced.

Every uniqd run's latency line is printed too. By hand:

  tests/integration/with_broker.sh python3 tests/integration/kafka_e2e.py \
      --uniqd build/uniqd --gen build/uniqd-gen --oracle build/uniqd-oracle --keep /tmp/e2e all
"""
import argparse
import collections
import json
import os
import re
import shutil
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_util as ku  # noqa: E402
from kafka_util import check, fail, log  # noqa: E402

START = 1468244340  # 2016-07-11T13:39:00Z, the challenge's data

# ---------------------------------------------------------------- case a: single partition

GEN_SINGLE = {
    "--count": 30000, "--rate": 50, "--users": 3000, "--frame-bytes": 300, "--seed": 11, "--start": START,
    "--max-delay": 20, "--delay-prob": 0.05,            # delays up to 4x the lateness: late frames
    "--flip-prob": 0.003,                              # bit flips: outliers, future, bad_ts, small jumps
    "--gap-prob": 0.0003, "--gap-seconds": 7200,       # real jumps the partition must follow
    "--ts-string-prob": 0.02, "--ts-float-prob": 0.02,
    "--malformed-prob": 0.01, "--missing-uid-prob": 0.003, "--missing-ts-prob": 0.003,
    "--dup-key-prob": 0.003, "--bad-type-prob": 0.003, "--uid-number-prob": 0.02,
    "--escaped-key-prob": 0.02, "--escaped-uid-prob": 0.02, "--crlf-prob": 0.1, "--blank-prob": 0.005,
}

# (tag, flags shared by uniqd and the oracle); --max-frame-bytes is added per stream.
SINGLE_VARIANTS = [
    ("drop-all", ["--late-policy", "drop"]),
    ("drop-minute", ["--late-policy", "drop", "--windows", "minute"]),
    ("update-minute", ["--late-policy", "update", "--windows", "minute", "--retention", "8s"]),
]

# ---------------------------------------------------------------- case b: four partitions
#
# INTERLEAVING. With several input partitions the order in which uniqd reads
# them is up to the broker and the consumer, and the oracle reads the file in
# line order as one partition. The results are still the same when no frame
# can ever be late and no frame can be an outlier, whatever the interleaving:
#
#   Let e(f) be frame f's undelayed event time: nondecreasing in line order.
#   uniqd-gen writes ts(f) = e(f) - d with 0 <= d <= max_delay D (no flips, no
#   gaps here). Partition q's time ptime_q is at most the largest accepted ts
#   of q (SEMANTICS.md §3: it is some accepted ts), and every frame of q read
#   before f has a
#   smaller line number and ts <= e, so ptime_q <= e(f) when f arrives. The watermark is
#   W = min over busy partitions of ptime - lateness L <= ptime_q - L (f's own
#   partition is busy: a frame makes its partition busy, and --idle-timeout 10m
#   keeps a partition from going idle while the others run; a partition not
#   read yet holds W back, SEMANTICS.md §4 / engine.h). A frame is late for
#   window w only when w.end <= W, but w.end > ts(f) >= e(f) - D >= W + L - D,
#   so with D <= L no frame is ever late for any window, in any interleaving,
#   and also not in the oracle's line order (the same argument with one
#   partition). Outliers: the first K frames of a partition confirm each
#   other (they are seconds apart), later ones are within D + (event time
#   spanned by K consecutive frames of one partition, well under a second at
#   these rates) of ptime_q, far below outlier_threshold (1 h); with no flips
#   and no gaps nothing is ever a suspect for long. Future: 2016 timestamps.
#   The remaining rejects (too_large ... bad_ts) depend on the frame alone.
#   So every frame is counted in every window in every run: the same finals.
#   Here D = 5 s = L (uniqd-gen's delays are 1..D s).
GEN_PARTITIONS = {
    "--count": 40000, "--rate": 100, "--users": 5000, "--frame-bytes": 300, "--seed": 23, "--start": START,
    "--max-delay": 5, "--delay-prob": 0.1,
    "--ts-string-prob": 0.02, "--ts-float-prob": 0.02, "--malformed-prob": 0.005,
    "--missing-uid-prob": 0.003, "--missing-ts-prob": 0.003, "--dup-key-prob": 0.003, "--bad-type-prob": 0.003,
    "--uid-number-prob": 0.02, "--escaped-key-prob": 0.02, "--escaped-uid-prob": 0.02,
    "--crlf-prob": 0.1, "--blank-prob": 0.005,
}
PARTITION_FLAGS = ["--lateness", "5s", "--late-policy", "drop"]
KAFKA_FLAGS = ["--idle-timeout", "10m", "--commit-interval", "500ms"]

# ---------------------------------------------------------------- case c: broker restart
# Parts of one stream: the same options, each part starting where the previous
# one's event time ends (same seed: the same users come back).
# Four partitions keyed by uid, under the INTERLEAVING argument above.
RESTART_PART = 100000
RESTART_RATE = 500
GEN_RESTART = dict(GEN_PARTITIONS, **{"--count": RESTART_PART, "--rate": RESTART_RATE, "--users": 20000,
                                      "--seed": 31, "--blank-prob": 0.002})
RESTART_FLAGS = PARTITION_FLAGS

# Preferably a limit some ordinary frames exceed (uniqd-gen's sizes spread around
# --frame-bytes); else one above them all, so that only the "too deep" malformed kind
# (over 1 KiB: truncated dead letters) is too_large. Long streams with many CRLF lines
# leave no free size below 500.
MFB_CANDIDATES = list(range(480, 380, -1)) + list(range(1000, 600, -1))

ALL_CASES = ["single", "partitions", "broker_restart", "latency", "offset_reset", "broker_down_at_start", "big_frames"]


# ---------------------------------------------------------------- shared steps


def pick_max_frame_bytes(lines, candidates):
    """A Kafka frame is the whole message value, so a CRLF line's \\r counts towards its size
    there but not in a file (SEMANTICS.md §1). Pick a limit no CRLF line sits on."""
    for m in candidates:
        if not any(len(l) == m + 1 and l.endswith(b"\r") for l in lines):
            return m
    fail(f"every --max-frame-bytes candidate {candidates} hits a CRLF line of exactly limit+1 bytes; change a seed")


def latency_note(tag, run):
    lat = run.latency
    if lat is None:
        log(f"  latency [{tag}]: no 'results readable on' line in uniqd's log")
    else:
        log(f"  latency [{tag}]: results readable on {lat['topic']} {lat['avg_ms']:.1f} ms on average "
            f"(max {lat['max_ms']:.1f} ms, {lat['results']} results) after the watermark passed their end")
    return lat


def expect_rc0(run, what):
    if run.returncode != 0:
        fail(f"{what} exited {run.returncode}:\n{ku.tail(run.stderr)}")


def reason_counts(items):
    return dict(sorted(collections.Counter(items).items()))


def order_free_rejects(env, frames, flags, tag):
    """File mode's rejects of frames; none of them may depend on the order frames arrive in
    (late, outlier, future), or Kafka's interleaving of partitions could change them."""
    rej_path = env.path(f"{tag}.rejects.jsonl")
    env.uniqd_file(frames, flags, rejects=rej_path)
    file_rej = ku.read_rejects_file(rej_path)
    if not file_rej:
        fail("file mode rejects nothing: the dead-letter comparison would test nothing")
    order_dependent = {r["reason"] for r in file_rej} & {"late", "outlier", "future"}
    if order_dependent:
        fail(f"the INTERLEAVING premise does not hold: file mode rejects {sorted(order_dependent)}")
    return file_rej


def check_dead_letters(env, names, frames, flags, lines, tag):
    """Under the INTERLEAVING argument: the dead-letter topic holds each frame file mode
    rejects, once per (partition, offset), with the same reason and bytes."""
    file_rej = order_free_rejects(env, frames, flags, tag)
    inputs = ku.input_messages(env.read_topic(names.input))
    dls = ku.dead_letters(env.read_topic(names.dead_letter))
    problems = ku.check_dead_letter_bytes(dls, inputs, names.input)
    unique = {}
    for d in dls:
        prev = unique.setdefault((d.partition, d.offset), d.reason)
        if prev != d.reason:
            problems.append(f"{d.partition}/{d.offset} dead-lettered as {prev} and as {d.reason}")
    got_dl = collections.Counter((reason, inputs.get(po)) for po, reason in unique.items())
    want_dl = collections.Counter((r["reason"], lines[r["line"] - 1]) for r in file_rej)
    if got_dl != want_dl:
        problems.append(f"dead letters (by partition/offset) differ from file-mode rejects: Kafka "
                        f"{reason_counts(r for r, _ in got_dl.elements())}, file {reason_counts(r for r, _ in want_dl.elements())}")
    check(problems, f"{len(unique)} distinct dead letters ({len(dls) - len(unique)} repeated) = file-mode rejects: "
                    f"{reason_counts(unique.values())}")
    return dls, unique


class Case:
    def __init__(self, env: ku.Env, guarantee):
        self.env = env
        self.guarantee = guarantee  # passed when uniqd knows --guarantee

    def kafka_flags(self):
        flags = list(KAFKA_FLAGS)
        flags += ["--state-dir", self.env.path("state")]
        return flags

    def uniqd_until_end(self, names, flags, tag):
        run = self.env.uniqd_kafka(names, flags + self.kafka_flags(), until_end=True, guarantee=self.guarantee,
                                   timeout=300, check=False)
        expect_rc0(run, f"uniqd --kafka --until-end [{tag}]")
        log(f"  uniqd --until-end [{tag}]: {run.seconds:.1f} s")
        latency_note(tag, run)
        return run


# ---------------------------------------------------------------- a. single partition


def case_single(c: Case):
    env = c.env
    names = env.names("single")
    frames = env.path("single.jsonl")
    env.gen_file(frames, GEN_SINGLE)
    lines = ku.raw_lines(frames)
    per_part = env.gen_kafka(names.input, GEN_SINGLE, partitions=1, key="uid")
    if per_part != [len(lines)]:
        fail(f"uniqd-gen --kafka produced {per_part} messages, the file has {len(lines)} lines")
    inputs = ku.input_messages(env.read_topic(names.input))
    # The premise of the comparison: message i of partition 0 is line i + 1, byte for byte.
    bad = [i for i, l in enumerate(lines) if inputs.get((0, i)) != l]
    if bad or len(inputs) != len(lines):
        fail(f"the input topic is not the file line for line (first differing line {bad[:1]}, "
             f"{len(inputs)} messages for {len(lines)} lines)")
    log(f"  {len(lines)} lines produced to {names.input}[0] and read back identical")
    mfb = pick_max_frame_bytes(lines, MFB_CANDIDATES)
    too_large_cut = sum(1 for l in lines if len(l) > ku.TRUNCATE_KEEP)

    for tag, variant in SINGLE_VARIANTS:
        log(f"- variant {tag}: {' '.join(variant)} --max-frame-bytes {mfb}")
        flags = variant + ["--max-frame-bytes", str(mfb)]
        n = names.derived(tag)
        c.uniqd_until_end(n, flags, tag)
        want = ku.final_results_from_lines(env.oracle(frames, flags))
        got = ku.final_results(env.read_topic(n.output))
        if not want.latest:
            fail(f"[{tag}] the oracle has no final result: the case tests nothing")
        # One partition, read in order: the very same sequence of decisions as the
        # oracle's, so every revision of every window (its users; a late revision's
        # frames are its shard's, docs/SCALE_OUT.md), and no duplicates.
        check(ku.compare_finals(got, want, history=True, revision_frames=False), f"[{tag}] {len(got.latest)} final windows "
              f"({sum(len(h) for h in got.history.values())} final results, {got.early} early) equal the oracle's")
        revisions = sum(1 for h in got.history.values() for (rev, _, _) in h if rev > 0)
        if tag.startswith("update") and revisions == 0:
            fail(f"[{tag}] no revision > 0: late_policy update is not exercised")

        rej_path = env.path(f"single-{tag}.rejects.jsonl")
        file_results = env.uniqd_file(frames, flags, rejects=rej_path)
        check(ku.compare_finals(ku.final_results_from_lines(file_results), want, history=True),
              f"[{tag}] uniqd file mode agrees with the oracle (sanity)")
        file_rej = ku.read_rejects_file(rej_path)
        dls = ku.dead_letters(env.read_topic(n.dead_letter))
        want_set = collections.Counter((0, r["line"] - 1, r["reason"]) for r in file_rej)
        got_set = collections.Counter((d.partition, d.offset, d.reason) for d in dls)
        problems = []
        if got_set != want_set:
            only_got = sorted((got_set - want_set).elements())[:8]
            only_want = sorted((want_set - got_set).elements())[:8]
            problems.append(f"dead letters (partition, offset, reason) differ from file-mode rejects (line - 1): "
                            f"only in Kafka {only_got}, only in the file {only_want}")
        problems += ku.check_dead_letter_bytes(dls, inputs, names.input)
        by_reason = reason_counts(d.reason for d in dls)
        check(problems, f"[{tag}] {len(dls)} dead letters = file-mode rejects, per offset and reason, "
                        f"bytes and headers: {by_reason}")
        truncated = sum(1 for d in dls if d.truncated)
        if truncated != too_large_cut:
            fail(f"[{tag}] {truncated} dead letters marked truncated, {too_large_cut} input lines exceed 1 KiB")
        want_reasons = {"too_large", "malformed_json", "duplicate_key", "missing_uid", "missing_ts",
                        "bad_uid_type", "bad_ts", "future", "outlier"}
        if tag != "drop-all":
            want_reasons.add("late")
        missing = want_reasons - set(by_reason)
        if missing:
            fail(f"[{tag}] the stream exercises no {sorted(missing)} reject: make it nastier")


# ---------------------------------------------------------------- b. four partitions


def case_partitions(c: Case):
    env = c.env
    frames = env.path("partitions.jsonl")
    env.gen_file(frames, GEN_PARTITIONS)
    lines = ku.raw_lines(frames)
    mfb = pick_max_frame_bytes(lines, MFB_CANDIDATES)
    flags = PARTITION_FLAGS + ["--max-frame-bytes", str(mfb)]
    want = ku.final_results_from_lines(env.oracle(frames, flags))
    if len(want.latest) < 5:
        fail(f"the oracle has {len(want.latest)} final windows: the comparison would test little")
    file_rej = order_free_rejects(env, frames, flags, "partitions")
    want_dl = collections.Counter((r["reason"], lines[r["line"] - 1]) for r in file_rej)
    for key in ("uid", "none"):
        log(f"- 4 partitions, --key {key}")
        names = env.names(f"parts-{key}")
        per_part = env.gen_kafka(names.input, GEN_PARTITIONS, partitions=4, key=key)
        if sum(per_part) != len(lines) or min(per_part) == 0:
            fail(f"uniqd-gen --kafka spread {len(lines)} lines as {per_part}")
        log(f"  produced {per_part} to {names.input}")
        # Parse threads (the default on 2+ cores) with one key, inline with the other.
        threads = ["--parse-threads", "-1"] if key == "none" else ["--parse-threads", "2"]
        c.uniqd_until_end(names, flags + threads, f"key {key}, {' '.join(threads)}")
        got = ku.final_results(env.read_topic(names.output))
        check(ku.compare_finals(got, want), f"[key {key}] {len(got.latest)} final windows equal the oracle's "
                                            f"(unique_users, frames, revision), no duplicates")
        inputs = ku.input_messages(env.read_topic(names.input))
        dls = ku.dead_letters(env.read_topic(names.dead_letter))
        problems = ku.check_dead_letter_bytes(dls, inputs, names.input)
        got_dl = collections.Counter((d.reason, inputs.get((d.partition, d.offset))) for d in dls)
        if got_dl != want_dl:
            problems.append(f"dead letters differ from file-mode rejects as (reason, bytes): Kafka has "
                            f"{reason_counts(r for r, _ in got_dl.elements())}, file {reason_counts(r for r, _ in want_dl.elements())}; "
                            f"{sum((got_dl - want_dl).values())} only in Kafka, {sum((want_dl - got_dl).values())} only in the file")
        check(problems, f"[key {key}] {len(dls)} dead letters = file-mode rejects: "
                        f"{reason_counts(d.reason for d in dls)}")


# ---------------------------------------------------------------- c. broker restart


def case_broker_restart(c: Case, restarts: list):
    env = c.env
    names = env.names("restart")
    # One part of the stream before the first restart and one after each restart.
    parts, files = [], []
    for i in range(len(restarts) + 1):
        parts.append(dict(GEN_RESTART, **{"--start": START + i * RESTART_PART // RESTART_RATE}))
        files.append(env.path(f"restart-{i}.jsonl"))
        env.gen_file(files[-1], parts[-1])
    frames = env.path("restart.jsonl")
    with open(frames, "wb") as out:
        for f in files:
            with open(f, "rb") as src:
                data = src.read()
                if not data.endswith(b"\n"):
                    fail(f"{f} does not end with a newline: the parts would not concatenate line by line")
                out.write(data)
    lines = ku.raw_lines(frames)
    mfb = pick_max_frame_bytes(lines, MFB_CANDIDATES)
    flags = RESTART_FLAGS + ["--max-frame-bytes", str(mfb)]

    produced = env.gen_kafka(names.input, parts[0], partitions=4, key="uid")
    log(f"  part 1 produced: {produced}")
    a = env.start_uniqd_kafka(names, flags + c.kafka_flags(), "restart-a.log", until_end=False,
                              guarantee=c.guarantee, metrics=True)
    try:
        ku.wait_for(lambda: ku.count_messages(env.brokers, names.output) > 0 or not a.running(), 120,
                    "uniqd's first results")
        port = a.metrics_port()
        if port is None:
            fail(f"uniqd did not log its metrics port:\n{ku.tail(a.stderr())}")
        # The consumer-lag gauge is stale right after a restart (the high watermark is the one
        # last fetched): wait for the consumed bytes to cover every non-blank message instead.
        part_lines = [ku.raw_lines(f) for f in files]
        need = ku.nonblank_bytes(part_lines[0])
        for i, kind in enumerate(restarts):
            ku.wait_for(lambda: ku.consumed_bytes(a, port) >= need, 180,
                        f"uniqd to consume part {i + 1} ({need} bytes of frames so far)", interval=0.5)
            before = ku.count_messages(env.brokers, names.output)
            log(f"  uniqd live read part {i + 1}: {before} results published; "
                f"{'crashing (SIGKILL) and restarting' if kind == 'crash' else 'restarting'} the broker")
            t0 = time.monotonic()
            env.broker("restart", *(["--kill"] if kind == "crash" else []))
            log(f"  broker back in {time.monotonic() - t0:.1f} s")
            if not a.running():
                fail(f"uniqd exited while the broker restarted:\n{ku.tail(a.stderr())}")
            p = env.gen_kafka(names.input, parts[i + 1], partitions=4, key="uid")
            produced = [x + y for x, y in zip(produced, p)]
            log(f"  part {i + 2} produced: {p}")
            need += ku.nonblank_bytes(part_lines[i + 1])
            ku.wait_for(lambda: ku.consumed_bytes(a, port) >= need, 180,
                        f"uniqd to consume part {i + 2} after the {kind} ({need} bytes of frames so far)",
                        interval=0.5)
            # Results reach the output two commits after their frames were read (through
            # the repartition and partials topics, docs/SCALE_OUT.md): wait for them.
            ku.wait_for(lambda: ku.count_messages(env.brokers, names.output) > before, 60,
                        f"a result published after the broker {kind} ({before} before)", interval=0.5)
        log(f"  uniqd read all {sum(produced)} messages; {ku.count_messages(env.brokers, names.output)} results; "
            f"stopping it (SIGTERM)")
        run_a = a.stop()
    finally:
        a.kill()
    expect_rc0(run_a, f"the live uniqd (SIGTERM after broker {' and '.join(restarts)})")
    latency_note("live, across the restarts", run_a)
    c.uniqd_until_end(names, flags, "second run, --until-end")

    want = ku.final_results_from_lines(env.oracle(frames, flags))
    got = ku.final_results(env.read_topic(names.output))
    check(ku.compare_finals(got, want, allow_duplicates=True),
          f"{len(got.latest)} final windows equal the oracle's ({len(got.duplicates)} duplicates, all equal)")

    check_dead_letters(env, names, frames, flags, lines, "restart")


# ---------------------------------------------------------------- d. latency


def idle_commits_settle(a, port):
    """exactly_once with nothing new to read: the transactions must stop (an
    empty one every commit_interval, 1 s, would never let the count rest)."""
    key = 'uniqd_transactions_total{outcome="committed"}'
    deadline = time.monotonic() + 60
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        if not a.running():
            fail("uniqd exited while idle")
        n = ku.scrape_metrics(port).get(key)
        if n is None:
            fail(f"no {key} in /metrics")
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= 4.5:
            log(f"  idle: {key} = {n:.0f}, unchanged for 4.5 s (no empty transactions)")
            return
        time.sleep(0.5)
    fail(f"{key} kept growing while uniqd had nothing new to read (last {last})")


def case_latency(c: Case):
    env = c.env
    names = env.names("latency")
    gen = dict(GEN_PARTITIONS, **{"--count": 20000, "--rate": 40, "--seed": 41})
    frames = env.path("latency.jsonl")
    env.gen_file(frames, gen)
    a = env.start_uniqd_kafka(names, PARTITION_FLAGS + c.kafka_flags(), "latency.log", until_end=False,
                              guarantee=c.guarantee, metrics=True)
    try:
        ku.wait_for(lambda: "assigned" in a.stderr() or not a.running(), 60, "uniqd to be assigned its partitions")
        per_part = env.gen_kafka(names.input, gen, partitions=4, key="uid")
        port = a.metrics_port()

        need = ku.nonblank_bytes(ku.raw_lines(frames))
        ku.wait_for(lambda: ku.consumed_bytes(a, port) >= need, 120, f"uniqd to consume {need} bytes of frames",
                    interval=0.5)
        # Results follow their frames by two commits (repartition, then partials:
        # docs/SCALE_OUT.md): wait for the first ones before stopping.
        ku.wait_for(lambda: ku.count_messages(env.brokers, names.output) > 0 or not a.running(), 60,
                    "uniqd's first results")
        if c.guarantee == "exactly_once":
            idle_commits_settle(a, port)
        run = a.stop()
    finally:
        a.kill()
    expect_rc0(run, "uniqd (live, SIGTERM)")
    lat = latency_note(f"live, {sum(per_part)} frames", run)
    if lat is None or lat["results"] == 0:
        fail("uniqd published no result while live, or did not report their latency")


# ---------------------------------------------------------------- e. consumer group offsets reset


def case_offset_reset(c: Case):
    """exactly_once: the state store's checkpoint holds the input offsets of
    its commit. A restart that resumes where the state ends says nothing; one
    whose group offsets were reset behind the state warns, per partition,
    naming the offsets (what lies between is processed again)."""
    if c.guarantee != "exactly_once":
        log("  exactly_once only (the state store holds the checkpoint): skipped")
        return
    env = c.env
    names = env.names("reset")
    warning = re.compile(r"(\S+)\[(\d+)\]: reading from offset (\d+), but the state store already counts this "
                         r"partition's input up to offset (\d+)")
    first = dict(GEN_PARTITIONS, **{"--count": 6000, "--seed": 51})
    per_part = env.gen_kafka(names.input, first, partitions=2, key="uid")
    run = c.uniqd_until_end(names, PARTITION_FLAGS, "reset-1")
    if warning.search(run.stderr):
        fail(f"a first run warned of a reset:\n{ku.tail(run.stderr)}")
    # More input, a plain restart: it resumes exactly where the state ends.
    more = dict(first, **{"--seed": 52, "--start": START + 86400})
    added = env.gen_kafka(names.input, more, partitions=2, key="uid")
    run = c.uniqd_until_end(names, PARTITION_FLAGS, "reset-2")
    if warning.search(run.stderr):
        fail(f"a restart at the committed offsets warned of a reset:\n{ku.tail(run.stderr)}")
    if "state store checkpoint: input offsets" not in run.stderr:
        fail(f"the restart did not log the checkpoint's input offsets:\n{ku.tail(run.stderr)}")
    ku.run([env.kafka, "groups", "--dir", env.broker_dir, "--reset-offsets", "--to-earliest", "--group",
            names.app_id, "--topic", names.input, "--execute"], 120, "scripts/kafka groups --reset-offsets")
    run = c.uniqd_until_end(names, PARTITION_FLAGS, "reset-3")
    got = {int(m.group(2)): (m.group(1), int(m.group(3)), int(m.group(4))) for m in warning.finditer(run.stderr)}
    want = {p: (names.input, 0, per_part[p] + added[p]) for p in range(2) if per_part[p] + added[p] > 0}
    check([] if got == want else [f"warnings {got}, expected {want}"],
          f"after the reset: one warning per partition, from offset 0, state up to {want}")


# ---------------------------------------------------------------- f. broker down at start


def case_broker_down_at_start(c: Case):
    """uniqd --until-end started while the broker is down keeps retrying (and
    says so) instead of failing; once the broker is back it does the whole
    job: final results equal the oracle's. With --log-format json, librdkafka's
    own complaints come through uniqd's log too: every stderr line is JSON."""
    env = c.env
    names = env.names("down")
    gen = dict(GEN_PARTITIONS, **{"--count": 8000, "--seed": 61})
    frames = env.path("down.jsonl")
    env.gen_file(frames, gen)
    env.gen_kafka(names.input, gen, partitions=2, key="uid")
    want = ku.final_results_from_lines(env.oracle(frames, PARTITION_FLAGS))
    env.broker("stop")
    a = env.start_uniqd_kafka(names, PARTITION_FLAGS + c.kafka_flags() + ["--log-format", "json"], "down.log",
                              until_end=True, guarantee=c.guarantee)
    try:
        time.sleep(6)
        if not a.running():
            fail(f"uniqd gave up while the broker was down:\n{ku.tail(a.stderr())}")
        if "brokers are down" not in a.stderr() and "retrying in" not in a.stderr():
            fail(f"uniqd did not say the broker is down:\n{ku.tail(a.stderr())}")
        log("  broker down for 6 s: uniqd waits and retries; starting the broker")
        env.broker("start")
        run = a.wait(300)
    finally:
        a.kill()
    expect_rc0(run, "uniqd --until-end started with the broker down")
    not_json = []
    for line in run.stderr.splitlines():
        try:
            json.loads(line)
        except ValueError:
            not_json.append(line)
    check([f"{len(not_json)} stderr lines are not JSON, e.g. {not_json[:2]}"] if not_json else [],
          f"{len(run.stderr.splitlines())} stderr lines, all JSON (librdkafka's included)")
    got = ku.final_results(env.read_topic(names.output))
    check(ku.compare_finals(got, want, allow_duplicates=c.guarantee != "exactly_once"),
          f"{len(got.latest)} final windows equal the oracle's")


# ---------------------------------------------------------------- main


# ---------------------------------------------------------------- g. frames near max_frame_bytes


def case_big_frames(c: Case):
    """Frames of about 1 MB, under the default max_frame_bytes (1 MiB): a valid frame half an
    hour back, whose repartition entry carries its bytes (it may be late), and one without uid,
    whose dead letter carries it. librdkafka's default message.max.bytes (1,000,000) once
    refused both records: silently under exactly_once (the transaction committed without
    them), with status 1 under at_least_once."""
    env = c.env
    names = env.names("big")
    env.create_topic(names.input, 1)
    base = 1468244340
    pad = "x" * 1_040_000
    lines = [json.dumps({"uid": f"u{i}", "ts": base + 3600 + i}) for i in range(100)]
    lines.append(json.dumps({"uid": "big-old", "ts": base + 1900, "pad": pad}))
    lines.append(json.dumps({"ts": base + 3700, "pad": pad}))  # missing_uid: a 1 MB dead letter
    lines += [json.dumps({"uid": f"v{i}", "ts": base + 3710 + i}) for i in range(100)]
    frames = env.path("big.jsonl")
    with open(frames, "w") as f:
        f.write("\n".join(lines) + "\n")
    ku.run(["kcat", *ku.KCAT_ARGS, "-b", env.brokers, "-P", "-t", names.input, "-p", "0",
            "-X", "message.max.bytes=1100000", "-X", "batch.size=100000", "-l", frames], 60, "kcat -P (1 MB frames)")
    inputs = ku.input_messages(env.read_topic(names.input))
    if len(inputs) != len(lines) or max(len(v) for v in inputs.values()) < 1_000_000:
        fail(f"the input topic holds {len(inputs)} messages (want {len(lines)}), the largest "
             f"{max((len(v) for v in inputs.values()), default=0)} bytes")
    c.uniqd_until_end(names, [], "big")
    want = ku.final_results_from_lines(env.oracle(frames, []))
    got = ku.final_results(env.read_topic(names.output))
    if not any(w.get("unique_users", 0) > 0 for w in want.latest.values()):
        fail("the oracle has no final result: the case tests nothing")
    check(ku.compare_finals(got, want, history=True, revision_frames=False),
          f"{len(got.latest)} final windows equal the oracle's (with the 1 MB frame counted where it counts)")
    rej_path = env.path("big.rejects.jsonl")
    env.uniqd_file(frames, [], rejects=rej_path)
    file_rej = ku.read_rejects_file(rej_path)
    dls = ku.dead_letters(env.read_topic(names.dead_letter))
    problems = ku.check_dead_letter_bytes(dls, inputs, names.input)
    got_set = collections.Counter((d.offset, d.reason) for d in dls)
    want_set = collections.Counter((r["line"] - 1, r["reason"]) for r in file_rej)
    if got_set != want_set:
        problems.append(f"dead letters (offset, reason) {sorted(got_set.elements())} differ from file mode's "
                        f"{sorted(want_set.elements())}")
    if not any(d.reason == "missing_uid" and len(inputs.get((d.partition, d.offset), b"")) > 1_000_000 for d in dls):
        problems.append("no 1 MB missing_uid dead letter")
    check(problems, f"{len(dls)} dead letters = file-mode rejects, the 1 MB one whole: {reason_counts(d.reason for d in dls)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uniqd", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--guarantee", default="at_least_once",
                    help="passed to uniqd when it has the flag (default at_least_once)")
    ap.add_argument("--restarts", default="graceful,crash",
                    help="broker_restart: the broker restarts in order, graceful (SIGTERM) or crash (SIGKILL); "
                         "default graceful,crash")
    ap.add_argument("--keep", help="keep work files in this directory")
    ap.add_argument("cases", nargs="+", choices=ALL_CASES + ["all"])
    args = ap.parse_args()
    cases = ALL_CASES if "all" in args.cases else args.cases
    restarts = [r for r in args.restarts.split(",") if r]
    if not restarts or set(restarts) - {"graceful", "crash"}:
        ap.error("--restarts: a comma-separated list of graceful and crash")
    env = ku.Env.from_environment(args.uniqd, args.gen, args.oracle, keep=args.keep)
    # The flags these cases rely on: a uniqd without them fails here rather
    # than running a different test.
    for flag in ("--state-dir", "--guarantee", "--until-end", "--metrics-address", "--idle-timeout"):
        if not env.uniqd_has_flag(flag):
            fail(f"uniqd --help does not list {flag}: this test needs it")
    c = Case(env, args.guarantee)
    env.read_committed_default = args.guarantee == "exactly_once"
    failed = []
    for name in cases:
        t0 = time.monotonic()
        log(f"== {name}")
        try:
            if name == "single":
                case_single(c)
            elif name == "partitions":
                case_partitions(c)
            elif name == "broker_restart":
                case_broker_restart(c, restarts)
            elif name == "latency":
                case_latency(c)
            elif name == "offset_reset":
                case_offset_reset(c)
            elif name == "broker_down_at_start":
                case_broker_down_at_start(c)
            elif name == "big_frames":
                case_big_frames(c)
            log(f"== {name}: passed ({time.monotonic() - t0:.1f} s)")
        except ku.TestFailure as e:
            failed.append(name)
            log(f"== {name}: FAILED ({time.monotonic() - t0:.1f} s)\n{e}")
    if failed:
        log(f"failed: {' '.join(failed)} (work files kept in {env.work})")
        return 1
    if not args.keep:
        shutil.rmtree(env.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
