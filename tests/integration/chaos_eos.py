#!/usr/bin/env python3
"""Exactly-once under kill -9, against a real broker (DESIGN §4).

A generated stream with faults is produced to a 4-partition topic (keyed by
user). uniqd (processing_guarantee exactly_once) is started and killed with
SIGKILL at random moments, again and again, a third of the restarts with its
state directory wiped (so that it rebuilds from the changelog alone); a last
run with --until-end finishes the topic. The stream arrives in chunks, one
before each run. About one run in seven dies while starting or restoring,
one in seven 0-0.35 s after their partitions are assigned, the others
0-0.6 s after they began to read (frames reach the count tasks a commit after
they were read: a kill must also find them counted but not committed). At least 3 kills must be seen to find
input left to read (uniqd's consumer-lag gauges just
before the kill; a kill before the first gauge is not counted), or the test
fails as one that tested little. Then, reading with isolation level
read_committed:

  * every final window appears exactly once on the output topic, and the
    final results equal the oracle's on the same frames;
  * the dead-letter topic holds each rejected frame exactly once: no
    (partition, offset) twice, and as many per reason as the oracle rejects.

Why the 4-partition interleaving cannot change the answer: the generator
delays frames by at most --max-delay (8 s); a bit flip that moves ts by less
than --outlier-threshold (10 s) is accepted as a normal frame, a larger one
is an isolated suspect, rejected in any interleaving. The test runs with
--partition-time-confirm 3 --partition-time-step 0s: every forward step of a
partition's time needs three frames in a row, and scattered flips never come
three in a row, so they never move it (were a flip 10 s ahead to move it, the
frames after it would fall out of the threshold, and which ones depends on
the reading order). So every accepted ts is at
least 18 s behind the true event time, while the watermark (the minimum over
partitions of partition time minus lateness, 30 s) stays at least 30 s behind
the same time: no frame is ever late, in any order of reading.

With --broker-restart: one uniqd run through a broker restart while a
transaction is open, then the same checks.

Usage: chaos_eos.py --build DIR [--kills 20] [--frames 300000] [--seed 7] [--broker-restart]
Needs UNIQD_TEST_BROKERS (tests/integration/with_broker.sh); exit 77 without.
"""
import argparse
import collections
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77
FLAGS = ["--lateness", "30s", "--outlier-threshold", "10s", "--partition-time-confirm", "3", "--partition-time-step", "0s",
         "--windows", "minute,hour,day,week,month,year"]


def log(msg):
    print(f"chaos: {msg}", file=sys.stderr, flush=True)


def kcat(brokers, topic, fmt):
    out = subprocess.run(["kcat", "-C", "-b", brokers, "-t", topic, "-X", "isolation.level=read_committed",
                          "-e", "-q", "-f", fmt], capture_output=True, timeout=300, check=True)
    return out.stdout.decode("utf-8", "replace")


START_TS = 1468244340  # uniqd-gen's default --start


def wait_while_running(p, done, timeout):
    """Until done() holds, the process exits, or timeout (no failure: the
    caller looks at what happened)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None:
        if done():
            return
        time.sleep(0.02)


def log_holds(path, offset, needle):
    with open(path, "rb") as f:
        f.seek(offset)
        return needle in f.read()


def wait_for_line(p, path, offset, needle, timeout):
    """Until the log (from offset on) holds needle, the process exits, or timeout."""
    wait_while_running(p, lambda: log_holds(path, offset, needle), timeout)


def wait_for_backlog(p, path, offset, timeout):
    """Until uniqd's consumer-lag gauges appear (it has fetched from its
    partitions: reading has begun), the process exits, or timeout."""
    wait_while_running(p, lambda: backlog(path, offset) is not None, timeout)


def scrape(path, offset):
    """The running uniqd's /metrics text (its port from the log from offset on); None when unknown."""
    with open(path, "rb") as f:
        f.seek(offset)
        m = re.search(rb"metrics on http://[^:\s]+:(\d+)/metrics", f.read())
    if not m:
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{int(m.group(1))}/metrics", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def backlog(path, offset):
    """Messages the running uniqd has left to read (sum of its consumer-lag
    gauges of the input and of its internal topics: frames routed to the count
    tasks but not counted yet are work in hand too), from its /metrics; None
    when unknown."""
    text = scrape(path, offset) or ""
    lags = [float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("uniqd_consumer_lag_messages{")]
    internal = [float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith("uniqd_internal_lag_messages ")]
    return int(sum(lags) + sum(internal)) if lags else None


def holds_pairs(path, offset):
    """True once the running uniqd's count tasks hold (window, uid) pairs (uniqd_state_pairs > 0)."""
    text = scrape(path, offset) or ""
    return any(l.startswith("uniqd_state_pairs ") and float(l.rsplit(" ", 1)[1]) > 0 for l in text.splitlines())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--frames", type=int, default=300000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--broker-restart", action="store_true",
                    help="instead of kills: restart the broker while a transaction is open")
    a = ap.parse_args()
    brokers = os.environ.get("UNIQD_TEST_BROKERS")
    if not brokers:
        log("UNIQD_TEST_BROKERS is not set (run through tests/integration/with_broker.sh): skipped")
        return SKIP
    rnd = random.Random(a.seed)
    uniqd = os.path.join(a.build, "uniqd")
    gen_bin = os.path.join(a.build, "uniqd-gen")
    oracle = os.path.join(a.build, "uniqd-oracle")
    work = tempfile.mkdtemp(prefix="uniqd-chaos.")
    tag = f"chaos{os.getpid()}"
    topic, out_topic, dlq, app = f"{tag}-in", f"{tag}-out", f"{tag}-dlq", f"{tag}-app"
    state_dir = os.path.join(work, "state")
    gen = ["--rate", "200", "--users", "20000", "--frame-bytes", "300",
           "--max-delay", "8", "--delay-prob", "0.05", "--flip-prob", "0.002",
           "--malformed-prob", "0.002", "--missing-uid-prob", "0.001", "--ts-string-prob", "0.01",
           "--dup-key-prob", "0.001", "--bad-type-prob", "0.001", "--crlf-prob", "0.05"]
    # Kills: the stream arrives in chunks, one before each run, so that every
    # run has input to read when it is killed, however fast it reads. Chunk k
    # continues chunk k-1's event time; the file for the oracle is the chunks
    # in order, which is each partition's order in the topic.
    chunks = 1 if a.broker_restart else a.kills + 1
    per = a.frames // chunks
    chunk_args = []
    for k in range(chunks):
        count = per if k < chunks - 1 else a.frames - per * (chunks - 1)
        chunk_args.append(gen + ["--count", str(count), "--seed", str(a.seed + k),
                                 "--start", str(START_TS + k * (per // 200))])
    frames = os.path.join(work, "frames.jsonl")
    with open(frames, "wb") as out:
        for args in chunk_args:
            out.write(subprocess.run([gen_bin, "--output", "-"] + args, check=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL).stdout)
    produced = 0

    def produce_chunks(upto):
        nonlocal produced
        while produced < min(upto, chunks):
            subprocess.run([gen_bin, "--kafka", brokers, "--topic", topic, "--partitions", "4", "--key", "uid"]
                           + chunk_args[produced], check=True, stderr=subprocess.DEVNULL, timeout=600)
            produced += 1

    produce_chunks(1)
    log(f"{a.frames} frames for {topic} (4 partitions) in {chunks} chunk(s); work dir {work}")

    orc_rej = os.path.join(work, "oracle-rejects.jsonl")
    orc = subprocess.run([oracle, "--input", frames, "--rejects", orc_rej] + FLAGS, capture_output=True, text=True,
                         timeout=600, check=True)
    expected = {}
    for line in orc.stdout.splitlines():
        r = json.loads(line)
        if r["final"]:
            expected[(r["window"], r["start_ts"])] = (r["unique_users"], r["frames"])
    expected_rejects = collections.Counter()
    with open(orc_rej, encoding="utf-8") as f:
        for line in f:
            expected_rejects[json.loads(line)["reason"]] += 1

    # Static membership: a restarted member takes its partitions back at
    # once instead of waiting for the killed one's session to expire.
    cfg = os.path.join(work, "uniqd.yaml")
    with open(cfg, "w", encoding="utf-8") as f:
        if not a.broker_restart:
            f.write("kafka:\n  consumer:\n    group.instance.id: chaos-member\n    session.timeout.ms: 6000\n")
    base = [uniqd, "--config", cfg, "--kafka", brokers, "--topic", topic, "--output-topic", out_topic,
            "--dead-letter-topic", dlq, "--application-id", app, "--state-dir", state_dir,
            "--guarantee", "exactly_once", "--log-level", "info"] + FLAGS
    # Kills: short transactions, so that kills land between and inside them.
    # Broker restart: long ones, so that the restart lands inside one.
    base += ["--commit-interval", "3s" if a.broker_restart else "200ms"]
    log_path = os.path.join(work, "uniqd.log")
    logs = open(log_path, "ab")
    wipes = 0
    mid_stream = 0
    started = time.monotonic()
    if a.broker_restart:
        # One uniqd through a broker restart: a long commit interval keeps a
        # transaction open while the broker goes away and comes back.
        broker_dir = os.environ.get("UNIQD_TEST_BROKER_DIR")
        if not broker_dir:
            log("UNIQD_TEST_BROKER_DIR is not set: skipped")
            return SKIP
        p = subprocess.Popen(base + ["--until-end"], stdout=logs, stderr=logs)
        # From the assignment on, uniqd reads and its first transaction (3 s)
        # is open: restart the broker a moment later, whatever the speed of
        # the machine (a fixed delay let a fast uniqd finish first).
        wait_for_line(p, log_path, 0, b"[kafka] assigned ", 120)
        time.sleep(rnd.uniform(0.2, 0.8))
        if p.poll() is not None:
            log("uniqd finished before the broker restart: the stream is too short for this machine")
            return 1
        log("restarting the broker with a transaction open")
        subprocess.run([os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "kafka"), "restart",
                        "--dir", broker_dir], check=True, timeout=180, stdout=subprocess.DEVNULL)
        try:
            rc = p.wait(timeout=600)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = -9
        if rc != 0:
            log(f"uniqd exited {rc} after the broker restart; see {work}/uniqd.log")
            return 1
        a.kills = 0
    for i in range(a.kills):
        if i % 3 == 2:
            shutil.rmtree(state_dir, ignore_errors=True)
            wipes += 1
        logs.write(f"\n===== run {i} (wiped: {i % 3 == 2})\n".encode())
        logs.flush()
        # Every other run parses inline: a kill lands with frames out to the
        # parse threads or without.
        produce_chunks(i + 1)
        log_from = os.path.getsize(log_path)
        p = subprocess.Popen(base + ["--parse-threads", "-1" if i % 2 else "2", "--metrics-address", "127.0.0.1:0"],
                             stdout=logs, stderr=logs)
        # A kill must find work in hand, whatever the speed of the machine
        # (a fixed delay after reading began found the chunk read already on
        # a quiet machine, and no count yet on a loaded one): one run in ten
        # dies while starting or restoring; one in ten 0-0.35 s after its
        # partitions are assigned (restoring or reading); half once a random
        # share (5-95 %) of the backlog it first reported is read (input and
        # internal topics: frames routed to the count tasks but not counted
        # yet are work in hand too); the others 0.1-1 s after its count tasks
        # hold pairs, so that counted state is committed before some kills.
        roll = rnd.random()
        if roll < 0.1:
            delay, phase = rnd.uniform(0.0, 0.4), "start-up/restore"
        elif roll < 0.2:
            wait_for_line(p, log_path, log_from, b"[kafka] assigned ", 60)
            delay, phase = rnd.uniform(0.0, 0.35), "assignment"
        elif roll < 0.7:
            wait_for_line(p, log_path, log_from, b"[kafka] assigned ", 60)
            wait_for_backlog(p, log_path, log_from, 60)
            first = backlog(log_path, log_from) or 0
            share = rnd.uniform(0.05, 0.95)
            wait_while_running(p, lambda: (backlog(log_path, log_from) or 0) <= first * (1 - share), 60)
            delay, phase = 0.0, f"reading ({share:.0%} of {first} read)"
        else:
            wait_for_line(p, log_path, log_from, b"[kafka] assigned ", 60)
            wait_while_running(p, lambda: holds_pairs(log_path, log_from), 60)
            delay, phase = rnd.uniform(0.1, 1.0), "counting"
        try:
            rc = p.wait(timeout=delay)
            log(f"run {i}: exited {rc} by itself before the kill")
            if rc != 0:
                log(f"uniqd failed; see {work}/uniqd.log")
                return 1
        except subprocess.TimeoutExpired:
            lag = backlog(log_path, log_from)
            p.send_signal(signal.SIGKILL)
            p.wait()
            if lag is not None and lag > 0:
                mid_stream += 1
            log(f"run {i}: killed {delay:.2f} s into {phase}, {lag if lag is not None else '?'} messages left to read")
        if time.monotonic() - started > 600:
            log("chaos phase bounded at 600 s; finishing")
            break
    produce_chunks(chunks)
    logs.write(b"\n===== final run --until-end\n")
    logs.flush()
    # After a broker restart the run above went to the end already: this one
    # must find nothing left to do and change nothing.
    fin = subprocess.run(base + ["--until-end"], stdout=logs, stderr=logs, timeout=900)
    logs.close()
    if fin.returncode != 0:
        log(f"final run exited {fin.returncode}; see {work}/uniqd.log")
        return 1
    log(f"{a.kills} kill -9 ({wipes} with the state directory wiped, {mid_stream} with input left to read) "
        f"in {time.monotonic() - started:.0f} s")
    if a.kills >= 10 and mid_stream < 3:
        log(f"only {mid_stream} of {a.kills} kills found input left to read: the stream is too short for this "
            "machine, the kills tested little")
        return 1
    # The kills must have hit a task with state: some restarts loaded pairs
    # from RocksDB, some (after a wipe) rebuilt them from the changelog.
    from_db = from_changelog = 0
    with open(os.path.join(work, "uniqd.log"), encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.search(r"restored (\d+) pairs \((\d+) from RocksDB, (\d+) changelog records", line)
            if m:
                log("  " + line.split("[kafka] ", 1)[-1].strip())
                from_db += int(m.group(2)) > 0
                from_changelog += int(m.group(2)) == 0 and int(m.group(1)) > 0

    problems = []
    finals = collections.defaultdict(list)
    for line in kcat(brokers, out_topic, "%s\n").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if r["final"]:
            finals[(r["window"], r["start_ts"])].append((r["unique_users"], r["frames"]))
    dup = {k: v for k, v in finals.items() if len(v) != 1}
    if dup:
        problems.append(f"{len(dup)} final windows published more than once, e.g. {list(dup.items())[:3]}")
    got = {k: v[0] for k, v in finals.items()}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        problems.append(f"final results differ from the oracle: {len(missing)} missing {missing[:3]}, "
                        f"{len(extra)} extra {extra[:3]}, {len(wrong)} wrong "
                        f"{[(k, got[k], expected[k]) for k in wrong[:3]]}")

    seen = collections.Counter()
    reasons = collections.Counter()
    for line in kcat(brokers, dlq, "%h\n").splitlines():
        h = dict(kv.split("=", 1) for kv in line.split(",") if "=" in kv)
        seen[(h.get("uniqd.partition"), h.get("uniqd.offset"))] += 1
        reasons[h.get("uniqd.reason")] += 1
    twice = [k for k, n in seen.items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} rejected frames in the dead-letter topic more than once, e.g. {twice[:3]}")
    if reasons != expected_rejects:
        problems.append(f"dead letters by reason {dict(reasons)} != oracle rejects {dict(expected_rejects)}")
    if a.kills >= 6 and (from_db == 0 or from_changelog == 0):
        problems.append(f"the kills did not exercise recovery: {from_db} restores from RocksDB, "
                        f"{from_changelog} from the changelog alone")
    if not expected or sum(expected_rejects.values()) == 0:
        problems.append("the case tests nothing (no final window or no reject)")
    if problems:
        for p in problems:
            log("FAIL: " + p)
        log(f"work dir kept: {work}")
        return 1
    log(f"ok: {len(got)} final windows exactly once and equal to the oracle; "
        f"{sum(reasons.values())} dead letters exactly once")
    if os.environ.get("UNIQD_CHAOS_KEEP"):
        log(f"work dir kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
