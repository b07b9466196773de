#!/usr/bin/env python3
"""uniqd against a secured broker: SASL/PLAIN over TLS, least-privilege ACLs, secrets kept.

usage: kafka_security.py --uniqd U --gen G --oracle O [--keep DIR] [--mechanism M] [--cases ok,...] [--no-kill]

--mechanism SCRAM-SHA-512 --cases ok --no-kill is what tests/integration/scram_image.sh runs
with uniqd from a container image (librdkafka >= 2.6.1): SCRAM logins from the host build
(librdkafka 2.0.2) fail against Kafka 4.x.

Needs the broker of `tests/integration/with_broker.sh --secure` (scripts/kafka-secure: one
SASL_SSL listener, StandardAuthorizer, allow.everyone.if.no.acl.found=false); exits 77 without
one. uniqd logs in as User:uniqd, which has no ACL but the ones granted here:

  ok              exactly the ACLs docs/SECURITY.md lists for exactly_once (no CREATE: the admin
                  made the topics), password from ${file:...}, librdkafka's security debug lines
                  on: uniqd runs live, is killed with SIGKILL once it consumes, and a second run
                  --until-end finishes; the committed output equals the oracle's final results
                  with no duplicate. Then at_least_once with its documented list (no transactional id).
  wrong_password, untrusted_ca
                  exit 1 within BOUND seconds with "authentication failed" / "TLS handshake
                  failed"; nothing in the output topic.
  missing ACL     for each documented ACL in turn, everything but it (plus CREATE on the case's
                  topic prefix, so uniqd makes its own topics): exit 1 within BOUND seconds with
                  one line "<OPERATION> on <resource> was refused"; nothing committed to the
                  output topic.
  no_create       the documented ACLs, no CREATE, the output topic missing: exit 1 naming it.
  secrets         uniqd's password appears in none of its stdout, stderr (text and JSON logs),
                  /metrics, or --print-config.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafka_util as ku  # noqa: E402
from kafka_util import check, fail, log  # noqa: E402

START = 1468244340
BOUND = 45  # seconds within which a refused login or ACL must end uniqd

# One partition, the partitions case's faults (no late frames): malformed lines make dead letters.
GEN = {
    "--count": 20000, "--rate": 100, "--users": 3000, "--frame-bytes": 300, "--seed": 41, "--start": START,
    "--max-delay": 5, "--delay-prob": 0.1, "--malformed-prob": 0.01, "--missing-uid-prob": 0.003,
    "--bad-type-prob": 0.003, "--ts-string-prob": 0.02, "--crlf-prob": 0.05,
}
FLAGS = ["--lateness", "5s", "--late-policy", "drop"]
KAFKA_FLAGS = ["--idle-timeout", "10m", "--commit-interval", "500ms"]


# The internal topics of an application (docs/SCALE_OUT.md), and the replica id
# the runs use: the transactional id is <application_id>-<replica_id>.
INTERNAL_TOPICS = ["repartition", "partials", "changelog", "ingest-changelog", "sum-changelog"]
REPLICA = "secure"


def internal_topic_specs(app: str, input_partitions: int) -> list:
    """(topic, partitions, configs) of the internal topics with the default 4 shards."""
    compact = {"cleanup.policy": "compact"}
    return [(f"{app}-repartition", 4, None), (f"{app}-partials", 4, None), (f"{app}-changelog", 4, compact),
            (f"{app}-sum-changelog", 4, compact), (f"{app}-ingest-changelog", input_partitions, compact)]


def documented_acls(n: ku.Names) -> list:
    """(operation, resource kind, name): docs/SECURITY.md's list for exactly_once."""
    app = n.app_id
    internal = [f"{app}-{t}" for t in INTERNAL_TOPICS]
    return [
        ("Read", "topic", n.input),
        ("Write", "topic", n.output),
        ("Write", "topic", n.dead_letter),
        *[("Read", "topic", t) for t in internal],
        *[("Write", "topic", t) for t in internal],
        ("Read", "group", app),
        ("Read", "group", f"{app}-restore"),
        ("Write", "transactional-id", f"{app}-{REPLICA}"),
    ]


def documented_acls_at_least_once(n: ku.Names) -> list:
    """docs/SECURITY.md's list for at_least_once (no IDEMPOTENT_WRITE: Kafka 3.0 and later): exactly_once's
    without the transactional id."""
    return [a for a in documented_acls(n) if a[1] != "transactional-id"]


def refusal_text(acl) -> str:
    op, kind, name = acl
    what = "transactional id" if kind == "transactional-id" else kind
    return f"{op.upper()} on {what} {name} was refused"


class Secure:
    def __init__(self, env: ku.Env, mechanism: str = "PLAIN", kill: bool = True):
        self.env = env
        self.mechanism = mechanism
        self.kill = kill
        d = env.broker_dir
        self.ca = os.path.join(d, "tls", "ca.pem")
        self.other_ca = os.path.join(d, "tls", "other-ca.pem")
        users = dict(line.strip().split(":", 1) for line in open(os.path.join(d, "users")) if ":" in line)
        self.password = users["uniqd"]
        self.admin_password = users["admin"]
        for path in (self.ca, self.other_ca, os.path.join(d, "kcat.conf")):
            if not os.path.exists(path):
                fail(f"{path} missing: is this a scripts/kafka-secure broker?")
        ku.KCAT_ARGS = ["-F", os.path.join(d, "kcat.conf")]
        env.gen_args = ["--kafka-property", "security.protocol=SASL_SSL", "--kafka-property", "sasl.mechanism=PLAIN",
                        "--kafka-property", "sasl.username=admin",
                        "--kafka-property", "sasl.password=${env:UNIQD_TEST_ADMIN_PASSWORD}",
                        "--kafka-property", f"ssl.ca.location={self.ca}"]
        os.environ["UNIQD_TEST_ADMIN_PASSWORD"] = self.admin_password
        self.outputs = []  # (what, text) of everything uniqd wrote, for the secret check

    def acls(self, op: str, resources: list, prefixed: bool = False) -> None:
        """One kafka-acls call granting User:uniqd op on every (kind, name)."""
        if not resources:
            return
        cmd = [self.env.kafka, "acls", "--dir", self.env.broker_dir, "--add", "--allow-principal", "User:uniqd",
               "--operation", op]
        if prefixed:
            cmd += ["--resource-pattern-type", "prefixed"]
        for kind, name in resources:
            cmd += [f"--{kind}", name]
        ku.run(cmd, 120, f"kafka-acls --operation {op}")

    def grant(self, acls: list) -> None:
        by_op = {}
        for op, kind, name in acls:
            by_op.setdefault(op, []).append((kind, name))
        for op, res in by_op.items():
            self.acls(op, res)

    def config(self, name: str, password_ref: str, ca: str = "", extra: str = "") -> str:
        path = self.env.path(f"{name}.yaml")
        with open(path, "w") as f:
            f.write(f"kafka:\n  client:\n    security.protocol: SASL_SSL\n    sasl.mechanism: {self.mechanism}\n"
                    f"    sasl.username: uniqd\n    sasl.password: {password_ref}\n"
                    f"    ssl.ca.location: {ca or self.ca}\n{extra}")
        return path

    def cmd(self, names: ku.Names, config: str, until_end: bool, metrics: bool = False, extra=(),
            guarantee: str = "exactly_once") -> list:
        return self.env.uniqd_kafka_cmd(names, [*FLAGS, *KAFKA_FLAGS, "--config", config, "--state-dir",
                                                self.env.path(f"state-{names.app_id}"), "--replica-id", REPLICA,
                                                *extra],
                                        until_end=until_end, guarantee=guarantee, metrics=metrics)

    def run(self, what: str, cmd: list, env_extra: dict = None, timeout: float = 300) -> subprocess.CompletedProcess:
        env = dict(os.environ, **(env_extra or {}))
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as e:
            fail(f"{what}: uniqd did not finish within {timeout:.0f} s\n{ku.tail(e.stderr or b'')}")
        p.seconds = time.monotonic() - t0
        self.outputs.append((f"{what} stdout", p.stdout.decode("utf-8", "replace")))
        self.outputs.append((f"{what} stderr", p.stderr.decode("utf-8", "replace")))
        return p


def names_for(env: ku.Env, prefix: str, case: str) -> ku.Names:
    base = f"{prefix}{case}"
    return ku.Names(f"{base}-in", f"{base}-out", f"{base}-dlq", f"{base}-app")


def case_ok(s: Secure, env: ku.Env) -> None:
    log(f"== ok: {s.mechanism}, documented ACLs, exactly_once, {'kill -9' if s.kill else 'SIGTERM'} and restart, "
        "equal to the oracle")
    n = names_for(env, f"sec{env.run_id}-", "ok")
    frames = env.path("frames.jsonl")
    env.gen_file(frames, GEN)
    for topic, parts, cfg in ((n.output, 1, {"cleanup.policy": "compact"}), (n.dead_letter, 1, None),
                              *internal_topic_specs(n.app_id, 1)):
        env.create_topic(topic, parts, cfg)
    env.gen_kafka(n.input, GEN, partitions=1)
    s.grant(documented_acls(n))
    pw_file = env.path("uniqd-password")
    with open(pw_file, "w") as f:
        f.write(s.password + "\n")
    cfg = s.config("ok", f"${{file:{pw_file}}}", extra="    debug: security,broker\n")

    bg = ku.Background(s.cmd(n, cfg, until_end=False, metrics=True, extra=["--log-level", "debug"]),
                       env.path("ok-live.log"))
    try:
        deadline = time.monotonic() + 90
        port = None
        while time.monotonic() < deadline:
            port = port or bg.metrics_port()
            if ku.consumed_bytes(bg, port) > 0:
                break
            time.sleep(0.1)
        else:
            fail(f"uniqd consumed nothing within 90 s:\n{ku.tail(bg.stderr())}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            s.outputs.append(("/metrics", r.read().decode()))
        bg.proc.kill() if s.kill else bg.proc.terminate()
        r = bg.wait(60)
    finally:
        bg.kill()
    s.outputs.append(("live run stderr", r.stderr))
    log(f"  {'killed with SIGKILL' if s.kill else 'stopped'} after it consumed (status {r.returncode})")
    p = s.run("ok --until-end", s.cmd(n, cfg, until_end=True, extra=["--log-format", "json"]))
    if p.returncode != 0:
        fail(f"uniqd --until-end after the kill exited {p.returncode}:\n{ku.tail(p.stderr)}")
    err = p.stderr.decode()
    check([] if "not allowed to create topics" in err else ["no line saying it may not create topics"],
          "uniqd without CREATE uses the topics that exist and says so")
    got = ku.final_results(env.read_topic(n.output, read_committed=True))
    want = ku.final_results_from_lines(env.oracle(frames, FLAGS))
    check(ku.compare_finals(got, want), f"committed output after {'kill -9' if s.kill else 'SIGTERM'} and restart = oracle "
                                         f"({len(want.latest)} final windows), no duplicates")
    dls = env.read_topic(n.dead_letter, read_committed=True)
    check([] if dls else ["no dead letters"], f"dead letters written ({len(dls)})")

    log("== ok, at_least_once: its documented ACLs (exactly_once's but the transactional id)")
    a = ku.Names(n.input, f"{n.output}-alo", f"{n.dead_letter}-alo", f"{n.app_id}-alo")
    env.create_topic(a.output, 1, {"cleanup.policy": "compact"})
    env.create_topic(a.dead_letter, 1)
    for topic, parts, tcfg in internal_topic_specs(a.app_id, 1):
        env.create_topic(topic, parts, tcfg)
    # The input's READ is granted already (the exactly_once case's).
    s.grant([acl for acl in documented_acls_at_least_once(a) if acl[2] != a.input])
    p = s.run("at_least_once", s.cmd(a, cfg, until_end=True, guarantee="at_least_once"))
    if p.returncode != 0:
        fail(f"uniqd --guarantee at_least_once exited {p.returncode}:\n{ku.tail(p.stderr)}")
    got = ku.final_results(env.read_topic(a.output))
    check(ku.compare_finals(got, want, allow_duplicates=True),
          f"at_least_once output = oracle ({len(want.latest)} final windows)")


def case_login(s: Secure, env: ku.Env, prefix: str, input_topic: str) -> None:
    for case, ref, ca, expect in (
            ("wrong_password", "${env:UNIQD_TEST_WRONG}", "", "authentication failed"),
            ("untrusted_ca", "${env:UNIQD_TEST_PASSWORD}", s.other_ca, "TLS handshake failed")):
        log(f"== {case}")
        n = names_for(env, prefix, case)
        n = ku.Names(input_topic, n.output, n.dead_letter, n.app_id)
        cfg = s.config(case, ref, ca=ca)
        p = s.run(case, s.cmd(n, cfg, until_end=True),
                  {"UNIQD_TEST_WRONG": "not-" + s.password, "UNIQD_TEST_PASSWORD": s.password}, timeout=BOUND + 30)
        err = p.stderr.decode("utf-8", "replace")
        problems = []
        if p.returncode != 1:
            problems.append(f"exit status {p.returncode}, expected 1")
        if expect not in err:
            problems.append(f"no '{expect}' in stderr:\n{ku.tail(err, 8)}")
        if p.seconds > BOUND:
            problems.append(f"took {p.seconds:.1f} s")
        if ku.count_messages(env.brokers, n.output) != 0:
            problems.append("the output topic has messages")
        check(problems, f"{case}: exit 1 in {p.seconds:.1f} s with '{expect}', nothing written")


def case_missing(s: Secure, env: ku.Env, prefix: str, input_topic: str) -> None:
    """Every documented ACL left out in turn; all cases' grants in three kafka-acls calls."""
    cases = []
    template = documented_acls(names_for(env, prefix, "x"))
    grants = []
    for i in range(len(template)):
        n = names_for(env, prefix, f"m{i}")
        # All but the input READ read the shared input; that case gets an input of its own.
        if i != 0:
            n = ku.Names(input_topic, n.output, n.dead_letter, n.app_id)
        acls = documented_acls(n)
        missing = acls[i]
        grants += [a for j, a in enumerate(acls) if j != i]
        cases.append((n, missing))
    s.grant(grants)
    s.acls("Create", [("topic", prefix)], prefixed=True)
    for n, missing in cases:
        what = refusal_text(missing)
        log(f"== missing ACL: {missing[0].upper()} {missing[1]} {missing[2]}")
        cfg = s.config("missing", "${env:UNIQD_TEST_PASSWORD}")
        p = s.run(f"missing {what}", s.cmd(n, cfg, until_end=True), {"UNIQD_TEST_PASSWORD": s.password},
                  timeout=BOUND + 30)
        err = p.stderr.decode("utf-8", "replace")
        problems = []
        if p.returncode != 1:
            problems.append(f"exit status {p.returncode}, expected 1")
        lines = [l for l in err.splitlines() if "was refused" in l and "[kafka]" in l]
        if not any(what in l for l in lines):
            problems.append(f"no line with '{what}' in stderr:\n{ku.tail(err, 10)}")
        if p.seconds > BOUND:
            problems.append(f"took {p.seconds:.1f} s")
        committed = len(env.read_topic(n.output, read_committed=True)) if ku.count_messages(env.brokers, n.output) \
            else 0
        if committed:
            problems.append(f"{committed} records committed to the output topic")
        check(problems, f"exit 1 in {p.seconds:.1f} s naming '{what}', nothing committed to the output")


def case_no_create(s: Secure, env: ku.Env, prefix: str, input_topic: str) -> None:
    log("== no_create: documented ACLs, no CREATE, output topic missing")
    n = names_for(env, "nocreate" + env.run_id + "-", "nc")
    n = ku.Names(input_topic, n.output, n.dead_letter, n.app_id)
    env.create_topic(n.dead_letter, 1)
    for topic, parts, cfg in internal_topic_specs(n.app_id, 1):
        env.create_topic(topic, parts, cfg)
    s.grant(documented_acls(n))
    cfg = s.config("nocreate", "${env:UNIQD_TEST_PASSWORD}")
    p = s.run("no_create", s.cmd(n, cfg, until_end=True), {"UNIQD_TEST_PASSWORD": s.password}, timeout=BOUND + 30)
    err = p.stderr.decode("utf-8", "replace")
    problems = []
    if p.returncode != 1:
        problems.append(f"exit status {p.returncode}, expected 1")
    m = re.search(r"topics missing and not allowed to create them \(CREATE refused\): ([^;]*);", err)
    if not m or m.group(1) != n.output:
        problems.append(f"no line naming exactly the missing {n.output}:\n{ku.tail(err, 8)}")
    check(problems, f"exit 1 in {p.seconds:.1f} s naming the missing topic")


def case_secrets(s: Secure, env: ku.Env) -> None:
    log("== secrets")
    cfg = s.config("print", "${env:UNIQD_TEST_PASSWORD}")
    p = s.run("--print-config", [env.uniqd, "--config", cfg, "--print-config"], {"UNIQD_TEST_PASSWORD": s.password},
              timeout=30)
    if p.returncode != 0 or "sasl.password: ${env:UNIQD_TEST_PASSWORD}" not in p.stdout.decode():
        fail(f"--print-config does not show the reference:\n{p.stdout.decode()}{p.stderr.decode()}")
    where = [what for what, text in s.outputs if s.password in text]
    total = sum(len(t) for _, t in s.outputs)
    check([f"the password is in {w}" for w in where],
          f"the password appears nowhere in {len(s.outputs)} outputs of uniqd ({total} bytes)")
    rdkafka = sum(t.count("[rdkafka]") + t.count('"component":"rdkafka"') for _, t in s.outputs)
    check([] if rdkafka > 0 else ["no librdkafka line was logged at all"], f"{rdkafka} librdkafka log lines checked")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uniqd", required=True)
    ap.add_argument("--gen", required=True)
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--keep")
    ap.add_argument("--mechanism", default="PLAIN", choices=["PLAIN", "SCRAM-SHA-512"])
    ap.add_argument("--cases", default="ok,login,missing,no_create,secrets")
    ap.add_argument("--no-kill", action="store_true", help="stop the live run with SIGTERM, not SIGKILL")
    a = ap.parse_args()
    cases = set(a.cases.split(","))
    env = ku.Env.from_environment(a.uniqd, a.gen, a.oracle, a.keep)
    if not os.path.exists(os.path.join(env.broker_dir, "users")):
        print("skipped: not a secured broker (run under tests/integration/with_broker.sh --secure)")
        return ku.SKIP
    t0 = time.monotonic()
    try:
        s = Secure(env, a.mechanism, not a.no_kill)
        prefix = f"sec{env.run_id}-neg-"
        shared_input = f"{prefix}shared-in"
        if cases & {"login", "missing", "no_create"}:
            env.gen_kafka(shared_input, dict(GEN, **{"--count": 3000}), partitions=1)
        if "ok" in cases:
            case_ok(s, env)
        if "login" in cases:
            case_login(s, env, prefix, shared_input)
        if "missing" in cases:
            case_missing(s, env, prefix, shared_input)
        if "no_create" in cases:
            case_no_create(s, env, prefix, shared_input)
        if "secrets" in cases:
            case_secrets(s, env)
    except ku.TestFailure as e:
        print(f"FAILED: {e}", flush=True)
        return 1
    finally:
        if not a.keep:
            shutil.rmtree(env.work, ignore_errors=True)
    log(f"all security cases passed in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
