#!/usr/bin/env python3
"""The deployment tier: uniqd's container image, docker/compose.yaml and the alert rules, run with
real tools (podman, podman-compose, promtool). One case per invocation:

    deploy_test.py image      build the base + uniqd images; --help; non-root; the image's config
                              accepted; generated frames through `--input -` equal the oracle;
                              SIGTERM to PID 1 ends the run with exit 0 and its results
    deploy_test.py rules      promtool check rules on docker/prometheus/alerts.yaml, promtool test
                              rules on its unit tests; the Grafana dashboard is JSON naming only
                              metrics uniqd exports

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
                podman("rm", "-f", name, check=False)


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


CASES = {"image": case_image, "rules": case_rules}


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
