#!/usr/bin/env python3
"""The deployment tier: uniqd's container image, docker/compose.yaml and the alert rules, run with
real tools (podman, podman-compose, promtool). One case per invocation:

    deploy_test.py image      build the base + uniqd images; --help; non-root; the image's config
                              accepted; generated frames through `--input -` equal the oracle;
                              SIGTERM to PID 1 ends the run with exit 0 and its results
    deploy_test.py compose    docker/compose.yaml with tests/deploy/compose.kafka.yaml (Kafka for
                              Redpanda): two replicas share the tasks (uniqd_tasks on each), frames
                              produced, the replica holding the count tasks killed -9 while it works
                              and restarted by its restart policy, the tasks shared again and their
                              state restored, results (read_committed) equal the oracle, each window
                              once; Prometheus scrapes both and loads the alert rules; stop is
                              SIGTERM, exit 0 for both
    deploy_test.py k8s        kubectl kustomize base + overlay; a real kube-apiserver + etcd (built from
                              the Go module proxy, scripts/k8s-tools) accepts them (server-side dry
                              run, strict), stores the overlay, refuses two broken manifests; the
                              ConfigMap's config with the pod's environment (Secret included) is
                              accepted by uniqd --print-config, which hides the password;
                              ports and paths agree between config, image and manifests
    deploy_test.py scram      tests/integration/scram_image.sh with the image: SCRAM-SHA-512 against
                              the secured test broker, ACLs, kill -9, equal to the oracle
    deploy_test.py rules      promtool check rules on docker/prometheus/alerts.yaml, promtool test
                              rules on its unit tests; the Grafana dashboard is JSON naming only
                              metrics uniqd exports; docker-compose config -q accepts compose.yaml

Every wait is bounded; containers, volumes and networks made here are removed at the end
(UNIQD_DEPLOY_KEEP=1 keeps them for a look).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTAINER = os.path.join(REPO, "scripts", "container")
IMAGE = os.environ.get("UNIQD_IMAGE", "localhost/uniqd:dev")
KEEP = os.environ.get("UNIQD_DEPLOY_KEEP") == "1"


class TestFailure(Exception):
    pass


def log(msg: str) -> None:
    print(f"[deploy {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], timeout: float, check: bool = True, **kw) -> subprocess.CompletedProcess:
    if "stdout" not in kw and "stderr" not in kw:
        kw.setdefault("capture_output", True)
    try:
        p = subprocess.run(cmd, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"timed out after {timeout:.0f} s: {' '.join(cmd)}")
    if check and p.returncode != 0:
        err = p.stderr.decode(errors="replace") if isinstance(p.stderr, bytes) else (p.stderr or "")
        raise TestFailure(f"exit {p.returncode}: {' '.join(cmd)}\n{err[-3000:]}")
    return p


def podman(*args: str, timeout: float = 120, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return run([CONTAINER, "podman", *args], timeout, check, **kw)


def finals(stdout: bytes) -> list[tuple]:
    """Final results (window, start_ts, unique_users, frames, revision) in emission order."""
    out = []
    for line in stdout.decode().splitlines():
        r = json.loads(line)
        if r.get("final"):
            out.append((r["window"], r["start_ts"], r["unique_users"], r["frames"], r.get("revision", 0)))
    return out


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise TestFailure(msg)


# ---------------------------------------------------------------- image


def case_image() -> None:
    t0 = time.monotonic()
    run([CONTAINER, "image"], 3600, capture_output=False)
    log(f"images ready in {time.monotonic() - t0:.0f} s")
    size = int(podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.decode().strip())
    log(f"{IMAGE}: {size / 1e6:.1f} MB")

    cfg = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
    conf = cfg.get("Config") or {}
    health = (cfg.get("Healthcheck") or conf.get("Healthcheck") or {}).get("Test") or []
    check(any("/healthz" in t for t in health), f"image has no HEALTHCHECK on /healthz: {health}")
    check("9464/tcp" in (conf.get("ExposedPorts") or {}), f"port 9464 not exposed: {conf.get('ExposedPorts')}")
    check("/var/lib/uniqd" in (conf.get("Volumes") or {}), f"/var/lib/uniqd is not a volume: {conf.get('Volumes')}")
    check(conf.get("User", "").split(":")[0] not in ("", "0", "root"), f"image runs as root: {conf.get('User')!r}")

    h = podman("run", "--rm", IMAGE, "--help").stdout.decode()
    check("--input" in h and "--kafka" in h, f"uniqd --help says: {h[:500]}")
    uid = podman("run", "--rm", "--entrypoint", "id", IMAGE, "-u").stdout.decode().strip()
    check(uid != "0", "uniqd's user in the image is root")
    # The configuration baked in at /etc/uniqd/uniqd.yaml must load as it is.
    printed = podman("run", "--rm", IMAGE, "--print-config").stdout.decode()
    for want in ("metrics_address: 0.0.0.0:9464", "state_dir: /var/lib/uniqd"):
        check(want in printed, f"--print-config of the image's config lacks '{want}':\n{printed}")
    podman("run", "--rm", "--entrypoint", "uniqd-gen", IMAGE, "--help")
    podman("run", "--rm", "--entrypoint", "uniqd-oracle", IMAGE, "--input", "/dev/null")

    with tempfile.TemporaryDirectory(prefix="uniqd-deploy-") as work:
        frames = os.path.join(work, "frames.jsonl")
        gen = ["--count", "30000", "--rate", "5", "--users", "3000", "--seed", "11", "--delay-prob", "0.05",
               "--max-delay", "4", "--malformed-prob", "0.01", "--flip-prob", "0.001", "--start", "1700000000"]
        with open(frames, "wb") as f:
            podman("run", "--rm", "--entrypoint", "uniqd-gen", IMAGE, *gen, timeout=300, stdout=f,
                   stderr=subprocess.PIPE)
        flags = ["--windows", "minute,hour,day"]
        with open(frames, "rb") as f:
            eng = podman("run", "--rm", "-i", "--no-healthcheck", IMAGE, "--input", "-", "--no-progress", *flags,
                         timeout=300, stdin=f)
        with open(frames, "rb") as f:
            orc = podman("run", "--rm", "-i", "--entrypoint", "uniqd-oracle", IMAGE, "--input", "-", *flags,
                         timeout=300, stdin=f)
        ef, of = finals(eng.stdout), finals(orc.stdout)
        check(len(of) > 50, f"the oracle gave only {len(of)} final results: the case tests nothing")
        if ef != of:
            first = next((i for i, (a, b) in enumerate(zip(ef, of)) if a != b), min(len(ef), len(of)))
            raise TestFailure(f"uniqd in the image differs from the oracle at final result #{first}: "
                              f"{ef[first:first + 1]} vs {of[first:first + 1]} ({len(ef)} vs {len(of)} results)")
        log(f"--input -: {len(ef)} final results equal the oracle's")
        check_parse_threads_follow_cpu_limit()

        # SIGTERM reaches uniqd as PID 1: it emits what is due and exits 0 (podman stop sends
        # STOPSIGNAL, then KILL after -t seconds; a KILL would give 137).
        name = f"uniqd-deploy-sigterm-{os.getpid()}"
        fifo_dir = os.path.join(work, "in")
        os.mkdir(fifo_dir)
        os.chmod(fifo_dir, 0o777)
        podman("run", "-d", "--name", name, "-v", f"{fifo_dir}:/in:z", "--entrypoint", "/bin/bash", IMAGE,
               "-c", "mkfifo /in/f && exec /usr/local/bin/uniqd --config /etc/uniqd/uniqd.yaml "
                     "--input /in/f --no-progress --windows minute > /in/out.jsonl")
        try:
            fifo = os.path.join(fifo_dir, "f")
            deadline = time.monotonic() + 30
            while not os.path.exists(fifo):
                check(time.monotonic() < deadline, "the container never made its fifo")
                time.sleep(0.2)
            # Keep the writer open (uniqd reads on) while the signal comes.
            w = open(fifo, "wb")
            with open(frames, "rb") as f:
                w.write(f.read(2_000_000))
            w.flush()
            wait_ready(name, 60)
            # The image's HEALTHCHECK command, run once by hand (no systemd timer runs it here).
            hc = podman("healthcheck", "run", name, check=False, timeout=30)
            check(hc.returncode == 0, f"podman healthcheck run {name}: exit {hc.returncode} "
                  f"{hc.stdout.decode(errors='replace')}{hc.stderr.decode(errors='replace')}")
            podman("stop", "-t", "30", name, timeout=60)
            w.close()
            state = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.decode().strip()
            check(state == "0", f"uniqd exited {state} on SIGTERM, not 0:\n"
                  + podman("logs", name, check=False).stderr.decode(errors="replace")[-2000:])
            with open(os.path.join(fifo_dir, "out.jsonl"), "rb") as f:
                out = f.read()
            check(len(finals(out)) > 0, "no final result written before the SIGTERM exit")
            log(f"SIGTERM: exit 0 with {len(finals(out))} final results")
        finally:
            if not KEEP:
                podman("rm", "-f", "-v", name, check=False)


def uniqd_threads(cpus: int) -> int:
    """Threads of `uniqd --input -` (the image's config: parse_threads 0) in a container limited to
    `cpus` CPUs, once it reads (its parse threads start before the first frame)."""
    script = (
        "(sleep 60 | exec /usr/local/bin/uniqd --input - --no-progress >/dev/null) & pid=; "
        "for i in $(seq 80); do for p in /proc/[0-9]*; do "
        "[ \"$(cat $p/comm 2>/dev/null)\" = uniqd ] && pid=${p#/proc/}; done; "
        "[ -n \"$pid\" ] && break; sleep 0.25; done; "
        "[ -n \"$pid\" ] || { echo 'uniqd did not start' >&2; exit 1; }; "
        "sleep 3; ls /proc/$pid/task | wc -l")
    out = podman("run", "--rm", "--no-healthcheck", "--cpus", str(cpus), "--entrypoint", "/bin/bash", IMAGE,
                 "-c", script, timeout=90).stdout.decode().strip()
    check(out.isdigit(), f"thread count of uniqd with --cpus {cpus}: {out!r}")
    return int(out)


def check_parse_threads_follow_cpu_limit() -> None:
    """parse_threads: 0 counts the CPUs of the container's cgroup quota (the k8s limits.cpu), not
    the host's cores: 1 CPU parses inline, 2 CPUs start two parse threads."""
    if (os.cpu_count() or 1) < 2:
        log("parse threads vs --cpus: skipped (fewer than 2 cores)")
        return
    one, two = uniqd_threads(1), uniqd_threads(2)
    check(two - one == 2, f"parse_threads 0: uniqd had {one} threads with --cpus 1 and {two} with --cpus 2 "
          "(expected 2 more: two parse threads for 2 CPUs, none for 1)")
    log(f"parse_threads 0 follows the CPU limit: {one} thread(s) with --cpus 1, {two} with --cpus 2")


def wait_ready(name: str, timeout: float) -> None:
    """Healthchecks do not run without systemd: ask /readyz from inside the container."""
    probe = ("exec 3<>/dev/tcp/127.0.0.1/9464 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 "
             "&& head -n1 <&3 | grep -q ' 200 '")
    deadline = time.monotonic() + timeout
    while True:
        if podman("exec", name, "/bin/bash", "-c", probe, check=False, timeout=20).returncode == 0:
            return
        check(time.monotonic() < deadline, f"{name} not ready within {timeout:.0f} s")
        time.sleep(0.5)


# ---------------------------------------------------------------- compose

# The replicas the compose test runs: docker/compose.yaml's two, sharing one application_id (one
# consumer group). UNIQD_DEPLOY_REPLICAS=uniqd-1 runs one.
REPLICAS = os.environ.get("UNIQD_DEPLOY_REPLICAS", "uniqd-1,uniqd-2").split(",")
FRAMES = 60000
# docker/compose.yaml's topics service creates `frames` with 4 partitions; uniqd's default
# state_store.shards is 4: 4 ingest, 4 count and 4 sum tasks to share.
TASKS = {"ingest": 4, "count": 4, "sum": 4}


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 3) -> tuple[int, str]:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except (OSError, ValueError):
        return 0, ""


def metric(text: str, name: str, labels: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + ("{" if labels else "")) or line.startswith(name + " "):
            if labels and labels not in line:
                continue
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_until(pred, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Compose:
    """podman-compose on docker/compose.yaml + the test override, as project `name`."""

    def __init__(self, name: str, env: dict):
        self.name = name
        self.env = dict(os.environ, **env)
        self.files = ["-f", os.path.join(REPO, "docker", "compose.yaml"),
                      "-f", os.path.join(REPO, "tests", "deploy", "compose.kafka.yaml")]

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return run([CONTAINER, "compose", "-p", self.name, *self.files, *args], timeout, env=self.env)

    def container(self, service: str) -> str:
        return f"{self.name}_{service}_1"

    def logs(self, service: str) -> str:
        p = podman("logs", self.container(service), check=False, timeout=60)
        return p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")

    def clean(self) -> None:
        """Containers (with their anonymous volumes), named volumes and the network of the project."""
        label = f"label=io.podman.compose.project={self.name}"
        ids = podman("ps", "-a", "-q", "--filter", label, check=False).stdout.decode().split()
        if ids:
            podman("rm", "-f", "-v", *ids, check=False, timeout=180)
        vols = podman("volume", "ls", "-q", "--filter", label, check=False).stdout.decode().split()
        if vols:
            podman("volume", "rm", "-f", *vols, check=False)
        podman("network", "rm", "-f", f"{self.name}_default", check=False)


def producer_gen_args(frames: int) -> list[str]:
    """uniqd-gen's options in docker/compose.yaml's producer, less the Kafka ones: the same frames
    written to a file for the oracle."""
    with open(os.path.join(REPO, "docker", "compose.yaml"), encoding="utf-8") as f:
        text = f.read()
    # The producer's command is a flow list of double-quoted strings: JSON as it stands.
    m = re.search(r"\n  producer:\n(?:    .*\n)*?    command: (\[[^\]]*\])", text)
    check(m is not None, "no producer command (a [\"...\"] list) in docker/compose.yaml")
    cmd = json.loads(m.group(1))
    out, i = [], 0
    while i < len(cmd):
        if cmd[i] in ("--kafka", "--topic", "--partitions", "--key"):
            i += 2
            continue
        out.append(re.sub(r"\$\{FRAMES:-\d+\}", str(frames), cmd[i]))
        i += 1
    check("--count" in out and str(frames) in out, f"producer command not understood: {cmd}")
    return out


def result_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                raise TestFailure(f"the results consumer printed a line that is not JSON: {line[:300]}")
    return out


class Replica:
    """One uniqd service of the compose project and its metrics port on the host."""

    def __init__(self, c: Compose, service: str, port: int):
        self.c, self.service, self.url = c, service, f"http://127.0.0.1:{port}"

    def ready(self) -> bool:
        return http_get(self.url + "/readyz")[0] == 200

    def metrics(self) -> str | None:
        code, text = http_get(self.url + "/metrics")
        return text if code == 200 else None

    def tasks(self) -> dict[str, int] | None:
        text = self.metrics()
        if text is None or "uniqd_tasks{" not in text:
            return None
        return {k: int(metric(text, "uniqd_tasks", f'kind="{k}"')) for k in TASKS}

    def state(self) -> tuple[str, int]:
        """(pid, restart count) of its container."""
        st = podman("inspect", "--format", "{{.State.Pid}} {{.RestartCount}}", self.c.container(self.service),
                    check=False).stdout.decode().split()
        return (st[0], int(st[1])) if len(st) == 2 else ("", -1)


def wait_tasks_shared(reps: list[Replica], timeout: float, when: str) -> dict[str, dict[str, int]]:
    """Until the group settled: every replica holds tasks, and together exactly TASKS (a task held
    twice or by nobody means a rebalance is still under way)."""
    last = {}
    def shared():
        last.clear()
        for r in reps:
            t = r.tasks()
            if t is None:
                return None
            last[r.service] = t
        totals = {k: sum(t[k] for t in last.values()) for k in TASKS}
        return dict(last) if totals == TASKS and all(sum(t.values()) > 0 for t in last.values()) else None
    try:
        return wait_until(shared, timeout, f"the replicas to share the tasks {when}")
    except TestFailure as e:
        raise TestFailure(f"{e}; uniqd_tasks last seen: {last}")


def case_compose() -> None:
    t0 = time.monotonic()
    for what in ("image", "kafka-image", "prometheus-image"):
        run([CONTAINER, what], 3600, capture_output=False)
    log(f"images ready in {time.monotonic() - t0:.0f} s")
    ports = {"REDPANDA_PORT": free_port(), "UNIQD_1_PORT": free_port(), "UNIQD_2_PORT": free_port(),
             "PROMETHEUS_PORT": free_port()}
    env = {k: str(v) for k, v in ports.items()}
    env["FRAMES"] = str(FRAMES)
    c = Compose(f"uniqd-test-{os.getpid()}", env)
    for r in REPLICAS:
        check(re.fullmatch(r"uniqd-[12]", r) is not None, f"UNIQD_DEPLOY_REPLICAS: no service {r!r} in compose.yaml")
    reps = [Replica(c, r, ports[f"UNIQD_{r.split('-')[1]}_PORT"]) for r in REPLICAS]
    try:
        with tempfile.TemporaryDirectory(prefix="uniqd-deploy-") as work:
            frames = os.path.join(work, "frames.jsonl")
            with open(frames, "wb") as f:
                podman("run", "--rm", "--no-healthcheck", "--entrypoint", "uniqd-gen", IMAGE,
                       *producer_gen_args(FRAMES), timeout=300, stdout=f, stderr=subprocess.PIPE)
            with open(frames, "rb") as f:
                orc = podman("run", "--rm", "-i", "--no-healthcheck", "--entrypoint", "uniqd-oracle", IMAGE,
                             "--input", "-", timeout=600, stdin=f)
            last_ts = max(json.loads(l)["ts"] for l in open(frames, encoding="utf-8") if l.startswith("{"))
        want = {}
        for r in map(json.loads, orc.stdout.decode().splitlines()):
            want[(r["window"], r["start_ts"])] = r
        # uniqd runs on: windows still open at the end are never final. Those closed well before
        # the last frame (lateness 5s) must all be there.
        must = {k for k, r in want.items() if r["window"] == "minute" and r["end_ts"] <= last_ts - 30}
        check(len(must) >= 5, f"only {len(must)} closed minute windows in {FRAMES} frames: tests nothing")

        # The broker, topics, uniqd, the consumer and Prometheus first; frames once the replicas
        # share the tasks.
        c("up", "-d", "--no-deps", "redpanda", "topics", *REPLICAS, "results", "prometheus")
        label = f"label=io.podman.compose.project={c.name}"
        names = podman("ps", "-a", "--format", "{{.Names}}", "--filter", label).stdout.decode().split()
        extra = [n for n in names if re.search(r"_uniqd-\d+_", n) and not any(f"_{r}_" in n for r in REPLICAS)]
        check(not extra, f"podman-compose started replicas the test did not ask for: {extra}")
        wait_until(lambda: all(r.ready() for r in reps), 240, f"/readyz of {', '.join(REPLICAS)}")
        shared = wait_tasks_shared(reps, 120, "after the start")
        log(f"{', '.join(REPLICAS)} ready; uniqd_tasks: {shared}")
        c("up", "-d", "--no-deps", "producer")

        # Kill a replica while it works (SIGKILL to its process, as a crash would): the one holding
        # the most count tasks (uid sets in RocksDB + changelog: the restore that matters), once it
        # has committed some of its work; its restart policy brings it back. A replica may hold no
        # input partition at all (uniqd_frames_total, what its ingest tasks read, then stays 0: the
        # cause of a timeout when this waited for it), so its work shows as (window, uid) pairs
        # held, and a commit after they were held puts some in the changelog.
        victim = max(reps, key=lambda r: (shared[r.service]["count"], shared[r.service]["ingest"]))
        check(shared[victim.service]["count"] > 0, f"no replica holds a count task: {shared}")
        first_commit_with_pairs = []
        def midway():
            text = victim.metrics()
            if text is None:
                return False
            committed = metric(text, "uniqd_transactions_total", 'outcome="committed"')
            if not first_commit_with_pairs:
                if metric(text, "uniqd_state_pairs") > 0:
                    first_commit_with_pairs.append(committed + 1)
                return False
            return committed >= first_commit_with_pairs[0]
        wait_until(midway, 240, f"{victim.service} to commit some of its work", 0.2)
        seen = {r.service: metric(r.metrics() or "", "uniqd_frames_total") for r in reps}
        pairs = metric(victim.metrics() or "", "uniqd_state_pairs")
        pid, _ = victim.state()
        check(pid.isdigit() and int(pid) > 1, f"no pid for {c.container(victim.service)}: {pid!r}")
        os.kill(int(pid), 9)
        log(f"killed {victim.service} (pid {pid}, tasks {shared[victim.service]}, {pairs:.0f} pairs held); "
            f"frames read so far of {FRAMES}: {seen}")
        def restarted():
            p, n = victim.state()
            return p not in ("", "0", pid) and n >= 1
        wait_until(restarted, 120, f"the restart policy to restart {victim.service}")
        wait_until(victim.ready, 240, f"{victim.service} /readyz after the kill")
        shared = wait_tasks_shared(reps, 180, "after the kill")
        # Whoever holds the killed replica's shards now restored them (RocksDB and/or changelog).
        restored = {r.service: metric(r.metrics() or "", "uniqd_restore_pairs_total") for r in reps}
        check(sum(restored.values()) > 0, f"no replica restored any pair after the kill: {restored}")
        log(f"{victim.service} restarted and ready; uniqd_tasks: {shared}; pairs restored: {restored}")

        def complete():
            got = [r for r in result_lines(c.logs("results")) if r.get("final")]
            keys = {(r["window"], r["start_ts"]) for r in got}
            return got if must <= keys else None
        got = wait_until(complete, 300, "every closed minute window in the results topic", 2)
        time.sleep(3)  # anything else due (duplicates would show now)
        got = [r for r in result_lines(c.logs("results")) if r.get("final")]
        problems, seen_keys = [], {}
        for r in got:
            k = (r["window"], r["start_ts"], r.get("revision", 0))
            if k in seen_keys:
                problems.append(f"{k} emitted twice (exactly_once broken)")
            seen_keys[k] = r
            w = want.get((r["window"], r["start_ts"]))
            if w is None:
                problems.append(f"{k} not in the oracle's results")
            elif (r["unique_users"], r["frames"]) != (w["unique_users"], w["frames"]):
                problems.append(f"{k}: unique_users/frames {r['unique_users']}/{r['frames']}, "
                                f"oracle {w['unique_users']}/{w['frames']}")
        check(not problems, f"{len(problems)} problems in the results read back (read_committed):\n  "
              + "\n  ".join(problems[:10]))
        log(f"{len(got)} final results read back equal the oracle's, each once ({len(must)} closed minutes required)")

        # Prometheus scrapes every replica and loaded the alert rules.
        prom = f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}"
        def scraped():
            code, text = http_get(prom + "/api/v1/targets")
            if code != 200:
                return None
            t = json.loads(text)["data"]["activeTargets"]
            up = {r.service for r in reps for x in t if x["health"] == "up" and f"//{r.service}:" in x["scrapeUrl"]}
            return up if len(up) == len(reps) else None
        wait_until(scraped, 120, f"Prometheus to scrape {', '.join(REPLICAS)}")
        code, text = http_get(prom + "/api/v1/rules")
        names = {r["name"] for g in json.loads(text)["data"]["groups"] for r in g["rules"]} if code == 200 else set()
        check("UniqdCommitFailures" in names, f"Prometheus did not load alerts.yaml (rules: {sorted(names)})")
        log(f"Prometheus scrapes {', '.join(REPLICAS)} and loaded {len(names)} alert rules")

        # SIGTERM: compose stop ends every replica gracefully (exit 0, not the KILL after the grace
        # period), the last ones while they take over the first ones' tasks.
        t_stop = time.monotonic()
        c("stop", *REPLICAS, timeout=300)
        for r in reps:
            code = podman("inspect", "--format", "{{.State.ExitCode}}", c.container(r.service)).stdout.decode().strip()
            check(code == "0", f"{r.service} exited {code} on compose stop:\n{c.logs(r.service)[-2000:]}")
        log(f"compose stop: {', '.join(REPLICAS)} exited 0 in {time.monotonic() - t_stop:.0f} s")
    except TestFailure:
        for svc in ("redpanda", "topics", "producer", *REPLICAS):
            print(f"--- logs of {svc} (last 25 lines)\n" + "\n".join(c.logs(svc).splitlines()[-25:]), file=sys.stderr)
        raise
    finally:
        if not KEEP:
            c.clean()


# ---------------------------------------------------------------- k8s

K8S_TOOLS = os.path.join(REPO, "scripts", "k8s-tools")
# A password with every character YAML or a shell could trip on.
TRICKY_PASSWORD = "p'a\"s$s&w:o #r{d}\\"


def case_k8s() -> None:
    t0 = time.monotonic()
    run([K8S_TOOLS, "build"], 3600, capture_output=False)
    kubectl = os.path.join(run([K8S_TOOLS, "bin"], 60, text=True).stdout.strip(), "kubectl")
    log(f"kube-apiserver, kubectl, etcd ready in {time.monotonic() - t0:.0f} s")
    run([CONTAINER, "image"], 3600, capture_output=False)
    base, overlay = os.path.join(REPO, "k8s", "base"), os.path.join(REPO, "k8s", "overlays", "example")
    rendered = {k: run([kubectl, "kustomize", d], 60, text=True).stdout for k, d in (("base", base), ("overlay", overlay))}

    with tempfile.TemporaryDirectory(prefix="uniqd-deploy-k8s-") as work:
        api = os.path.join(work, "api")
        try:
            kubeconfig = run([K8S_TOOLS, "up", api], 300, text=True).stdout.strip()
            k = [kubectl, "--kubeconfig", kubeconfig]
            run(k + ["create", "namespace", "streaming"], 60)
            objs = {}
            for name, text in rendered.items():
                p = run(k + ["apply", "--dry-run=server", "--validate=strict", "-o", "json", "-f", "-"], 120,
                        check=False, input=text, text=True)
                check(p.returncode == 0, f"the API server refused the {name} manifests:\n{p.stderr}")
                out = json.loads(p.stdout)
                objs[name] = {(o["kind"], o["metadata"]["name"].rsplit("-", 1)[0] if o["kind"] == "ConfigMap"
                               else o["metadata"]["name"]): o for o in out.get("items", [out])}
            log(f"server-side dry run accepts base ({len(objs['base'])} objects) and overlay ({len(objs['overlay'])})")
            # Stored for real (no kubelet: nothing runs), then read back.
            run(k + ["apply", "--server-side", "-f", "-"], 120, input=rendered["overlay"], text=True)
            sts = json.loads(run(k + ["-n", "streaming", "get", "statefulset", "uniqd", "-o", "json"], 60).stdout)
            c = sts["spec"]["template"]["spec"]["containers"][0]
            check(sts["spec"]["replicas"] == 3 and c["image"] == "registry.example.com/uniqd:0.1.0",
                  f"overlay not applied: replicas {sts['spec']['replicas']}, image {c['image']}")
            # Broken manifests are refused: a port out of range, a misspelt field.
            for broken, want in (("containerPort: 9464", "containerPort: 94640"),
                                 ("terminationGracePeriodSeconds:", "terminationGracePeriodSecond:")):
                check(broken in rendered["base"], f"'{broken}' not in the base manifests")
                p = run(k + ["apply", "--dry-run=server", "--validate=strict", "-f", "-"], 120, check=False,
                        input=rendered["base"].replace(broken, want, 1), text=True)
                check(p.returncode != 0, f"the API server accepted a manifest with '{want}'")
            log("broken manifests refused (port 94640, unknown field)")
        finally:
            run([K8S_TOOLS, "down", api], 60, check=False)

        # Ports and paths agree between the uniqd config, the image and the manifests; the
        # ConfigMap's YAML, with the environment the pod gives it, is accepted by uniqd itself.
        img = json.loads(podman("image", "inspect", IMAGE).stdout)[0]["Config"]
        for name in ("base", "overlay"):
            o = objs[name]
            sts = o[("StatefulSet", "uniqd")]
            pod = sts["spec"]["template"]
            c = pod["spec"]["containers"][0]
            cfg_files = o[("ConfigMap", "uniqd-config")]["data"]
            d = os.path.join(work, f"cfg-{name}")
            os.makedirs(d)
            os.chmod(d, 0o755)
            for fn, text in cfg_files.items():
                with open(os.path.join(d, fn), "w", encoding="utf-8") as f:
                    f.write(text)
            # Every ${env:NAME} of the config is set by the container (else uniqd stops, status 2).
            env_names = {e["name"] for e in c.get("env", [])}
            live = "\n".join(l.split(" #")[0] for l in cfg_files["uniqd.yaml"].splitlines() if not l.lstrip().startswith("#"))
            used = set(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", live))
            check(used <= env_names, f"{name}: the config reads {sorted(used - env_names)} the container does not set")
            # The ConfigMap mounted where the pod mounts it, the environment the pod gives it.
            env = {"UNIQD_BROKERS": "kafka-0:9093,kafka-1:9093", "KAFKA_SASL_USERNAME": "uniqd",
                   "KAFKA_SASL_PASSWORD": TRICKY_PASSWORD}
            mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
            env_args = [a for k, v in env.items() if k in env_names for a in ("-e", f"{k}={v}")]
            p = podman("run", "--rm", "--no-healthcheck", "-v", f"{d}:{mounts['config']}:ro,z", *env_args, IMAGE,
                       "--print-config", check=False)
            printed = p.stdout.decode()
            check(p.returncode == 0, f"{name}: uniqd refused the ConfigMap's config: {p.stderr.decode(errors='replace')}")
            check("kafka-0:9093,kafka-1:9093" in printed, f"{name}: brokers from the environment not used:\n{printed}")
            check(TRICKY_PASSWORD not in printed, f"{name}: --print-config shows the password")
            if used & {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}:
                # Without its Secret the pod must fail loudly, naming what is missing.
                p = podman("run", "--rm", "--no-healthcheck", "-v", f"{d}:{mounts['config']}:ro,z",
                           "-e", "UNIQD_BROKERS=x:1", IMAGE, "--print-config", check=False)
                err = p.stderr.decode(errors="replace")
                check(p.returncode == 2 and "KAFKA_SASL_" in err,
                      f"{name}: without the Secret's variables uniqd exited {p.returncode}: {err[-500:]}")
            port = re.search(r"metrics_address: \S*:(\d+)", printed)
            state_dir = re.search(r"state_dir: (\S+)", printed)
            check(port and state_dir, f"{name}: no metrics_address/state_dir in --print-config:\n{printed}")
            port, state_dir = int(port.group(1)), state_dir.group(1)
            cport = {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"]
            checks = {
                "container port": cport,
                "prometheus.io/port": int(pod["metadata"]["annotations"]["prometheus.io/port"]),
                "image EXPOSE": int(next(iter(img["ExposedPorts"])).split("/")[0]),
            }
            for what, v in checks.items():
                check(v == port, f"{name}: {what} {v} differs from the config's metrics port {port}")
            probes = {pr: c[pr]["httpGet"]["path"] for pr in ("livenessProbe", "readinessProbe")}
            check(probes == {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}, f"{name}: probes {probes}")
            check(mounts.get("state") == state_dir, f"{name}: state volume at {mounts.get('state')}, config says {state_dir}")
            check(state_dir in img["Volumes"], f"{name}: {state_dir} is not a volume of the image ({img['Volumes']})")
            conf_path = img["Entrypoint"][img["Entrypoint"].index("--config") + 1]
            check(os.path.dirname(conf_path) == mounts.get("config"),
                  f"{name}: the image reads {conf_path}, the ConfigMap is mounted at {mounts.get('config')}")
            check(any(t["metadata"]["name"] == "state" for t in sts["spec"]["volumeClaimTemplates"]),
                  f"{name}: no volumeClaimTemplate 'state'")
            check(pod["spec"]["terminationGracePeriodSeconds"] >= 30, f"{name}: terminationGracePeriodSeconds too short")
            # Parse threads follow limits.cpu only with parse_threads 0 (deploy_image checks that
            # uniqd counts the cgroup quota).
            res = c.get("resources", {})
            check(all(k in res.get(w, {}) for w in ("requests", "limits") for k in ("cpu", "memory")),
                  f"{name}: resources lack cpu/memory requests or limits: {res}")
            check(re.search(r"^parse_threads: 0$", printed, re.M) is not None,
                  f"{name}: parse_threads is not 0, so it does not follow limits.cpu:\n{printed}")
            check(int(pod["spec"]["securityContext"]["runAsUser"]) == int(img["User"].split(":")[0]),
                  f"{name}: runAsUser differs from the image's user {img['User']}")
        log("ConfigMap config accepted by uniqd with the pod's environment (password redacted, missing "
            "Secret refused); ports/paths agree between config, image, manifests")


# ---------------------------------------------------------------- scram


def case_scram() -> None:
    """tests/integration/scram_image.sh with this image: SCRAM-SHA-512 needs librdkafka >= 2.6.1,
    which the trixie image has and the host's bookworm build does not. uniqd-gen and uniqd-oracle
    come from the host build (UNIQD_BUILD_DIR)."""
    build = os.environ.get("UNIQD_BUILD_DIR", os.path.join(REPO, "build"))
    for tool in ("uniqd-gen", "uniqd-oracle"):
        check(os.access(os.path.join(build, tool), os.X_OK), f"no {tool} in {build} (build first)")
    run([CONTAINER, "image"], 3600, capture_output=False)
    conf = run([CONTAINER, "conf"], 60, text=True).stdout.strip()
    p = run([os.path.join(REPO, "tests", "integration", "scram_image.sh"), IMAGE, build], 900, check=False,
            capture_output=False, env=dict(os.environ, CONTAINERS_CONF=conf))
    check(p.returncode == 0, f"tests/integration/scram_image.sh {IMAGE} exited {p.returncode}")


# ---------------------------------------------------------------- rules


def exported_metrics() -> set[str]:
    """Metric names uniqd serves, read from processor/metrics.cc (histograms add _bucket/_sum/_count)."""
    with open(os.path.join(REPO, "processor", "metrics.cc"), encoding="utf-8") as f:
        src = f.read()
    names = set(re.findall(r'"(uniqd_[a-z_]+)"', src))
    for h in re.findall(r'histogram\(o, "(uniqd_[a-z_]+)"', src):
        names |= {h + "_bucket", h + "_sum", h + "_count"}
    check(len(names) > 10, f"found only {sorted(names)} in processor/metrics.cc")
    return names


def used_metrics(expr: str) -> set[str]:
    return set(re.findall(r"\b(uniqd_[a-z_]+)", expr))


def case_rules() -> None:
    prom = os.path.join(REPO, "docker", "prometheus")
    p = run(["promtool", "check", "rules", os.path.join(prom, "alerts.yaml")], 60, check=False, text=True)
    check(p.returncode == 0, f"promtool check rules alerts.yaml:\n{p.stdout}{p.stderr}")
    p = run(["promtool", "test", "rules", "alerts_test.yaml"], 60, check=False, text=True, cwd=prom)
    check(p.returncode == 0, f"promtool test rules alerts_test.yaml:\n{p.stdout}{p.stderr}")
    p = run(["promtool", "check", "config", os.path.join(prom, "prometheus.yml")], 60, check=False, text=True)
    # The config names the rule file by its path inside the container; only the scrape part is
    # checked here, so a missing /etc/prometheus/alerts.yaml is the one error allowed.
    check(p.returncode == 0 or "alerts.yaml" in p.stdout + p.stderr,
          f"promtool check config prometheus.yml:\n{p.stdout}{p.stderr}")
    known = exported_metrics()
    with open(os.path.join(prom, "alerts.yaml"), encoding="utf-8") as f:
        unknown = used_metrics(f.read()) - known
    check(not unknown, f"alerts.yaml names metrics uniqd does not export: {sorted(unknown)}")

    # The dashboard: JSON, every query parses as PromQL (promtool checks it as a recording rule
    # once Grafana's variables are replaced), and names only metrics uniqd exports.
    with open(os.path.join(REPO, "docker", "grafana", "uniqd-dashboard.json"), encoding="utf-8") as f:
        dash = json.load(f)
    exprs = [t["expr"] for panel in dash["panels"] for t in panel.get("targets", [])]
    check(len(exprs) >= 10, f"the dashboard has only {len(exprs)} queries")
    unknown = set().union(*(used_metrics(e) for e in exprs)) - known
    check(not unknown, f"the dashboard names metrics uniqd does not export: {sorted(unknown)}")
    with tempfile.TemporaryDirectory(prefix="uniqd-deploy-") as work:
        rules = os.path.join(work, "dashboard-rules.yaml")
        with open(rules, "w", encoding="utf-8") as f:
            f.write("groups:\n  - name: dashboard\n    rules:\n")
            for i, e in enumerate(exprs):
                e = e.replace("$__rate_interval", "1m").replace("$instance", ".*")
                f.write(f"      - record: dashboard:q{i}\n        expr: {json.dumps(e)}\n")
        p = run(["promtool", "check", "rules", rules], 60, check=False, text=True)
        check(p.returncode == 0, f"a dashboard query is not PromQL:\n{p.stdout}{p.stderr}")
    log(f"alerts: promtool check + unit tests pass; dashboard: {len(exprs)} queries parse")

    # docker/compose.yaml against docker-compose 1.29's schema, offline. Its schema predates the
    # top-level `name:`, so that one line is left out; a misspelt key must be refused.
    run([CONTAINER, "install"], 900)
    with open(os.path.join(REPO, "docker", "compose.yaml"), encoding="utf-8") as f:
        text = "".join(l for l in f if not l.startswith("name: "))
    with tempfile.TemporaryDirectory(prefix="uniqd-deploy-") as work:
        for name, body, ok in (("compose.yaml", text, True),
                               ("broken.yaml", text.replace("stop_grace_period:", "stop_grace_perod:"), False)):
            path = os.path.join(work, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(body)
            p = run(["docker-compose", "--project-directory", os.path.join(REPO, "docker"), "-f", path,
                     "config", "-q"], 120, check=False, text=True)
            check((p.returncode == 0) == ok, f"docker-compose config -q on {name}: exit {p.returncode}\n{p.stderr}")
    log("docker/compose.yaml valid for docker-compose config; a misspelt key is refused")


CASES = {"image": case_image, "compose": case_compose, "k8s": case_k8s, "scram": case_scram, "rules": case_rules}


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print(f"usage: deploy_test.py {'|'.join(CASES)}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        CASES[sys.argv[1]]()
    except TestFailure as e:
        print(f"FAIL deploy {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    log(f"PASS {sys.argv[1]} in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
