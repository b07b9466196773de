#!/usr/bin/env python3
"""uniqd as a user runs it: flags, the YAML file, /metrics, signals, bad input.

Every check asserts an outcome a user sees (exit status, the one-line error,
results on stdout, counters on /metrics, the summary line), and cross-checks
counts against build/uniqd-oracle where the oracle has an answer.

usage: cli_test.py BUILD_DIR [--keep DIR] [--only NAME[,NAME...]] [--known-bugs]

Prints `ok NAME` or `FAILED NAME: why` per check, then `N passed, M failed`;
exits non-zero when a check failed. --known-bugs also runs the checks of bugs
reported but not fixed yet (they fail until then). Python 3 stdlib only;
every child process runs under a timeout.
"""
import argparse
import collections
import fcntl
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request

B = 1468244340  # 2016-07-11T13:39:00Z, a minute boundary (B % 60 == 0)
PER_FRAME_REASONS = ["malformed_json", "missing_uid", "missing_ts", "duplicate_key", "bad_uid_type", "bad_ts",
                     "too_large", "future"]
ALL_REASONS = PER_FRAME_REASONS + ["outlier", "late"]
SUMMARY_RE = re.compile(r"(\d+) frames \(.*?; accepted (\d+), rejected (\d+)(?: \(([^)]*)\))?, blank (\d+);")

ARGS = None
UNIQD = GEN = ORACLE = WORK = None


class Fail(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise Fail(why)


def short(text, n=400):
    text = text if isinstance(text, str) else text.decode("utf-8", "replace")
    text = text.strip()
    return text if len(text) <= n else text[:n] + "..."


def run(args, timeout=30, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(args, timeout=timeout, **kw)


def path(name):
    return os.path.join(WORK, name)


def write(name, content, mode="w"):
    p = path(name)
    with open(p, mode) as f:
        f.write(content)
    return p


def frame(uid, ts):
    return json.dumps({"uid": uid, "ts": ts}, separators=(",", ":"))


def finals(stdout):
    """Final results as comparable tuples, in emission order."""
    out = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if r["final"]:
            out.append((r["window"], r["start_ts"], r["end_ts"], r["unique_users"], r["frames"], r["revision"]))
    return out


def summary(stderr):
    """The summary line on stderr: frames, accepted, rejected, {reason: n}, blank."""
    m = None
    for m in SUMMARY_RE.finditer(stderr):
        pass
    if m is None:
        raise Fail("no summary line on stderr: " + short(stderr))
    reasons = collections.Counter()
    for kv in (m.group(4) or "").split():
        k, v = kv.split("=")
        reasons[k] = int(v)
    return {"frames": int(m.group(1)), "accepted": int(m.group(2)), "rejected": int(m.group(3)),
            "reasons": reasons, "blank": int(m.group(5))}


def oracle(input_path, flags=(), timeout=120):
    """(final results, Counter of reject reasons, stderr) from uniqd-oracle."""
    rej = input_path + ".oracle-rejects"
    r = run([ORACLE, "--input", input_path, "--rejects", rej] + list(flags), timeout=timeout)
    if r.returncode != 0:
        raise Fail(f"uniqd-oracle exited {r.returncode}: {short(r.stderr)}")
    reasons = collections.Counter()
    with open(rej) as f:
        for line in f:
            reasons[json.loads(line)["reason"]] += 1
    return finals(r.stdout), reasons, r.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=2):
    """(status, body); raises OSError when nothing listens."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m:
            raise Fail(f"unparsable exposition line: {line!r}")
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def frames_total(metrics):
    return sum(v for (name, _), v in metrics.items() if name == "uniqd_frames_total")


def rejected_by_reason(metrics):
    out = collections.Counter()
    for (name, labels), v in metrics.items():
        d = dict(labels)
        if name == "uniqd_frames_total" and d.get("result") == "rejected":
            out[d["reason"]] = int(v)
    return out


class FifoRun:
    """uniqd reading a named FIFO whose write end this process holds open."""

    def __init__(self, name, flags, port=None, stdout_path=None):
        self.fifo = path(name + ".fifo")
        os.mkfifo(self.fifo)
        self.port = port or free_port()
        self.out_path, self.err_path = stdout_path or path(name + ".stdout"), path(name + ".stderr")
        self.out, self.err = open(self.out_path, "w"), open(self.err_path, "w")
        self.proc = subprocess.Popen(
            [UNIQD, "--input", self.fifo, "--metrics-address", f"127.0.0.1:{self.port}", "--no-progress"] + flags,
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err)
        self.fd = None
        deadline = time.monotonic() + 10
        while self.fd is None:  # ENXIO until uniqd opens the read end
            try:
                self.fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                if self.proc.poll() is not None:
                    raise Fail(f"uniqd exited {self.proc.returncode} before opening the FIFO: {self.stderr()}")
                if time.monotonic() > deadline:
                    raise Fail("uniqd did not open the FIFO within 10 s")
                time.sleep(0.02)

    def write(self, data, timeout=30):
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view:
            if time.monotonic() > deadline:
                raise Fail(f"uniqd stopped reading the FIFO ({len(view)} bytes not written in {timeout} s)")
            if self.proc.poll() is not None:
                raise Fail(f"uniqd exited {self.proc.returncode} while being fed: {self.stderr()}")
            _, ready, _ = select.select([], [self.fd], [], 0.2)
            if not ready:
                continue
            try:
                view = view[os.write(self.fd, view[:65536]):]
            except BlockingIOError:
                pass

    def metrics(self):
        return http_get(f"http://127.0.0.1:{self.port}/metrics")

    def wait_frames(self, n, timeout=20):
        """Polls /metrics until uniqd_frames_total sums to n; returns (text, parsed)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Fail(f"uniqd exited {self.proc.returncode} while the FIFO was open: {self.stderr()}")
            try:
                status, text = self.metrics()
                if status == 200:
                    parsed = parse_metrics(text)
                    last = frames_total(parsed)
                    if last == n:
                        return text, parsed
            except OSError:
                pass
            time.sleep(0.05)
        raise Fail(f"uniqd_frames_total summed to {last}, not {n}, after {timeout} s")

    def close_input(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Fail(f"uniqd did not exit within {timeout} s")

    def stdout(self):
        self.out.flush()
        with open(self.out_path) as f:
            return f.read()

    def stderr(self):
        self.err.flush()
        with open(self.err_path) as f:
            return short(f.read(), 1500)

    def cleanup(self):
        self.close_input()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.out.close()
        self.err.close()


# ---------------------------------------------------------------------------
# 1. Configuration errors: status 2, one line "file:line:col: key.path: ...",
#    nothing started (stdout empty; the FIFO given as --input, which would
#    block uniqd's open() forever, is never opened).

CONFIG_ERRORS = [
    # name, yaml, line, col, key path, text the line must contain
    ("unknown_key", "windows: [minute]\nlatness: 10s\n", 2, 1, "latness",
     ["unknown key", "did you mean 'lateness'?"]),
    ("unknown_nested_key", "kafka:\n  brokrs: x\n", 2, 3, "kafka.brokrs", ["unknown key", "did you mean 'brokers'?"]),
    ("bad_duration", "windows: [minute]\nlateness: 5x\n", 2, 11, "lateness", ["'5x' is not a duration"]),
    ("unknown_window", "windows: [minute, hours]\n", 1, 19, "windows[1]",
     ["'hours' is not one of", "did you mean 'hour'?"]),
    ("lateness_over_retention", "late_policy: update\nlateness: 10m\nretention: 5m\n", 3, 12, "retention",
     ["5m is shorter than lateness 10m"]),
    ("wrong_type_list_for_int", "outlier_confirm: [1]\n", 1, 18, "outlier_confirm",
     ["expected an integer, got a list"]),
    ("wrong_type_scalar_for_list", "windows: minute\n", 1, 10, "windows", ["expected a list"]),
    ("wrong_type_nested", "kafka:\n  create_partitions: abc\n", 2, 22, "kafka.create_partitions",
     ["'abc' is not an integer"]),
]


def one_error_line(r, what):
    expect(r.returncode == 2, f"{what}: exit status {r.returncode}, expected 2; stderr: {short(r.stderr)}")
    expect(r.stdout == "", f"{what}: wrote to stdout: {short(r.stdout)}")
    lines = r.stderr.splitlines()
    expect(len(lines) == 1, f"{what}: expected one line on stderr, got {len(lines)}: {short(r.stderr)}")
    return lines[0]


def never_opened_fifo():
    """A FIFO nobody writes to: uniqd's open() of it blocks until killed."""
    fifo = path("never-opened.fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    return fifo


def check_config_errors():
    fifo = never_opened_fifo()
    port = free_port()
    for name, text, line, col, key, needles in CONFIG_ERRORS:
        cfg = write(f"bad-{name}.yaml", text)
        try:
            r = run([UNIQD, "--config", cfg, "--input", fifo, "--metrics-address", f"127.0.0.1:{port}",
                     "--no-progress"], timeout=10)
        except subprocess.TimeoutExpired:
            raise Fail(f"{name}: uniqd did not exit: it started despite the bad config")
        msg = one_error_line(r, name)
        prefix = f"uniqd: {cfg}:{line}:{col}: {key}: "
        expect(msg.startswith(prefix), f"{name}: expected the line to start with {prefix!r}, got {msg!r}")
        for n in needles:
            expect(n in msg, f"{name}: {n!r} not in {msg!r}")


def check_config_missing_file():
    missing = path("no-such-dir/uniqd.yaml")
    try:
        r = run([UNIQD, "--config", missing, "--input", never_opened_fifo(), "--no-progress"], timeout=10)
    except subprocess.TimeoutExpired:
        raise Fail("uniqd did not exit: it started without its config file")
    msg = one_error_line(r, "missing config")
    expect(msg.startswith(f"uniqd: {missing}: ") and "No such file" in msg, f"unexpected message {msg!r}")


def check_bad_flag_value():
    try:
        r = run([UNIQD, "--lateness", "5x", "--input", never_opened_fifo()], timeout=10)
    except subprocess.TimeoutExpired:
        raise Fail("uniqd did not exit: it started despite the bad flag")
    expect(r.returncode == 2, f"exit status {r.returncode}, expected 2; stderr: {short(r.stderr)}")
    expect(r.stdout == "", f"wrote to stdout: {short(r.stdout)}")
    first = r.stderr.splitlines()[0] if r.stderr else ""
    expect("--lateness" in first and "'5x'" in first and "not a duration" in first,
           f"first stderr line does not name --lateness and '5x': {first!r}")


# ---------------------------------------------------------------------------
# 2. Flags override the file, and the effective lateness changes results.
#
# Minute windows, late_policy drop. ptime = the largest accepted ts (DESIGN
# §3; the first three frames confirm each other); W = ptime - lateness.
# Offsets from B:
#   line  uid  ts   ptime
#   1-3   u1-3 50 61 66   66 (confirmed together)
#   4     u4   67   67
#   5     u5   68   68
#   6     u6   69   69
#   7     u7   45   69   (never decreases)
#   8     u1   57   69
#   9     u8   59   69
#   10    u9   70   70
#   11    u10  71   71
# Lines 7-9 fall in minute [B, B+60). When they arrive ptime is 69:
#   lateness 5s:  W = 64 >= 60, that minute is final -> 3 `late` rejects;
#                 minute B: 1 user (u1), 1 frame.
#   lateness 10s: W = 59 <  60, still open -> counted;
#                 minute B: 3 users (u1 u7 u8), 4 frames.
# Both: minute B+60 holds u2..u6, u9, u10 = 7 users, 7 frames.
LATENESS_STREAM = [("u1", 50), ("u2", 61), ("u3", 66), ("u4", 67), ("u5", 68), ("u6", 69), ("u7", 45),
                   ("u1", 57), ("u8", 59), ("u9", 70), ("u10", 71)]
EXPECTED = {
    "5s": ([("minute", B, B + 60, 1, 1, 0), ("minute", B + 60, B + 120, 7, 7, 0)], [(7, "late"), (8, "late"),
                                                                                     (9, "late")]),
    "10s": ([("minute", B, B + 60, 3, 4, 0), ("minute", B + 60, B + 120, 7, 7, 0)], []),
}


def check_flags_override_file():
    cfg = write("override.yaml", "lateness: 5s\nwindows: [minute]\n")
    r = run([UNIQD, "--config", cfg, "--lateness", "10s", "--print-config"], timeout=10)
    expect(r.returncode == 0, f"--print-config exited {r.returncode}: {short(r.stderr)}")
    lines = r.stdout.splitlines()
    expect("lateness: 10s" in lines, f"no 'lateness: 10s' line in --print-config output:\n{r.stdout}")
    expect("windows: [minute]" in lines, f"no 'windows: [minute]' line in --print-config output:\n{r.stdout}")
    r = run([UNIQD, "--config", cfg, "--print-config"], timeout=10)
    expect("lateness: 5s" in r.stdout.splitlines(), f"the file's lateness 5s not printed:\n{r.stdout}")
    # Every spelling of the flag loads the file (-c once went unseen: the
    # file was dropped without a word).
    for spelling in (["-c", cfg], [f"-c{cfg}"], [f"-c={cfg}"], [f"--config={cfg}"]):
        r = run([UNIQD, *spelling, "--print-config"], timeout=10)
        expect(r.returncode == 0, f"{' '.join(spelling)} --print-config exited {r.returncode}: {short(r.stderr)}")
        expect("windows: [minute]" in r.stdout.splitlines(),
               f"{' '.join(spelling)}: the file's windows: [minute] not printed:\n{r.stdout}")


def check_lateness_changes_results():
    cfg = write("override.yaml", "lateness: 5s\nwindows: [minute]\n")
    stream = write("lateness.jsonl", "".join(frame(u, B + t) + "\n" for u, t in LATENESS_STREAM))
    for lateness, extra in (("5s", []), ("10s", ["--lateness", "10s"])):
        want_finals, want_rejects = EXPECTED[lateness]
        rej = path(f"lateness-{lateness}.rejects")
        r = run([UNIQD, "--config", cfg, "--input", stream, "--rejects", rej, "--no-progress"] + extra, timeout=20)
        expect(r.returncode == 0, f"lateness {lateness}: exit {r.returncode}: {short(r.stderr)}")
        got = finals(r.stdout)
        expect(got == want_finals, f"lateness {lateness}: final results {got}, expected (hand-computed) {want_finals}")
        with open(rej) as f:
            got_rej = [(j["line"], j["reason"]) for j in map(json.loads, f)]
        expect(sorted(got_rej) == want_rejects, f"lateness {lateness}: rejects {got_rej}, expected {want_rejects}")
        o_finals, o_rej, _ = oracle(stream, ["--windows", "minute", "--lateness", lateness])
        expect(o_finals == want_finals, f"lateness {lateness}: the oracle says {o_finals}, the hand count {want_finals}")
        expect(o_rej == collections.Counter(r for _, r in want_rejects),
               f"lateness {lateness}: oracle rejects {dict(o_rej)}")


# ---------------------------------------------------------------------------
# 3. --print-config output loads back and prints the same text.

ROUND_TRIPS = [
    ("defaults", None, []),
    ("file_and_flag", "lateness: 5s\nwindows: [minute]\n", ["--lateness", "10s"]),
    ("everything", "application_id: my-app.1\nrejects_path: \"/tmp/a b: c#d\"\nkafka:\n  consumer:\n"
                   "    fetch.max.bytes: 52428800\n    client.rack: eu-1a\n  producer:\n"
                   "    linger.ms: \"5\"\nstate_dir: \"~\"\nlog:\n  level: warn\n",
     ["--input", "my file.jsonl", "--late-policy", "update", "--retention", "2h", "--lateness", "90s",
      "--ts-unit", "ms", "--max-frame-bytes", "1000", "--no-early-results", "--log-format", "json",
      "--metrics-address", "127.0.0.1:0", "--windows", "week,minute", "--outlier-confirm", "5", "--partition-time-confirm", "2", "--partition-time-step", "1500ms",
      "--outlier-threshold", "2500ms", "--parse-threads", "-1", "--idle-timeout", "1500ms", "--no-progress",
      "--max-future-skew", "7d", "--commit-interval", "100ms", "--topic", "in.t", "--output-topic", "out-t",
      "--dead-letter-topic", "dl_t", "--application-id", "app2", "--state-dir", "/tmp/st ate",
      "--log-level", "debug", "--rejects", "", "--until-end"]),
]


def print_config_via_fd(text):
    """uniqd --config <(printf %s TEXT) --print-config."""
    r_fd, w_fd = os.pipe()
    try:
        os.write(w_fd, text.encode())  # small: fits the pipe buffer
        os.close(w_fd)
        w_fd = None
        return run([UNIQD, "--config", f"/dev/fd/{r_fd}", "--print-config"], timeout=10, pass_fds=(r_fd,))
    finally:
        os.close(r_fd)
        if w_fd is not None:
            os.close(w_fd)


def round_trip(name, yaml, flags):
    args = [UNIQD] + (["--config", write(f"rt-{name}.yaml", yaml)] if yaml is not None else []) + flags
    first = run(args + ["--print-config"], timeout=10)
    expect(first.returncode == 0 and first.stdout, f"{name}: --print-config exited {first.returncode}: "
                                                   f"{short(first.stderr)}")
    second = print_config_via_fd(first.stdout)
    expect(second.returncode == 0, f"{name}: printed config does not load back (exit {second.returncode}): "
                                   f"{short(second.stderr)}")
    expect(second.stdout == first.stdout, f"{name}: reloaded config prints differently:\n--- first\n{first.stdout}"
                                          f"--- second\n{second.stdout}")


def check_print_config_round_trip():
    for name, yaml, flags in ROUND_TRIPS:
        round_trip(name, yaml, flags)


# Known bug (reported): flag values are validated only when the task starts,
# so --print-config prints configurations that its own loader refuses.
def check_known_bug_print_config_invalid_flags():  # fixed; kept as a regular check
    bad = []
    for flags in (["--outlier-threshold", "250ms"], ["--windows", "minute,bogus"], ["--windows", "minute,minute"],
                  ["--late-policy", "update", "--retention", "1s"], ["--max-frame-bytes", "1"]):
        first = run([UNIQD] + flags + ["--print-config"], timeout=10)
        if first.returncode == 0:
            second = print_config_via_fd(first.stdout)
            if second.returncode != 0:
                bad.append(f"{' '.join(flags)}: printed, exit 0, then refused: {short(second.stderr, 200)}")
    expect(not bad, "; ".join(bad))


# ---------------------------------------------------------------------------
# 4. /metrics while the input is open, promtool, the oracle, the final results.

def generated_frames(name, count, seed, extra=()):
    out = path(name)
    r = run([GEN, "--count", str(count), "--rate", "20", "--seed", str(seed), "--frame-bytes", "300",
             "--output", out] + list(extra), timeout=60)
    expect(r.returncode == 0, f"uniqd-gen exited {r.returncode}: {short(r.stderr)}")
    with open(out, "rb") as f:
        return f.read()


def check_metrics():
    faults = ["--flip-prob", "0.01", "--malformed-prob", "0.01", "--missing-uid-prob", "0.01",
              "--missing-ts-prob", "0.01", "--dup-key-prob", "0.01", "--bad-type-prob", "0.01",
              "--ts-string-prob", "0.01", "--ts-float-prob", "0.01", "--escaped-key-prob", "0.01",
              "--uid-number-prob", "0.01", "--crlf-prob", "0.1", "--blank-prob", "0.01", "--delay-prob", "0.05"]
    data = generated_frames("metrics-gen.jsonl", 3000, 11, faults)
    expect(data.endswith(b"\n"), "uniqd-gen output does not end with a newline")
    # A hand-written tail: a future frame, a too_large one (limit 64KiB below)
    # and clean frames at the stream's end time, so that no suspect is still
    # pending when the counters are compared (3 frames against a cluster
    # reject it).
    end = B + 3000 // 20
    tail = [frame("tail-future", 4102444800), '{"uid":"tail-big","ts":%d,"pad":"%s"}' % (end, "x" * 100000)]
    tail += [frame(f"tail-{i}", end + i) for i in range(5)]
    data += "".join(t + "\n" for t in tail).encode()
    frames_file = path("metrics-frames.jsonl")
    with open(frames_file, "wb") as f:
        f.write(data)
    n_lines = data.count(b"\n")
    flags = ["--max-frame-bytes", "64KiB"]
    o_finals, o_rej, o_err = oracle(frames_file, ["--max-frame-bytes", "65536"])
    m = re.search(r"blank=(\d+)", o_err)
    expect(m, f"no blank count in the oracle's stderr: {short(o_err)}")
    o_blank = int(m.group(1))
    expect(o_rej["too_large"] == 1 and o_rej["future"] >= 1, f"the stream lacks a case: oracle rejects {dict(o_rej)}")
    expect(len(o_finals) >= 3, f"the oracle has {len(o_finals)} final results: nothing to compare")

    run_ = FifoRun("metrics", flags)
    try:
        run_.write(data)
        text, metrics = run_.wait_frames(n_lines)
        exposition = path("metrics.prom")
        with open(exposition, "w") as f:
            f.write(text)
        promtool = shutil.which("promtool")
        expect(promtool, "promtool not found (scripts/deps installs Debian's prometheus package)")
        p = run([promtool, "check", "metrics"], input=text, timeout=20)
        expect(p.returncode == 0, f"promtool check metrics failed ({exposition}): {short(p.stdout + p.stderr)}")
        got = rejected_by_reason(metrics)
        diff = {r: (got[r], o_rej[r]) for r in PER_FRAME_REASONS if got[r] != o_rej[r]}
        expect(not diff, f"rejected counters differ from the oracle (metrics, oracle): {diff}")
        blank = metrics.get(("uniqd_frames_total", frozenset({("result", "blank")})))
        expect(blank == o_blank, f"blank counter {blank}, oracle {o_blank}")
        expect(metrics.get(("uniqd_ready", frozenset())) == 1, "uniqd_ready is not 1")
        for endpoint in ("healthz", "readyz"):
            status, body = http_get(f"http://127.0.0.1:{run_.port}/{endpoint}")
            expect(status == 200, f"/{endpoint} answered {status}: {body!r}")
        run_.close_input()
        rc = run_.wait(15)
        expect(rc == 0, f"uniqd exited {rc} after the FIFO closed: {run_.stderr()}")
        got_finals = finals(run_.stdout())
        expect(got_finals == o_finals, f"final results differ from the oracle: {len(got_finals)} vs "
                                       f"{len(o_finals)}; first difference "
                                       f"{next(((a, b) for a, b in zip(got_finals, o_finals) if a != b), None)}")
        s = summary(run_.stderr())
        expect(s["reasons"] == +o_rej, f"summary rejects {dict(s['reasons'])}, oracle {dict(o_rej)}")
        expect(s["frames"] == s["accepted"] + s["rejected"] and s["frames"] + s["blank"] == n_lines,
               f"summary does not add up to {n_lines} lines: {s}")
    finally:
        run_.cleanup()


# ---------------------------------------------------------------------------
# 5. SIGTERM / SIGINT with the input still open: exit 0 within 5 s; the final
#    results already due were written, nothing after.
#
# 300 in-order frames, ts = B+0 .. B+299, uid u(t % 37). Last 3 accepted
# ts: 297 298 299, so ptime = B+297 and W = B+292: minutes ending at B+60,
# +120, +180, +240 are final (37 users, 60 frames each); minute [B+240,
# B+300) and hour [13:00, 14:00) are still open.

def check_stop_signal(sig):
    stream = "".join(frame(f"u{t % 37}", B + t) + "\n" for t in range(300))
    frames_file = write(f"signal-{sig.name}.jsonl", stream)
    want = [("minute", B + 60 * k, B + 60 * (k + 1), 37, 60, 0) for k in range(4)]
    o_finals, _, _ = oracle(frames_file, ["--windows", "minute,hour"])
    w = B + 292
    expect([f for f in o_finals if f[2] <= w] == want,
           f"oracle finals up to W {[f for f in o_finals if f[2] <= w]} differ from the hand count {want}")
    run_ = FifoRun(f"signal-{sig.name}", ["--windows", "minute,hour"])
    try:
        run_.write(stream.encode())
        run_.wait_frames(300)
        before = finals(run_.stdout())
        expect(before == want, f"with the input open and idle, final results on stdout are {before}, "
                               f"expected {want}")
        t0 = time.monotonic()
        run_.proc.send_signal(sig)
        rc = run_.wait(5)
        took = time.monotonic() - t0
        expect(rc == 0, f"exit status {rc} after {sig.name}, expected 0: {run_.stderr()}")
        after = finals(run_.stdout())
        expect(after == want, f"after {sig.name} final results are {after}, expected only {want}")
        expect("stopped by signal" in run_.stderr(), f"no 'stopped by signal' on stderr: {run_.stderr()}")
        expect(took < 5, f"took {took:.1f} s to exit")
    finally:
        run_.cleanup()


# ---------------------------------------------------------------------------
# 6. Bad input never crashes; the summary accounts for every frame.

def expected_lines(data, max_frame_bytes=1 << 20):
    """(frames, blank) per SEMANTICS §1 for file/stdin mode."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    frames = blank = 0
    for line in lines:
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) <= max_frame_bytes and line.strip(b" \t\r") == b"":
            blank += 1
        else:
            frames += 1
    return frames, blank


def stdin_run(name, data, flags=(), timeout=60):
    keep = path(name)
    with open(keep, "wb") as f:  # kept for reproduction with --keep
        f.write(data)
    r = subprocess.run([UNIQD, "--input", "-", "--no-progress"] + list(flags), input=data, capture_output=True,
                       timeout=timeout)
    err = r.stderr.decode("utf-8", "replace")
    expect(r.returncode == 0, f"{name}: exit status {r.returncode} (input {keep}): {short(err)}")
    return r, summary(err)


def check_random_bytes():
    with open("/dev/urandom", "rb") as f:
        data = f.read(4 << 20)
    r, s = stdin_run("urandom.bin", data)
    frames, blank = expected_lines(data)
    expect(s["frames"] == s["accepted"] + s["rejected"], f"frames != accepted + rejected: {s}")
    expect(sum(s["reasons"].values()) == s["rejected"], f"reasons do not add up to rejected: {s}")
    expect((s["frames"], s["blank"]) == (frames, blank), f"summary frames/blank {s['frames']}/{s['blank']}, "
                                                         f"expected {frames}/{blank}")
    _, o_rej, _ = oracle(path("urandom.bin"))
    expect(s["rejected"] > 1000, f"4 MiB of random bytes gave only {s['rejected']} rejects: nothing to compare")
    expect(s["reasons"] == +o_rej, f"rejects {dict(s['reasons'])}, oracle {dict(o_rej)} (input {path('urandom.bin')})")


def check_huge_line():
    # 50 MB on one line, then a valid frame: the line is too_large (never
    # buffered whole) and the reader finds the next line.
    big = b'{"uid":"big","ts":%d,"pad":"' % B + b"a" * (50 << 20) + b'"}\n'
    data = big + frame("after", B + 1).encode() + b"\n"
    rej = path("huge.rejects")
    r, s = stdin_run("huge.jsonl", data, ["--rejects", rej, "--windows", "minute"])
    expect((s["frames"], s["accepted"], s["rejected"], dict(s["reasons"]), s["blank"]) ==
           (2, 1, 1, {"too_large": 1}, 0), f"summary {s}, expected 2 frames, 1 accepted, 1 too_large")
    expect(finals(r.stdout.decode()) == [("minute", B, B + 60, 1, 1, 0)], f"results {short(r.stdout)}")
    size = os.path.getsize(rej)
    expect(size < 16384, f"the too_large reject is {size} bytes: the frame was not cut to its first 1 KiB")
    with open(rej) as f:
        j = json.loads(f.readline())
    expect(j["reason"] == "too_large" and j["line"] == 1 and j.get("bytes") == len(big) - 1,
           f"reject record {short(json.dumps(j), 300)}, expected too_large, line 1, bytes {len(big) - 1}")


def check_blank_lines():
    # SEMANTICS §1: empty or only JSON whitespace (a CR too) is blank, never
    # a reject; the same bytes as a Kafka value are blank as well. Lines:
    #   1 " \r "   2 ""   3 "\t\r\t" + CRLF   4 " \r" + CRLF (the last \r is the
    #   line end)   5 a frame   6 " \v " (not JSON whitespace: malformed)
    #   7 all spaces but over --max-frame-bytes 64: too_large (size first)
    data = b" \r \n\n\t\r\t\r\n \r\r\n" + frame("a", B).encode() + b"\n \v \n" + b" " * 65 + b"\n"
    rej = path("blank.rejects")
    r, s = stdin_run("blank.jsonl", data, ["--rejects", rej, "--windows", "minute", "--max-frame-bytes", "64"])
    expect((s["frames"], s["accepted"], dict(s["reasons"]), s["blank"]) ==
           (3, 1, {"malformed_json": 1, "too_large": 1}, 4),
           f"summary {s}, expected 4 blank, 1 accepted, malformed_json line 6, too_large line 7")
    with open(rej) as f:
        got = sorted((j["line"], j["reason"]) for j in map(json.loads, f))
    expect(got == [(6, "malformed_json"), (7, "too_large")], f"rejects {got}")
    expect(expected_lines(data, 64) == (3, 4), f"the test's own count {expected_lines(data, 64)}")
    _, o_rej, o_err = oracle(path("blank.jsonl"), ["--windows", "minute", "--max-frame-bytes", "64"])
    expect(o_rej == collections.Counter({"malformed_json": 1, "too_large": 1}) and "blank=4" in o_err,
           f"the oracle counts rejects {dict(o_rej)}, {short(o_err)}")


# ---------------------------------------------------------------------------
# 7. Unusable input and rejects paths.

def check_missing_input():
    missing = path("no-such-input.jsonl")
    r = run([UNIQD, "--input", missing, "--no-progress"], timeout=10)
    expect(r.returncode == 1, f"exit status {r.returncode}, expected 1: {short(r.stderr)}")
    expect(missing in r.stderr, f"stderr does not name {missing}: {short(r.stderr)}")
    expect(r.stdout == "", f"wrote to stdout: {short(r.stdout)}")


def check_unwritable_rejects():
    src = write("one.jsonl", frame("a", B) + "\n")
    for target in (path("no-such-dir/rejects.jsonl"), WORK):  # a missing directory; a directory
        r = run([UNIQD, "--input", src, "--rejects", target, "--no-progress"], timeout=10)
        expect(r.returncode != 0, f"--rejects {target}: exit status 0")
        expect(f"'{target}'" in r.stderr, f"--rejects {target}: stderr does not name it: {short(r.stderr)}")
        expect(r.stdout == "", f"--rejects {target}: results written although it stops: {short(r.stdout)}")


# ---------------------------------------------------------------------------
# 8. Results or rejects that cannot be written (/dev/full) end uniqd with a
#    non-zero status and a message naming the stream, whether the write fails
#    at the end or mid-stream (before a blocking read), with the input still
#    open: it must not wait for more input it could not report on.

def expect_write_error(rc, stderr, needle, what):
    expect(rc not in (0, None), f"{what}: exit status {rc}, expected non-zero; stderr: {short(stderr)}")
    line = next((l for l in stderr.splitlines() if needle in l and "No space left on device" in l), None)
    expect(line is not None, f"{what}: no error naming {needle} and the cause on stderr: {short(stderr)}")


def check_write_error_at_end():
    data = "bad frame\n" + frame("a", B) + "\n"
    problems = []
    for threads in ("-1", "2"):
        with open("/dev/full", "w") as full:
            r = run([UNIQD, "--input", "-", "--rejects", "/dev/full", "--parse-threads", threads, "--windows", "minute",
                     "--no-progress"], input=data, timeout=20)
            problems += soft(expect_write_error, r.returncode, r.stderr, "'/dev/full'",
                             f"--rejects /dev/full, parse threads {threads}")
            r = run([UNIQD, "--input", "-", "--parse-threads", threads, "--windows", "minute", "--no-progress"],
                    input=data, stdout=full, capture_output=False, stderr=subprocess.PIPE, timeout=20)
            problems += soft(expect_write_error, r.returncode, r.stderr, "standard output",
                             f"results to /dev/full, parse threads {threads}")
    expect(not problems, "\n  ".join(problems))


def soft(fn, *args):
    """[] when fn(*args) passes, else [its message]: every case is reported."""
    try:
        fn(*args)
        return []
    except Fail as e:
        return [str(e)]


def open_input_write_error(name, flags, data, stdout_path, needle, threads):
    what = f"{name} to /dev/full, parse threads {threads}"
    run_ = FifoRun(f"full-{name}{threads}", flags + ["--parse-threads", threads, "--windows", "minute"],
                   stdout_path=stdout_path)
    try:
        run_.write(data)
        try:
            rc = run_.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise Fail(f"{what}: still running 10 s after its write failed, the input open: {run_.stderr()}")
        expect_write_error(rc, run_.stderr(), needle, what)
    finally:
        run_.cleanup()


def check_write_error_mid_stream():
    # The reproduction: the reject is written before the read that
    # waits for the second line.
    sh = ("(printf 'bad frame\\n'; sleep 0.5; printf '{\"uid\":\"a\",\"ts\":%d}\\n') | "
          "%s --input - --rejects /dev/full --parse-threads -1 --windows minute --no-progress" % (B, UNIQD))
    r = run(["bash", "-c", sh], timeout=20)
    problems = soft(expect_write_error, r.returncode, r.stderr, "'/dev/full'", "bad frame, pause, good frame")
    # Input left open after what is to be written: uniqd must stop on its
    # own. Rejects: one bad frame. Results: minute B is final once ptime
    # reaches B+70 (W = B+65).
    closes_minute = "".join(frame(f"u{t}", B + t) + "\n" for t in range(0, 71, 5))
    cases = [("rejects", ["--rejects", "/dev/full"], b"bad frame\n", None, "'/dev/full'"),
             ("results", [], closes_minute.encode(), "/dev/full", "standard output")]
    for name, flags, data, stdout_path, needle in cases:
        for threads in ("-1", "2"):
            problems += soft(open_input_write_error, name, flags, data, stdout_path, needle, threads)
    expect(not problems, "\n  ".join(problems))


# ---------------------------------------------------------------------------

def check_file_modes_agree():
    """A regular file is mapped and parsed in place (one or two parse threads);
    the same bytes on a pipe go through the line reader: the same results,
    the same rejects (line numbers included) and the same summary counts."""
    data = generated_frames("modes.jsonl", 4000, 23, ["--malformed-prob", "0.03", "--missing-uid-prob", "0.01",
                                                      "--escaped-key-prob", "0.05", "--uid-number-prob", "0.05",
                                                      "--crlf-prob", "0.2", "--blank-prob", "0.02", "--dup-key-prob",
                                                      "0.01", "--ts-float-prob", "0.02"])
    # A too-large line, and a last line without its newline.
    data += b"{" + b" " * 1200 + b"}\r\n" + frame("last", B + 3999).encode()
    src = path("modes-in.jsonl")
    with open(src, "wb") as f:
        f.write(data)
    seen = {}
    for name, threads, use_pipe in [("file-1", "-1", False), ("file-2", "2", False), ("pipe-1", "-1", True),
                                    ("pipe-2", "2", True)]:
        rej = path(f"modes-{name}.rejects")
        args = [UNIQD, "--input", "-" if use_pipe else src, "--parse-threads", threads, "--max-frame-bytes", "1000",
                "--windows", "minute,hour", "--rejects", rej, "--no-progress"]
        r = run(args, input=data if use_pipe else None, text=False)
        err = r.stderr.decode(errors="replace")
        expect(r.returncode == 0, f"{name}: exit {r.returncode}: {short(err)}")
        with open(rej, "rb") as f:
            seen[name] = (r.stdout, f.read(), summary(err))
    ref = seen["pipe-1"]
    expect(ref[1].count(b"\n") > 100, "too few rejects to compare")
    for name, got in seen.items():
        expect(got[0] == ref[0], f"{name}: results differ from the line reader's")
        expect(got[1] == ref[1], f"{name}: rejects differ from the line reader's")
        expect(got[2] == ref[2], f"{name}: summary {got[2]} != {ref[2]}")



# ---------------------------------------------------------------------------
# 9. Settings the file and the flags must read alike (issues found in review).

def expect_refused(args, needles, what, cwd=None):
    """uniqd exits 2 before it starts: nothing on stdout, stderr naming every needle."""
    try:
        r = run([UNIQD] + args + ["--no-progress"], timeout=10, stdin=subprocess.DEVNULL, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise Fail(f"{what}: uniqd did not exit: it started instead of refusing")
    expect(r.returncode == 2, f"{what}: exit status {r.returncode}, expected 2; stderr: {short(r.stderr)}")
    expect(r.stdout == "", f"{what}: wrote to stdout: {short(r.stdout)}")
    for n in needles:
        expect(n in r.stderr, f"{what}: {n!r} not in stderr: {short(r.stderr)}")


def check_input_path_and_kind():
    # A path alone is the file to read (it was ignored: stdin was read).
    src = write("from-file.jsonl", frame("file-user", B) + "\n")
    cfg = write("path-only.yaml", f"input:\n  path: {src}\n")
    r = run([UNIQD, "-c", cfg, "--windows", "minute", "--no-progress"], input=frame("stdin-user", B + 60) + "\n",
            timeout=20)
    expect(r.returncode == 0, f"input.path alone: exit {r.returncode}: {short(r.stderr)}")
    expect(finals(r.stdout) == [("minute", B, B + 60, 1, 1, 0)],
           f"input.path alone: results {finals(r.stdout)}, expected the file's one frame in minute B (stdin was read?)")
    # A path with another kind, or kind file without a path: refused, naming input.path.
    cases = [("kind-stdin", f"input:\n  kind: stdin\n  path: {src}\n", ["input.path", "input.kind is stdin"]),
             ("kind-kafka", f"input:\n  kind: kafka\n  path: {src}\n", ["input.path", "input.kind is kafka"]),
             ("file-no-path", "input:\n  kind: file\n", ["input.path", "kind file needs"]),
             ("file-empty-path", "input:\n  kind: file\n  path: ''\n", ["input.path", "kind file needs"])]
    for name, text, needles in cases:
        expect_refused(["-c", write(f"{name}.yaml", text)], needles, name)
    # A flag choosing another kind drops the file's path rather than tripping on it.
    r = run([UNIQD, "-c", cfg, "--input", "-", "--print-config"], timeout=10)
    expect(r.returncode == 0 and "  kind: stdin" in r.stdout.splitlines() and '  path: ""' in r.stdout.splitlines(),
           f"--input - over input.path: exit {r.returncode}: {short(r.stderr or r.stdout)}")


def check_integer_bounds_alike():
    for key, flag, bad, good, rng in [("parse_threads", "--parse-threads", "5000", "64", "-1 and 64"),
                                      ("parse_threads", "--parse-threads", "-2", "-1", "-1 and 64"),
                                      ("outlier_confirm", "--outlier-confirm", "30000", "1000", "1 and 1000"),
                                      ("partition_time_confirm", "--partition-time-confirm", "30000", "1000",
                                       "1 and 1000")]:
        cfg = write(f"{key}-{bad}.yaml", f"{key}: {bad}\n")
        expect_refused(["-c", cfg], [f"{key}: must be between {rng}, got {bad}"], f"{key}: {bad} in the file")
        expect_refused([flag, bad], [flag], f"{flag} {bad}")
        for args in (["-c", write(f"{key}-{good}.yaml", f"{key}: {good}\n")], [flag, good]):
            r = run([UNIQD] + args + ["--print-config"], timeout=10)
            expect(r.returncode == 0 and f"{key}: {good}" in r.stdout.splitlines(),
                   f"{' '.join(args)}: the bound {good} refused (exit {r.returncode}): {short(r.stderr)}")


def check_metrics_address_validated():
    for bad in ("127.0.0.1:99999", "127.0.0.1:9465abc", "127.0.0.1:-1", "127.0.0.1:", "127.0.0.1", ":9464"):
        expect_refused(["--metrics-address", bad], ["--metrics-address", f"'{bad}'", "port from 0 to 65535"],
                       f"--metrics-address {bad}")
        cfg = write("metrics.yaml", f"metrics_address: '{bad}'\n")
        expect_refused(["-c", cfg], [f"{cfg}:1:18: metrics_address: '{bad}'"], f"metrics_address: {bad}")
    for good in ("127.0.0.1:0", "0.0.0.0:65535", "[::1]:9464", ""):
        r = run([UNIQD, "--metrics-address", good, "--print-config"], timeout=10)
        expect(r.returncode == 0, f"--metrics-address {good!r} refused: {short(r.stderr)}")


def check_print_config_to_full_device():
    with open("/dev/full", "w") as full:
        r = run([UNIQD, "--print-config"], stdout=full, capture_output=False, stderr=subprocess.PIPE, timeout=10)
    expect(r.returncode == 1, f"--print-config > /dev/full: exit status {r.returncode}, expected 1: {short(r.stderr)}")
    expect("standard output" in r.stderr and "No space left on device" in r.stderr,
           f"--print-config > /dev/full: stderr does not name standard output and the cause: {short(r.stderr)}")


def check_print_config_checks_kafka_properties():
    # It printed these and exited 0; the same file then failed at start.
    # Each names the file, line and column of the key, as the loader's errors do.
    cases = [
        ("kafka:\n  consumer:\n    fetch.max.bytess: 100\n",
         [":3:5: kafka.consumer.fetch.max.bytess: ", "No such configuration property"]),
        ("kafka:\n  client:\n    security.protocol: SASL_SSLX\n",
         [":3:5: kafka.client.security.protocol: ", "SASL_SSLX"]),
        ("kafka:\n  producer:\n    linger.ms: 5\n    acks: 0\n", [":4:5: kafka.producer.acks: ", "not allowed"]),
        ("kafka:\n  consumer:\n    enable.auto.commit: true\n",
         [":3:5: kafka.consumer.enable.auto.commit: ", "not allowed"]),
    ]
    for i, (text, needles) in enumerate(cases):
        cfg = write(f"props-{i}.yaml", text)
        expect_refused(["-c", cfg, "--print-config"], [cfg + needles[0], *needles[1:]], f"--print-config of {text!r}")
    cfg = write("props-ok.yaml", "kafka:\n  client:\n    security.protocol: SASL_SSL\n  consumer:\n"
                "    fetch.max.bytes: 1048576\n")
    r = run([UNIQD, "-c", cfg, "--print-config"], timeout=10)
    expect(r.returncode == 0 and "fetch.max.bytes: 1048576" in r.stdout,
           f"--print-config refused valid properties: {r.returncode}: {short(r.stderr)}")


def check_retention_for_ever():
    # --partition-time-confirm 1: ptime is the largest ts. b at B+70 makes
    # W = B+65, so minute B is final; c at B+20 is then a late update:
    # revision 1 of minute B with a and c.
    stream = write("late.jsonl", "".join(frame(u, B + t) + "\n" for u, t in (("a", 10), ("b", 70), ("c", 20))))
    want = [("minute", B, B + 60, 1, 1, 0), ("minute", B, B + 60, 2, 2, 1), ("minute", B + 60, B + 120, 1, 1, 0)]
    o_finals, o_rej, _ = oracle(stream, ["--windows", "minute", "--late-policy", "update", "--retention", "1h",
                                         "--partition-time-confirm", "1"])
    expect(o_finals == want and not o_rej, f"the oracle says {o_finals}, rejects {dict(o_rej)}; expected {want}")
    for retention in ("1h", "9223372036854775807ms", "9223372036854775000ms"):
        r = run([UNIQD, "--input", stream, "--windows", "minute", "--late-policy", "update", "--retention", retention,
                 "--partition-time-confirm", "1", "--no-progress"], timeout=20)
        expect(r.returncode == 0, f"--retention {retention}: exit {r.returncode}: {short(r.stderr)}")
        expect(finals(r.stdout) == want, f"--retention {retention}: results {finals(r.stdout)}, expected {want}")
        expect(summary(r.stderr)["rejected"] == 0, f"--retention {retention}: rejects in {short(r.stderr)}")


def check_empty_flag_values():
    src = write("one.jsonl", frame("a", B) + "\n")
    cfg = write("windows.yaml", "windows: [minute]\n")
    for args, flag in [(["--input", ""], "--input"), (["--kafka", "", "--until-end"], "--kafka"),
                       (["--input", src, "--kafka", ""], "--kafka"),
                       (["-c", cfg, "--input", src, "--windows", ""], "--windows"), (["--config", ""], "--config")]:
        expect_refused(args, [flag, "empty"], " ".join(repr(a) for a in args))
    expect_refused(["--input", src, "--kafka", "127.0.0.1:1"], ["exclude each other"], "--input with --kafka")


def check_flags_taken_literally():
    # Flag values are used as written; ${...} is a file feature. The run
    # writes its rejects to the path as spelled, and --print-config writes it
    # so that it loads back as the same text.
    src = write("bad.jsonl", "not json\n")
    os.makedirs(path("${env:HOME}"), exist_ok=True)
    for rejects in ("a${b}", "${env:HOME}/x", "$${c}"):
        r = run([UNIQD, "--input", src, "--rejects", rejects, "--no-progress"], cwd=WORK, timeout=20)
        expect(r.returncode == 0, f"--rejects {rejects}: exit {r.returncode}: {short(r.stderr)}")
        with open(path(rejects)) as f:
            got = [json.loads(l)["reason"] for l in f]
        expect(got == ["malformed_json"], f"--rejects {rejects}: {path(rejects)} holds {got}")
        r = run([UNIQD, "--rejects", rejects, "--print-config"], timeout=10)
        expect(r.returncode == 0, f"--rejects {rejects} --print-config: exit {r.returncode}: {short(r.stderr)}")
        back = print_config_via_fd(r.stdout)
        expect(back.returncode == 0 and back.stdout == r.stdout,
               f"--rejects {rejects}: the printed config does not load back the same: {short(back.stderr)}\n"
               f"{r.stdout}---\n{back.stdout}")
    # The file's own escape, "$${" for a literal "${", survives the flags' check.
    cfg = write("escaped.yaml", "rejects_path: \"$${x}\"\n")
    r = run([UNIQD, "-c", cfg, "--print-config"], timeout=10)
    expect(r.returncode == 0 and 'rejects_path: $${x}' in r.stdout.splitlines(),
           f"rejects_path: $${{x}} in the file: exit {r.returncode}: {short(r.stderr or r.stdout)}")


def check_oracle_nul_and_help():
    r = run([ORACLE, "--help"], timeout=10)
    expect(r.returncode == 0 and "usage: uniqd-oracle" in r.stdout, f"uniqd-oracle --help: exit {r.returncode}, "
                                                                   f"stdout {short(r.stdout)}, stderr {short(r.stderr)}")
    # A NUL byte after a complete frame, and one inside a string.
    data = (frame("a", B).encode() + b"\0garbage\n" + b'{"uid":"b\0","ts":%d}\n' % B + frame("c", B + 1).encode()
            + b"\n")
    rej = path("nul.rejects")
    r, s = stdin_run("nul.jsonl", data, ["--rejects", rej, "--windows", "minute"])
    with open(rej) as f:
        got = sorted((j["line"], j["reason"]) for j in map(json.loads, f))
    expect(got == [(1, "malformed_json"), (2, "malformed_json")], f"uniqd rejects {got}")
    o_finals, o_rej, _ = oracle(path("nul.jsonl"), ["--windows", "minute"])
    expect(o_rej == collections.Counter({"malformed_json": 2}), f"the oracle rejects {dict(o_rej)}, expected 2 "
                                                                f"malformed_json")
    expect(o_finals == finals(r.stdout.decode()) == [("minute", B, B + 60, 1, 1, 0)],
           f"results: uniqd {finals(r.stdout.decode())}, oracle {o_finals}")


CHECKS = [
    ("config_errors", check_config_errors),
    ("config_missing_file", check_config_missing_file),
    ("bad_flag_value", check_bad_flag_value),
    ("flags_override_file", check_flags_override_file),
    ("lateness_changes_results", check_lateness_changes_results),
    ("print_config_round_trip", check_print_config_round_trip),
    ("metrics", check_metrics),
    ("sigterm", lambda: check_stop_signal(signal.SIGTERM)),
    ("sigint", lambda: check_stop_signal(signal.SIGINT)),
    ("sighup", lambda: check_stop_signal(signal.SIGHUP)),
    ("random_bytes", check_random_bytes),
    ("huge_line", check_huge_line),
    ("blank_lines", check_blank_lines),
    ("missing_input", check_missing_input),
    ("unwritable_rejects", check_unwritable_rejects),
    ("flags_checked_like_the_file", check_known_bug_print_config_invalid_flags),
    ("write_error_at_end", check_write_error_at_end),
    ("write_error_mid_stream", check_write_error_mid_stream),
    ("file_modes_agree", check_file_modes_agree),
    ("input_path_and_kind", check_input_path_and_kind),
    ("integer_bounds_alike", check_integer_bounds_alike),
    ("metrics_address_validated", check_metrics_address_validated),
    ("print_config_to_full_device", check_print_config_to_full_device),
    ("print_config_checks_kafka_properties", check_print_config_checks_kafka_properties),
    ("retention_for_ever", check_retention_for_ever),
    ("empty_flag_values", check_empty_flag_values),
    ("flags_taken_literally", check_flags_taken_literally),
    ("oracle_nul_and_help", check_oracle_nul_and_help),
]
KNOWN_BUGS = []


def main():
    global ARGS, UNIQD, GEN, ORACLE, WORK
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--keep", help="work directory to keep (default: a temporary one, removed on success)")
    ap.add_argument("--only", help="comma-separated check names")
    ap.add_argument("--known-bugs", action="store_true", help="also run the checks of reported, unfixed bugs")
    ARGS = ap.parse_args()
    build = os.path.abspath(ARGS.build)
    UNIQD, GEN, ORACLE = (os.path.join(build, n) for n in ("uniqd", "uniqd-gen", "uniqd-oracle"))
    for b in (UNIQD, GEN, ORACLE):
        if not os.access(b, os.X_OK):
            print(f"FAILED setup: {b} is not built")
            print("0 passed, 1 failed")
            return 1
    WORK = os.path.abspath(ARGS.keep) if ARGS.keep else tempfile.mkdtemp(prefix="uniqd-cli-")
    os.makedirs(WORK, exist_ok=True)
    checks = CHECKS + (KNOWN_BUGS if ARGS.known_bugs else [])
    if ARGS.only:
        names = set(ARGS.only.split(","))
        checks = [c for c in CHECKS + KNOWN_BUGS if c[0] in names]
    passed = failed = 0
    for name, fn in checks:
        t0 = time.monotonic()
        sub = os.path.join(WORK, name)
        os.makedirs(sub, exist_ok=True)
        WORK, top = sub, WORK
        try:
            fn()
            print(f"ok {name} ({time.monotonic() - t0:.1f} s)", flush=True)
            passed += 1
        except Fail as e:
            print(f"FAILED {name}: {e}", flush=True)
            failed += 1
        except subprocess.TimeoutExpired as e:
            print(f"FAILED {name}: timed out after {e.timeout} s: {' '.join(map(str, e.cmd))[:300]}", flush=True)
            failed += 1
        except Exception:
            print(f"FAILED {name}: unexpected error:\n{traceback.format_exc()}", flush=True)
            failed += 1
        finally:
            WORK = top
    print(f"{passed} passed, {failed} failed")
    if failed:
        print(f"work files kept in {WORK}")
    elif not ARGS.keep:
        shutil.rmtree(WORK, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
