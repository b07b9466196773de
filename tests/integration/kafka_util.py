"""Helpers for tests of uniqd against a real Kafka broker (standard library only).

The broker comes from tests/integration/with_broker.sh, which exports
UNIQD_TEST_BROKERS (bootstrap address) and UNIQD_TEST_BROKER_DIR (for
`scripts/kafka restart|stop|start|topics --dir`). Topics are read back with
kcat (binary-safe: payload lengths, headers, partition and offset).

Typical use:

    env = Env.from_environment(build_dir)          # exits 77 (skipped) without a broker
    names = env.names("case-a")                    # unique topics and group per run
    env.create_topic(names.input, partitions=1)
    env.gen_file(frames, GEN_OPTS)                 # the oracle's input
    env.gen_kafka(names.input, GEN_OPTS, partitions=1, key="uid")   # the same lines, one message each
    run = env.uniqd_kafka(names, FLAGS, until_end=True)
    got = final_results(env.read_topic(names.output))
    want = final_results_from_oracle(env.oracle(frames, FLAGS))
    check(compare_finals(got, want))

Everything that can block is bounded by a timeout; a failure raises
TestFailure with a message meant for the person reading the test log.
"""
from __future__ import annotations

import base64
import collections
import dataclasses
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Callable, Iterable, Optional

SKIP = 77  # ctest SKIP_RETURN_CODE

# Extra kcat arguments for every read (a secured broker: ["-F", "DIR/kcat.conf"]).
KCAT_ARGS: list[str] = []


class TestFailure(Exception):
    pass


def fail(msg: str) -> None:
    raise TestFailure(msg)


def log(msg: str) -> None:
    print(msg, flush=True)


def tail(text: str | bytes, lines: int = 30) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------- processes


def run(cmd: list[str], timeout: float, what: str = "", check: bool = True, **kw) -> subprocess.CompletedProcess:
    """Runs cmd with a timeout; TestFailure on timeout or (check) non-zero exit."""
    what = what or os.path.basename(cmd[0])
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        fail(f"{what} did not finish within {timeout:.0f} s: {' '.join(cmd)}\n{tail(e.stderr or b'')}")
    if check and p.returncode != 0:
        fail(f"{what} exited {p.returncode}: {' '.join(cmd)}\n{tail(p.stderr)}")
    return p


def wait_for(pred: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return
        if time.monotonic() >= deadline:
            fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclasses.dataclass
class Names:
    """Topic and group names unique to one test run (and one case)."""

    input: str
    output: str
    dead_letter: str
    app_id: str

    def derived(self, tag: str) -> "Names":
        """Another output/dead-letter/group set reading the same input."""
        return Names(self.input, f"{self.output}-{tag}", f"{self.dead_letter}-{tag}", f"{self.app_id}-{tag}")


@dataclasses.dataclass
class UniqdRun:
    returncode: int
    stderr: str
    seconds: float

    @property
    def latency(self) -> Optional[dict]:
        return parse_latency(self.stderr)


class Background:
    """A uniqd (or any) process in the background, stderr to a file."""

    def __init__(self, cmd: list[str], log_path: str):
        self.cmd = cmd
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log)

    def running(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait(self, timeout: float) -> UniqdRun:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            fail(f"{' '.join(self.cmd)} did not finish within {timeout:.0f} s\n{tail(self.stderr())}")
        self._log.close()
        return UniqdRun(rc, self.stderr(), time.monotonic() - self.started)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> UniqdRun:
        if self.running():
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.running():
            self.proc.kill()
            self.proc.wait(timeout=30)

    def metrics_port(self) -> Optional[int]:
        m = re.search(r"metrics on http://[^:\s]+:(\d+)/metrics", self.stderr())
        return int(m.group(1)) if m else None


def parse_latency(stderr: str) -> Optional[dict]:
    """uniqd's closing line 'results readable on T X ms on average ... (max Y ms, N results)'."""
    m = re.search(r"results readable on (\S+) ([0-9.]+) ms on average.*?\(max ([0-9.]+) ms, (\d+) results\)", stderr)
    if not m:
        return None
    return {"topic": m.group(1), "avg_ms": float(m.group(2)), "max_ms": float(m.group(3)), "results": int(m.group(4))}


def scrape_metrics(port: int, timeout: float = 5) -> dict:
    """/metrics as {'name{labels}': value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def consumed_bytes(proc: "Background", port: Optional[int]) -> float:
    """uniqd_consumed_bytes_total of a running uniqd (-1 when unreadable); fails if it exited."""
    if not proc.running():
        fail(f"uniqd exited unexpectedly (status {proc.proc.returncode}):\n{tail(proc.stderr())}")
    if port is None:
        return -1
    try:
        return scrape_metrics(port).get("uniqd_consumed_bytes_total", -1)
    except OSError:
        return -1


def nonblank_bytes(lines: list) -> int:
    """Bytes uniqd counts as consumed for these messages: blank ones (only spaces, tabs, CR, LF) are not."""
    return sum(len(l) for l in lines if l.strip(b" \t\r\n"))


# ---------------------------------------------------------------- environment


class Env:
    def __init__(self, brokers: str, broker_dir: str, kafka_script: str, uniqd: str, gen: str, oracle: str,
                 work: str):
        self.brokers = brokers
        self.broker_dir = broker_dir
        self.kafka = kafka_script
        self.uniqd = uniqd
        self.gen = gen
        self.oracle_bin = oracle
        self.work = work
        self.run_id = f"{os.getpid()}-{int(time.time() * 1000) % 10**9}-{random.randrange(10**6)}"
        # Extra uniqd-gen arguments (a secured broker: --kafka-property ...).
        self.gen_args: list[str] = []

    @classmethod
    def from_environment(cls, uniqd: str, gen: str, oracle: str, keep: Optional[str] = None) -> "Env":
        """Exits 77 (skipped) when no broker is configured."""
        brokers = os.environ.get("UNIQD_TEST_BROKERS", "")
        if not brokers:
            print("skipped: UNIQD_TEST_BROKERS is not set (run under tests/integration/with_broker.sh)")
            sys.exit(SKIP)
        here = os.path.dirname(os.path.abspath(__file__))
        kafka = os.environ.get("UNIQD_KAFKA") or os.path.join(here, "..", "..", "scripts", "kafka")
        for path in (uniqd, gen, oracle):
            if not os.access(path, os.X_OK):
                fail(f"{path} is not an executable (build first)")
        if keep:
            os.makedirs(keep, exist_ok=True)
            work = keep
        else:
            work = tempfile.mkdtemp(prefix="uniqd-kafka-test-")
        for tool in ("kcat",):
            if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
                fail(f"{tool} not found (scripts/deps installs it)")
        return cls(brokers, os.environ.get("UNIQD_TEST_BROKER_DIR", ""), os.path.abspath(kafka), uniqd, gen, oracle,
                   work)

    def uniqd_has_flag(self, flag: str) -> bool:
        """Whether uniqd --help lists flag (flags come and go while uniqd grows)."""
        if not hasattr(self, "_help"):
            self._help = run([self.uniqd, "--help"], 30, "uniqd --help").stdout.decode()
        return re.search(re.escape(flag) + r"\b", self._help) is not None

    def path(self, name: str) -> str:
        return os.path.join(self.work, name)

    def names(self, case: str) -> Names:
        base = f"it-{case}-{self.run_id}"
        return Names(f"{base}-in", f"{base}-out", f"{base}-dlq", f"{base}-app")

    # ---- broker

    def _need_dir(self) -> None:
        if not self.broker_dir:
            fail("UNIQD_TEST_BROKER_DIR is not set: this test restarts the broker (use with_broker.sh)")

    def broker(self, command: str, *args: str, timeout: float = 180) -> None:
        """scripts/kafka COMMAND --dir DIR ARGS (start, stop, restart; --kill for a crash)."""
        self._need_dir()
        run([self.kafka, command, "--dir", self.broker_dir, *args], timeout, f"scripts/kafka {command}")

    def broker_answers(self) -> bool:
        p = subprocess.run(["kcat", *KCAT_ARGS, "-b", self.brokers, "-L", "-m", "3"], capture_output=True, timeout=15)
        return p.returncode == 0 and b"broker 1 at" in p.stdout

    def create_topic(self, topic: str, partitions: int, configs: Optional[dict] = None, timeout: float = 90) -> None:
        self._need_dir()
        cmd = [self.kafka, "topics", "--dir", self.broker_dir, "--create", "--topic", topic,
               "--partitions", str(partitions), "--replication-factor", "1"]
        for k, v in (configs or {}).items():
            cmd += ["--config", f"{k}={v}"]
        run(cmd, timeout, "scripts/kafka topics --create")

    # ---- generator

    @staticmethod
    def _flags(opts: dict) -> list[str]:
        out = []
        for k, v in opts.items():
            out += [k, str(v)]
        return out

    def gen_file(self, path: str, opts: dict, truth: Optional[str] = None, timeout: float = 300) -> None:
        cmd = [self.gen, "--output", path, *self._flags(opts)]
        if truth:
            cmd += ["--truth", truth]
        run(cmd, timeout, "uniqd-gen")

    def gen_kafka(self, topic: str, opts: dict, partitions: int, key: str = "uid", timeout: float = 300) -> list[int]:
        """Produces the same lines as gen_file(opts), one message per line (blank lines too),
        in order; with key uid a user's frames all go to partition user % partitions, with
        key none line i goes to partition i % partitions. Returns messages per partition."""
        cmd = [self.gen, "--kafka", self.brokers, "--topic", topic, "--partitions", str(partitions), "--key", key,
               *self.gen_args, *self._flags(opts)]
        p = run(cmd, timeout, "uniqd-gen --kafka")
        m = re.search(r"produced to \S+:((?: \[\d+\]=\d+)+)", p.stderr.decode())
        if not m:
            fail(f"uniqd-gen --kafka did not report what it produced:\n{tail(p.stderr)}")
        return [int(n) for n in re.findall(r"\]=(\d+)", m.group(1))]

    # ---- uniqd and the oracle

    def uniqd_kafka_cmd(self, names: Names, flags: list[str], until_end: bool = True,
                        guarantee: Optional[str] = None, metrics: bool = False) -> list[str]:
        cmd = [self.uniqd, "--kafka", self.brokers, "--topic", names.input, "--output-topic", names.output,
               "--dead-letter-topic", names.dead_letter, "--application-id", names.app_id, "--no-progress", *flags]
        if guarantee:
            cmd += ["--guarantee", guarantee]
        if until_end:
            cmd.append("--until-end")
        if metrics:
            cmd += ["--metrics-address", "127.0.0.1:0"]
        return cmd

    def uniqd_kafka(self, names: Names, flags: list[str], until_end: bool = True, guarantee: Optional[str] = None,
                    timeout: float = 300, check: bool = True) -> UniqdRun:
        cmd = self.uniqd_kafka_cmd(names, flags, until_end, guarantee)
        t0 = time.monotonic()
        p = run(cmd, timeout, "uniqd --kafka", check=check)
        return UniqdRun(p.returncode, p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)

    def start_uniqd_kafka(self, names: Names, flags: list[str], log_name: str, until_end: bool = False,
                          guarantee: Optional[str] = None, metrics: bool = False) -> Background:
        return Background(self.uniqd_kafka_cmd(names, flags, until_end, guarantee, metrics), self.path(log_name))

    def uniqd_file(self, frames: str, flags: list[str], rejects: Optional[str] = None, timeout: float = 300) -> list[dict]:
        """uniqd in file mode; returns every result line (early ones too)."""
        cmd = [self.uniqd, "--input", frames, "--no-progress", *flags]
        if rejects:
            cmd += ["--rejects", rejects]
        p = run(cmd, timeout, "uniqd --input")
        return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]

    def oracle(self, frames: str, flags: list[str], rejects: Optional[str] = None, timeout: float = 600) -> list[dict]:
        """uniqd-oracle: the final results (every revision), in emission order."""
        cmd = [self.oracle_bin, "--input", frames, *flags]
        if rejects:
            cmd += ["--rejects", rejects]
        p = run(cmd, timeout, "uniqd-oracle")
        return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]

    # ---- reading topics

    # exactly_once runs are read as their users would: committed records only.
    read_committed_default = False

    def read_topic(self, topic: str, read_committed: Optional[bool] = None, timeout: float = 120) -> list["Record"]:
        if read_committed is None:
            read_committed = self.read_committed_default
        return read_topic(self.brokers, topic, read_committed, timeout)


# ---------------------------------------------------------------- records


@dataclasses.dataclass
class Record:
    partition: int
    offset: int
    key: Optional[bytes]
    value: Optional[bytes]
    headers: dict

    def json(self) -> dict:
        return json.loads(self.value)


_HEADER_FMT = "%p\\t%o\\t%K\\t%S\\t%h\\n%k%s\\n"


def read_topic(brokers: str, topic: str, read_committed: bool = False, timeout: float = 120) -> list[Record]:
    """Every message of topic, from the beginning to the end as of now, with partition, offset,
    key, value and headers (binary-safe). Sorted by (partition, offset).
    read_committed: only committed transactional messages (aborted ones are skipped)."""
    cmd = ["kcat", *KCAT_ARGS, "-b", brokers, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", _HEADER_FMT,
           "-X", f"isolation.level={'read_committed' if read_committed else 'read_uncommitted'}"]
    p = run(cmd, timeout, f"kcat -C -t {topic}")
    data = p.stdout
    out = []
    i = 0
    n = len(data)
    while i < n:
        nl = data.index(b"\n", i)
        head = data[i:nl].split(b"\t", 4)
        if len(head) != 5:
            fail(f"kcat output of {topic} not understood at byte {i}: {data[i:i + 200]!r}")
        part, off, klen, vlen, hdrs = int(head[0]), int(head[1]), int(head[2]), int(head[3]), head[4]
        i = nl + 1
        key = None
        if klen >= 0:
            key = data[i:i + klen]
            i += klen
        value = None
        if vlen >= 0:
            value = data[i:i + vlen]
            i += vlen
        if data[i:i + 1] != b"\n":
            fail(f"kcat output of {topic} out of step at byte {i} (partition {part} offset {off})")
        i += 1
        headers = {}
        if hdrs:
            for kv in hdrs.decode("utf-8", "replace").split(","):
                k, _, v = kv.partition("=")
                headers[k] = v
        out.append(Record(part, off, key, value, headers))
    out.sort(key=lambda r: (r.partition, r.offset))
    return out


def count_messages(brokers: str, topic: str, timeout: float = 60) -> int:
    """Messages currently in topic (0 when it does not exist yet)."""
    p = subprocess.run(["kcat", *KCAT_ARGS, "-b", brokers, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "x\\n"],
                       capture_output=True, timeout=timeout)
    return p.stdout.count(b"\n") if p.returncode == 0 else 0


# ---------------------------------------------------------------- results


@dataclasses.dataclass
class Finals:
    """Final results of a results stream.

    latest:     {(window, start_ts): the result with the highest revision}
    history:    {(window, start_ts): [(revision, unique_users, frames), ...]} in stream order
    duplicates: [(window, start_ts, revision)] emitted more than once (each extra copy once)
    conflicts:  messages: the same (window, start_ts, revision) with different counts, or a
                Kafka key that does not match the value
    early:      number of non-final results seen
    """

    latest: dict
    history: dict
    duplicates: list
    conflicts: list
    early: int

    def unique_users(self) -> dict:
        return {k: r["unique_users"] for k, r in self.latest.items()}


def _finals(results: Iterable[dict], keys: Optional[Iterable[Optional[bytes]]] = None) -> Finals:
    latest, history, seen = {}, collections.defaultdict(list), {}
    duplicates, conflicts, early = [], [], 0
    keys = list(keys) if keys is not None else None
    for i, r in enumerate(results):
        if keys is not None:
            want_key = f"{r['window']}/{r['start_ts']}".encode()
            if keys[i] != want_key:
                conflicts.append(f"record key {keys[i]!r} does not match its value {want_key!r}")
        if not r.get("final"):
            early += 1
            continue
        k = (r["window"], r["start_ts"])
        rev = r.get("revision", 0)
        counts = (r["unique_users"], r["frames"])
        if (k, rev) in seen:
            duplicates.append((k[0], k[1], rev))
            if seen[(k, rev)] != counts:
                conflicts.append(f"{k[0]}/{k[1]} revision {rev} emitted twice with different counts: "
                                 f"{seen[(k, rev)]} then {counts} (unique_users, frames)")
            continue
        seen[(k, rev)] = counts
        history[k].append((rev, r["unique_users"], r["frames"]))
        if k not in latest or rev >= latest[k].get("revision", 0):
            latest[k] = r
    return Finals(latest, dict(history), duplicates, conflicts, early)


def final_results(records: list[Record]) -> Finals:
    """From the records of an output topic (read_topic)."""
    values = []
    for rec in records:
        try:
            values.append(rec.json())
        except (ValueError, TypeError):
            fail(f"output record at partition {rec.partition} offset {rec.offset} is not JSON: {rec.value!r}")
    return _finals(values, [r.key for r in records])


def final_results_from_lines(results: list[dict]) -> Finals:
    """From parsed result lines (the oracle's stdout, uniqd's file-mode stdout)."""
    return _finals(results)


def compare_finals(got: Finals, want: Finals, fields: tuple = ("unique_users", "frames", "revision"),
                   allow_duplicates: bool = False, history: bool = False, limit: int = 8,
                   revision_frames: bool = True) -> list[str]:
    """Problems (empty when equal): missing/extra windows, differing fields of the highest
    revision, conflicting duplicates; duplicates themselves unless allowed; with history,
    every window's sequence of (revision, unique_users, frames) must be the same.
    revision_frames=False: the frames of revisions after the first are not compared (uniqd
    in Kafka mode sums shards: a late revision's frames are its shards' as of their own
    revisions, docs/SCALE_OUT.md); revision numbers and users still are."""
    if not revision_frames:
        def strip(f: Finals) -> Finals:
            latest = {k: (dict(r, frames=None) if r.get("revision", 0) > 0 else r) for k, r in f.latest.items()}
            hist = {k: [(rev, u, fr if rev == 0 else None) for rev, u, fr in h] for k, h in f.history.items()}
            return Finals(latest, hist, f.duplicates, f.conflicts, f.early)
        got, want = strip(got), strip(want)
    problems = list(got.conflicts)
    missing = sorted(set(want.latest) - set(got.latest))
    extra = sorted(set(got.latest) - set(want.latest))
    if missing:
        problems.append(f"{len(missing)} final windows missing from the output, e.g. {missing[:limit]}")
    if extra:
        problems.append(f"{len(extra)} final windows not in the oracle's results, e.g. {extra[:limit]}")
    diffs = []
    for k in sorted(set(got.latest) & set(want.latest)):
        g, w = got.latest[k], want.latest[k]
        d = {f: (g.get(f), w.get(f)) for f in fields if g.get(f) != w.get(f)}
        if d:
            diffs.append(f"{k[0]}/{k[1]}: " + ", ".join(f"{f} got {a} want {b}" for f, (a, b) in d.items()))
    if diffs:
        problems.append(f"{len(diffs)} final windows differ from the oracle:\n    " + "\n    ".join(diffs[:limit]))
    if history:
        hd = [f"{k[0]}/{k[1]}: got {got.history.get(k)} want {want.history.get(k)}"
              for k in sorted(set(got.history) | set(want.history)) if got.history.get(k) != want.history.get(k)]
        if hd:
            problems.append(f"{len(hd)} windows have a different revision history:\n    " + "\n    ".join(hd[:limit]))
    if got.duplicates and not allow_duplicates:
        problems.append(f"{len(got.duplicates)} final results emitted more than once, e.g. {got.duplicates[:limit]}")
    return problems


# ---------------------------------------------------------------- rejects


@dataclasses.dataclass
class DeadLetter:
    reason: str
    topic: str
    partition: int
    offset: int
    value: bytes
    truncated: bool
    full_size: int  # uniqd.bytes when truncated, else len(value)
    record: Record


def dead_letters(records: list[Record]) -> list[DeadLetter]:
    out = []
    for r in records:
        h = r.headers
        for need in ("uniqd.reason", "uniqd.topic", "uniqd.partition", "uniqd.offset"):
            if need not in h:
                fail(f"dead letter at partition {r.partition} offset {r.offset} lacks header {need} (has {h})")
        truncated = h.get("uniqd.truncated") == "true"
        value = r.value or b""
        full = int(h["uniqd.bytes"]) if "uniqd.bytes" in h else len(value)
        if truncated != ("uniqd.bytes" in h):
            fail(f"dead letter at {r.partition}/{r.offset}: uniqd.truncated and uniqd.bytes must come together ({h})")
        out.append(DeadLetter(h["uniqd.reason"], h["uniqd.topic"], int(h["uniqd.partition"]), int(h["uniqd.offset"]),
                              value, truncated, full, r))
    return out


def read_rejects_file(path: str) -> list[dict]:
    """uniqd/oracle --rejects FILE: {reason, line, ...}; 'frame_bytes' added when the frame is given."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if "frame" in r:
                r["frame_bytes"] = r["frame"].encode("utf-8")
            elif "frame_base64" in r:
                r["frame_bytes"] = base64.b64decode(r["frame_base64"])
            out.append(r)
    return out


def raw_lines(path: str) -> list[bytes]:
    """The file's lines exactly as uniqd-gen --kafka produces them: split at \\n only (a \\r stays),
    no empty last element."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


TRUNCATE_KEEP = 1024  # too_large: the first KiB is kept


def check_dead_letter_bytes(dls: list[DeadLetter], inputs: dict, input_topic: str, limit: int = 5) -> list[str]:
    """Every dead letter names a message of input_topic ({(partition, offset): bytes}) and carries its bytes
    (a too_large one: the first KiB, with uniqd.truncated and uniqd.bytes = the full size)."""
    problems = []
    for d in dls:
        where = f"dead letter {d.reason} for {d.partition}/{d.offset}"
        if d.topic != input_topic:
            problems.append(f"{where}: uniqd.topic is {d.topic}, not {input_topic}")
            continue
        src = inputs.get((d.partition, d.offset))
        if src is None:
            problems.append(f"{where}: no such input message")
            continue
        if len(src) > TRUNCATE_KEEP and d.reason == "too_large":
            ok = d.truncated and d.value == src[:TRUNCATE_KEEP] and d.full_size == len(src)
        else:
            ok = not d.truncated and d.value == src
        if not ok:
            problems.append(f"{where}: bytes differ from the input message (dead letter {len(d.value)} bytes, "
                            f"truncated={d.truncated}, uniqd.bytes={d.full_size}; input {len(src)} bytes)")
        if len(problems) >= limit:
            break
    return problems


def input_messages(records: list[Record]) -> dict:
    return {(r.partition, r.offset): (r.value or b"") for r in records}


def check(problems: list[str], what: str) -> None:
    """Logs 'ok: WHAT', or fails with 'expected: WHAT' and the problems."""
    if problems:
        fail(f"expected: {what}\nbut:\n  " + "\n  ".join(problems))
    log(f"  ok: {what}")
