#!/usr/bin/env python3
"""bench/scale_out.py - replicas: throughput with 1 and 2 replicas, bytes written to the internal
topics per input byte, and the time from a replica's SIGKILL to the survivor having taken over its
tasks and caught up (docs/SCALE_OUT.md). Figures, not pass/fail; Markdown on stdout.

  bench/scale_out.py [--frames N] [--partitions P] [--build DIR] [--runs R]

Starts its own broker (scripts/kafka, free port, temp dir; stopped and removed at the end) and
produces N challenge-profile frames (uniqd-gen defaults, unkeyed, P partitions; not measured).
  throughput  R rounds of: 1 replica --until-end, then 2 replicas --until-end at once (fresh
              application ids, same input); wall time from start to the last exit.
  failover    2 replicas live on the same input; once both read, one is killed (SIGKILL); the
              time until the survivor logs the restore of the moved tasks ("restored ... pairs")
              and until it has caught up (no lag on any input partition nor on its internal
              topics: the dead replica's uncommitted work redone); with the librdkafka default
              session.timeout.ms (45 s) and with 6 s.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"bench/scale_out.py: {msg}", file=sys.stderr, flush=True)


def free_port():
    for _ in range(100):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        try:
            t = socket.socket()
            t.bind(("127.0.0.1", p + 1))
            t.close()
            return p
        except OSError:
            pass
    raise SystemExit("no free port pair")


def metrics(path):
    m = re.search(r"metrics on http://[^:\s]+:(\d+)/metrics", open(path, errors="replace").read())
    if not m:
        return {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def caught_up(path, partitions):
    """The replica reads every input partition and is at the end of each, and of its internal topics."""
    m = metrics(path)
    lags = [m.get(f'uniqd_consumer_lag_messages{{partition="{p}"}}') for p in range(partitions)]
    return all(v == 0 for v in lags) and m.get("uniqd_internal_lag_messages") == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=600000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    a = ap.parse_args()
    uniqd = os.path.join(a.build, "uniqd")
    gen = os.path.join(a.build, "uniqd-gen")
    work = tempfile.mkdtemp(prefix="uniqd-bench-scale.")
    kafka = os.path.join(REPO, "scripts", "kafka")
    bdir = os.path.join(work, "broker")
    subprocess.run([kafka, "fetch"], check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    brokers = subprocess.run([kafka, "start", "--port", str(port), "--dir", bdir, "--clean"], check=True,
                             capture_output=True, text=True).stdout.strip()
    procs = []
    try:
        topic = "scale-in"
        subprocess.run([kafka, "topics", "--dir", bdir, "--create", "--topic", topic, "--partitions",
                        str(a.partitions), "--replication-factor", "1"], check=True, stdout=subprocess.DEVNULL)
        t0 = time.monotonic()
        subprocess.run([gen, "--count", str(a.frames), "--kafka", brokers, "--topic", topic, "--partitions",
                        str(a.partitions), "--key", "none"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        log(f"{a.frames} frames produced to {a.partitions} partitions in {time.monotonic() - t0:.1f} s")
        load = open("/proc/loadavg").read().split()[:3]

        def start(app, replica, until_end, conf=None, logname=None):
            cmd = [uniqd, "--kafka", brokers, "--topic", topic, "--application-id", app, "--output-topic",
                   f"{app}-out", "--dead-letter-topic", f"{app}-dlq", "--no-progress", "--state-dir",
                   os.path.join(work, f"state-{app}-{replica}"), "--replica-id", replica,
                   "--metrics-address", "127.0.0.1:0"]
            if until_end:
                cmd.append("--until-end")
            if conf:
                cmd += ["--config", conf]
            path = os.path.join(work, logname or f"{app}-{replica}.log")
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(path, "wb"))
            procs.append(p)
            return p, path

        rows = []
        internal = []
        for r in range(a.runs):
            for n in (1, 2):
                app = f"tp{r}-{n}"
                t0 = time.monotonic()
                runs = [start(app, f"r{i}", True) for i in range(n)]
                for p, path in runs:
                    if p.wait(timeout=1200) != 0:
                        raise SystemExit(f"{path}: exit {p.returncode}")
                secs = time.monotonic() - t0
                rows.append((r, n, secs))
                for _, path in runs:
                    m = re.search(r"internal topics: (\d+) bytes written \(([\d.]+) per input byte\)",
                                  open(path, errors="replace").read())
                    if m and n == 1:
                        internal.append(float(m.group(2)))
                log(f"round {r}: {n} replica(s): {secs:.1f} s, {a.frames / secs:.0f} frames/s")

        fail_rows = []
        for timeout_ms in (45000, 6000):
            conf = os.path.join(work, f"fo-{timeout_ms}.yaml")
            with open(conf, "w") as f:
                f.write(f'kafka:\n  consumer:\n    session.timeout.ms: "{timeout_ms}"\n'
                        f'    heartbeat.interval.ms: "{min(3000, timeout_ms // 3)}"\n')
            app = f"fo{timeout_ms}"
            (pa, la), (pb, lb) = start(app, "a", False, conf), start(app, "b", False, conf)
            deadline = time.monotonic() + 300
            # Both have joined and read: the survivor's shards before the kill are its own.
            while time.monotonic() < deadline and (metrics(la).get("uniqd_consumed_bytes_total", 0) <= 0 or
                                                   metrics(lb).get("uniqd_consumed_bytes_total", 0) <= 0):
                time.sleep(0.2)
            before = open(lb, errors="replace").read()
            killed = time.monotonic()
            pa.send_signal(signal.SIGKILL)
            pa.wait()
            t_restored = t_counting = None
            while time.monotonic() < killed + 240 and (t_restored is None or t_counting is None):
                text = open(lb, errors="replace").read()[len(before):]
                if t_restored is None and re.search(r"restored \d+ pairs", text):
                    t_restored = time.monotonic() - killed
                if t_restored is not None and t_counting is None and caught_up(lb, a.partitions):
                    t_counting = time.monotonic() - killed
                time.sleep(0.1)
            pb.send_signal(signal.SIGTERM)
            pb.wait(timeout=120)
            fail_rows.append((timeout_ms, t_restored, t_counting))
            log(f"failover, session.timeout.ms {timeout_ms}: restored after {t_restored} s, caught up after "
                f"{t_counting} s")

        print(f"## Scale-out ({a.frames} frames, {a.partitions} input partitions, 4 shards; "
              f"{os.cpu_count()} cores, load at start {' '.join(load)})\n")
        print("| round | replicas | wall s | frames/s |")
        print("|---|---|---|---|")
        for r, n, secs in rows:
            print(f"| {r} | {n} | {secs:.1f} | {a.frames / secs:.0f} |")
        if internal:
            print(f"\nBytes written to the internal topics per input byte (1 replica, its exit line): "
                  f"{min(internal):.3f}-{max(internal):.3f}\n")
        print("| session.timeout.ms | SIGKILL → survivor restored the moved tasks, s | → survivor caught up, s |")
        print("|---|---|---|")
        for t, a1, a2 in fail_rows:
            print(f"| {t} | {a1 if a1 is None else f'{a1:.1f}'} | {a2 if a2 is None else f'{a2:.1f}'} |")
        print("\nBENCH_SCALE_OUT " + json.dumps({"throughput": rows, "internal_per_input_byte": internal,
                                                "failover": fail_rows}))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        subprocess.run([kafka, "stop", "--dir", bdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
