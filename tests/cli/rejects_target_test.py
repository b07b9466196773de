#!/usr/bin/env python3
"""Where --rejects may point: the input (refused), standard output or error
(shared with what already writes there), a file of its own.

usage: rejects_target_test.py BUILD_DIR

A second handle on the file standard output goes to writes at its own
offset: results and rejects overwrite each other. The input opened for
writing is emptied before it is read. Each check asserts what the user sees:
the exit status, the message, every result and reject line intact, the input
untouched. Python 3 stdlib only; every child runs under a timeout.
"""
import json
import os
import subprocess
import sys
import tempfile

B = 1468244340  # a minute boundary


def frames():
    """Accepted frames over three minutes and one malformed frame per minute."""
    out = []
    for m in range(3):
        for u in range(5):
            out.append(json.dumps({"uid": f"u{u}", "ts": B + 60 * m + u}))
        out.append('{"uid": "broken", "ts": ')
    return "\n".join(out) + "\n"


WORK = None


def run(args, **kw):
    # In the work directory: a build that took "-" for a file name leaves it there.
    return subprocess.run(args, timeout=30, cwd=WORK, **kw)


def lines_of(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    build = os.path.abspath(sys.argv[1])
    uniqd = os.path.join(build, "uniqd")
    global WORK
    passed, failed = [], []
    with tempfile.TemporaryDirectory(prefix="uniqd-rejects-") as work:
        WORK = work
        data = os.path.join(work, "frames.jsonl")
        with open(data, "w") as f:
            f.write(frames())
        size = os.path.getsize(data)
        base = [uniqd, "--windows", "minute", "--no-progress"]

        # The reference: results and rejects in files of their own.
        rej = os.path.join(work, "ref.rejects")
        r = run(base + ["--input", data, "--rejects", rej], capture_output=True, text=True)
        want_results = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        want_rejects = lines_of(rej)
        if r.returncode != 0 or len(want_results) != 3 or len(want_rejects) != 3:
            print(f"FAILED setup: status {r.returncode}, {len(want_results)} results, {len(want_rejects)} rejects")
            return 1

        def check(name, cond, why):
            print(("ok " if cond else "FAILED ") + name + ("" if cond else ": " + why), flush=True)
            (passed if cond else failed).append(name)

        # 1. The input itself, by its name, through a symlink, and as the
        # file standard input was redirected from.
        link = os.path.join(work, "link.jsonl")
        os.symlink(data, link)
        for name, args, stdin in (("input_by_name", ["--input", data, "--rejects", data], None),
                                  ("input_by_symlink", ["--input", data, "--rejects", link], None),
                                  ("stdin_file", ["--input", "-", "--rejects", data], data)):
            with open(stdin or os.devnull, "rb") as inp:
                r = run(base + args, stdin=inp, capture_output=True, text=True)
            check(name, r.returncode == 2 and "is the input" in r.stderr and os.path.getsize(data) == size,
                  f"status {r.returncode} (want 2), input {os.path.getsize(data)} bytes (want {size}), "
                  f"stderr: {r.stderr.strip()[:300]}")

        # 2. Standard output, redirected to a file, named three ways: every
        # result and reject line intact, none lost.
        for name, target in (("stdout_dash", "-"), ("stdout_dev", "/dev/stdout"), ("stdout_file", None)):
            both = os.path.join(work, f"{name}.jsonl")
            with open(both, "w") as out:
                r = run(base + ["--input", data, "--rejects", target or both], stdout=out, stderr=subprocess.PIPE,
                        text=True)
            try:
                got = lines_of(both)
                results = [x for x in got if "reason" not in x]
                rejects = [x for x in got if "reason" in x]
                ok = r.returncode == 0 and results == want_results and rejects == want_rejects
                why = f"status {r.returncode}, {len(results)} results, {len(rejects)} rejects"
            except json.JSONDecodeError as e:
                ok, why = False, f"a line is not JSON ({e})"
            check(name, ok, why + f"; stderr: {r.stderr.strip()[:300]}")

        # 3. Standard error, redirected to a file: the rejects join the log.
        err = os.path.join(work, "stderr.log")
        with open(err, "w") as e:
            r = run(base + ["--input", data, "--rejects", "/dev/stderr"], stdout=subprocess.DEVNULL, stderr=e)
        with open(err, encoding="utf-8") as f:
            rejects = [json.loads(line) for line in f if line.startswith("{")]
        check("stderr_dev", r.returncode == 0 and rejects == want_rejects,
              f"status {r.returncode}, {len(rejects)} rejects in the log (want {len(want_rejects)})")

    print(f"{len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
