#!/usr/bin/env python3
"""exactly_once: when the rewind after a failed transaction fails itself (issue 14).

A transaction that cannot commit is aborted and every task goes back to the last commit:
state reloaded (each count task's RocksDB store closed and opened again), positions sought
back to the group's offsets (kafka/task_manager.h). When that rewind fails, uniqd must end
with status 1 and a message saying why: no crash, no hang, nothing committed on the way.
A restart must then count every frame exactly once.

uniqd runs live (exactly_once, --commit-interval 3s) on a 4-partition topic, with
kafka.producer transaction.timeout.ms 6000 in a config file: the bound on every retry of a
commit, an abort and a new producer's start. It reads a first part of the stream; then a
small chunk is produced and, as soon as uniqd read some of it (so that the next commit has
something to carry), the fault comes. Should the fault find nothing to commit (a commit
fell in between), it is undone and tried again with the next chunk (3 chunks at most).

  broker_down     the broker is killed (SIGKILL): the commit, the abort and a new
                  producer's start all fail; uniqd must exit 1 within its bounds, saying it
                  cannot start a new producer. The broker is started again.
  state_unusable  the broker is frozen (SIGSTOP) for 12 s: longer than a commit's bound,
                  so the transaction is aborted, and the rewind runs once the broker is
                  back. While it is frozen, every shard directory of the state store is
                  moved aside and a regular file put in its place (uniqd runs as root here,
                  and chmod 000 does not stop root; a file where a directory must be does):
                  the reload cannot open the shards, and uniqd must exit 1 naming them,
                  after an abort. The directories are put back.

Then the last part of the stream is produced, a second uniqd --until-end of the same
group finishes it, and (read_committed) the final results must equal the oracle's with no
window published twice, and the dead letters must hold each frame file mode rejects, once.

Usage: kafka_rewind.py --uniqd B --gen G --oracle O [--keep DIR] broker_down|state_unusable
Needs UNIQD_TEST_BROKERS and UNIQD_TEST_BROKER_DIR (tests/integration/with_broker.sh); exit 77 without.
"""
import argparse
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_util as ku  # noqa: E402
from kafka_util import check, fail, log  # noqa: E402
import kafka_e2e as e2e  # noqa: E402

TXN_TIMEOUT_MS = 6000
FREEZE_S = 12
RATE = 50
# A first part read before the fault, small chunks produced just before it (so that the
# open transaction has something in it: with --commit-interval 3s the fault lands
# between two commits), a last part after it.
PART_SIZES = [40000, 3000, 3000, 3000, 40000]
TRIES = 3  # chunks
GEN = dict(e2e.GEN_PARTITIONS, **{"--rate": RATE, "--users": 8000, "--seed": 47, "--blank-prob": 0.002})
FLAGS = e2e.PARTITION_FLAGS
KAFKA_FLAGS = ["--idle-timeout", "10m", "--commit-interval", "3s"]
# What uniqd logs once a commit failed (kafka/task_manager.cc).
COMMIT_FAILING = re.compile(r"\(retrying\)|transaction failed|rewinding|replacing the producer|cannot start")


def write_config(env):
    path = env.path("uniqd.yaml")
    with open(path, "w") as f:
        f.write(f"kafka:\n  producer:\n    transaction.timeout.ms: \"{TXN_TIMEOUT_MS}\"\n")
    return path


def broker_pid(env):
    with open(os.path.join(env.broker_dir, "kafka.pid")) as f:
        return int(f.read().strip())


def shard_dirs(state):
    """Every shard directory of the application's state store (<state_dir>/<app>/shard-N)."""
    out = []
    for app in os.listdir(state):
        base = os.path.join(state, app)
        out += [os.path.join(base, d) for d in sorted(os.listdir(base)) if d.startswith("shard-")]
    return out


def wait_exit(a, timeout, what):
    """uniqd must end on its own within its bounds."""
    deadline = time.monotonic() + timeout
    while a.running() and time.monotonic() < deadline:
        time.sleep(0.5)
    if a.running():
        a.kill()
        fail(f"uniqd still ran {timeout} s after {what} (every retry is bounded):\n{ku.tail(a.stderr())}")
    return a.wait(10)


def expect_failure(run, needle, what):
    err = run.stderr
    if run.returncode != 1:
        fail(f"uniqd exited {run.returncode} after {what}, expected 1:\n{ku.tail(err)}")
    for bad in ("Segmentation fault", "AddressSanitizer", "terminate called", "Aborted", "core dumped"):
        if bad in err:
            fail(f"uniqd crashed after {what} ({bad}):\n{ku.tail(err)}")
    if needle not in err:
        fail(f"uniqd's log does not say '{needle}' after {what}:\n{ku.tail(err, 40)}")
    log(f"  uniqd exited 1 after {what}: '{needle}' in its log")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uniqd", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--keep", help="keep work files in this directory")
    ap.add_argument("case", choices=["broker_down", "state_unusable"])
    a = ap.parse_args()
    env = ku.Env.from_environment(a.uniqd, a.gen, a.oracle, keep=a.keep)
    if not env.broker_dir:
        fail("UNIQD_TEST_BROKER_DIR is not set: this test stops the broker (use with_broker.sh)")
    for flag in ("--config", "--state-dir", "--commit-interval", "--guarantee", "--metrics-address"):
        if not env.uniqd_has_flag(flag):
            fail(f"uniqd --help does not list {flag}, which this test relies on")
    names = env.names(f"rewind-{a.case}")
    state = env.path("state")
    kflags = KAFKA_FLAGS + ["--state-dir", state, "--config", write_config(env)]

    parts, files, start = [], [], e2e.START
    for i, n in enumerate(PART_SIZES):
        parts.append(dict(GEN, **{"--count": n, "--start": start}))
        start += n // RATE
        files.append(env.path(f"part-{i}.jsonl"))
        env.gen_file(files[-1], parts[-1])
    all_lines = ku.raw_lines(env.path("part-0.jsonl"))
    for f in files[1:]:
        all_lines += ku.raw_lines(f)
    flags = FLAGS + ["--max-frame-bytes", str(e2e.pick_max_frame_bytes(all_lines, e2e.MFB_CANDIDATES))]
    used = [0]  # the parts produced, in order

    produced = env.gen_kafka(names.input, parts[0], partitions=4, key="uid")
    log(f"part 0 produced: {produced}")
    u = env.start_uniqd_kafka(names, flags + kflags, "live.log", until_end=False, guarantee="exactly_once",
                              metrics=True)
    frozen = None
    try:
        ku.wait_for(lambda: ku.count_messages(env.brokers, names.output) > 0 or not u.running(), 120,
                    "uniqd's first results")
        port = u.metrics_port()
        if port is None or not u.running():
            fail(f"uniqd did not start serving metrics:\n{ku.tail(u.stderr())}")
        need = ku.nonblank_bytes(ku.raw_lines(files[0]))
        ku.wait_for(lambda: ku.consumed_bytes(u, port) >= need, 180, f"uniqd to read part 0 ({need} bytes)")
        failed_run = None
        for t in range(TRIES):
            chunk = 1 + t
            before = ku.consumed_bytes(u, port)
            env.gen_kafka(names.input, parts[chunk], partitions=4, key="uid")
            used.append(chunk)
            # Fault as soon as uniqd read some of the chunk: a commit has yet to carry it.
            ku.wait_for(lambda: ku.consumed_bytes(u, port) > before, 60, f"uniqd to read chunk {chunk}",
                        interval=0.05)
            offset = len(u.stderr())
            if a.case == "broker_down":
                log(f"uniqd read part of chunk {chunk}: killing the broker (SIGKILL)")
                t0 = time.monotonic()
                env.broker("stop", "--kill")
                # A commit within 3 s; its first call waits up to the 6 s bound.
                deadline = time.monotonic() + 25
                while time.monotonic() < deadline and u.running() and \
                        not COMMIT_FAILING.search(u.stderr()[offset:]):
                    time.sleep(0.2)
                if u.running() and not COMMIT_FAILING.search(u.stderr()[offset:]):
                    log("  no commit failed (the fault came right after a commit): broker back, next chunk")
                    env.broker("start")
                    ku.wait_for(env.broker_answers, 120, "the broker to answer again")
                    continue
                # The commit's retries, the abort and a new producer's init: each bounded by
                # the transaction timeout; then closing the consumer without a broker.
                failed_run = wait_exit(u, 180, "the broker was killed")
                log(f"  uniqd ended {time.monotonic() - t0:.1f} s after the broker was killed")
                expect_failure(failed_run, "cannot start a new producer", "the broker was killed during the rewind")
                env.broker("start")
                break
            dirs = shard_dirs(state)
            if not dirs:
                fail(f"no shard directory under {state}: the test would break nothing")
            pid = broker_pid(env)
            log(f"uniqd read part of chunk {chunk}: freezing the broker (pid {pid}) for {FREEZE_S} s; "
                f"{len(dirs)} shard directories become regular files")
            os.kill(pid, signal.SIGSTOP)
            frozen = pid
            for d in dirs:
                os.rename(d, d + ".aside")
                with open(d, "w") as f:
                    f.write("not a directory\n")
            time.sleep(FREEZE_S)
            os.kill(pid, signal.SIGCONT)
            frozen = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and u.running():
                time.sleep(0.5)
            if u.running() and not COMMIT_FAILING.search(u.stderr()[offset:]):
                log("  no commit failed (the freeze came right after a commit): directories back, next chunk")
                for d in dirs:
                    os.remove(d)
                    os.rename(d + ".aside", d)
                continue
            failed_run = wait_exit(u, 120, "the broker came back")
            expect_failure(failed_run, "state_dir: cannot create", "the state store became unusable before a rewind")
            if not re.search(r"aborting and rewinding|replacing it and rewinding|replacing the producer",
                             failed_run.stderr[offset:]):
                fail(f"uniqd failed, but not in a rewind:\n{ku.tail(failed_run.stderr, 40)}")
            for d in dirs:
                os.remove(d)
                os.rename(d + ".aside", d)
            break
        if failed_run is None:
            fail(f"in {TRIES} tries no fault found a transaction to fail")
    finally:
        if frozen is not None:
            os.kill(frozen, signal.SIGCONT)
        u.kill()

    ku.wait_for(env.broker_answers, 120, "the broker to answer again")
    last = len(PART_SIZES) - 1
    p = env.gen_kafka(names.input, parts[last], partitions=4, key="uid")
    used.append(last)
    log(f"last part produced: {p}")
    frames = env.path("frames.jsonl")
    with open(frames, "wb") as out:
        for i in used:
            with open(files[i], "rb") as src:
                out.write(src.read())
    lines = ku.raw_lines(frames)
    run = env.uniqd_kafka(names, flags + kflags, until_end=True, guarantee="exactly_once", timeout=300, check=False)
    e2e.expect_rc0(run, "the second uniqd --until-end")
    log(f"  second uniqd --until-end: {run.seconds:.1f} s")

    env.read_committed_default = True
    want = ku.final_results_from_lines(env.oracle(frames, flags))
    got = ku.final_results(env.read_topic(names.output))
    if len(want.latest) < 20:
        fail(f"the oracle has {len(want.latest)} final windows: too few for this test to mean anything")
    check(ku.compare_finals(got, want, allow_duplicates=False),
          f"{len(got.latest)} final windows equal the oracle's, none published twice")
    dls, unique = e2e.check_dead_letters(env, names, frames, flags, lines, "rewind")
    if len(dls) != len(unique):
        fail(f"{len(dls) - len(unique)} dead letters published twice under exactly_once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
