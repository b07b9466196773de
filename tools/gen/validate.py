#!/usr/bin/env python3
"""Check uniqd-gen output with Python's json module (an independent parser).

  validate.py FRAMES [--truth TRUTH] [--ts-unit s|ms] [--max-frame-bytes N]
              [--expect-all CLASS] [--users U]

Classifies every line by SEMANTICS.md section 1, rules 1-7 (blank, too_large,
malformed_json, duplicate_key, missing_uid, missing_ts, bad_uid_type, bad_ts,
ok), reads the root uid identity and ts (seconds), and:
  * with --truth: checks class, uid and ts of every line against the
    generator's own truth file;
  * with --expect-all CLASS: checks that every line has that class;
  * reports how many frames carry nested decoy uid/ts keys and duplicate keys.
Exit status 1 on any mismatch.
"""
import argparse
import json
import math
import re
import sys

INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
INT64_MIN = -(2**63)
MAX_TS = 253402300799
DIGITS = re.compile(r"[0-9]{1,19}")


class Reject(Exception):
    pass


class RawInt(int):
    """An integer that remembers its JSON text."""


def parse_int(text):
    v = RawInt(int(text))
    if v > UINT64_MAX or v < INT64_MIN:
        raise Reject("integer out of 64-bit range")
    v.text = "0" if text == "-0" else text
    return v


def parse_float(text):
    v = float(text)
    if math.isinf(v):
        raise Reject("float overflow")
    return v


def parse_constant(text):
    raise Reject("non-JSON literal " + text)


class Pairs(list):
    """An object, as its list of (key, value) pairs (duplicates kept)."""


def nesting_depth(line):
    depth = best = 0
    in_str = esc = False
    for ch in line:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


def parse(raw):
    text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if nesting_depth(text) > 1024:
        raise Reject("too deep")
    doc = json.loads(text, object_pairs_hook=Pairs, parse_int=parse_int,
                     parse_float=parse_float, parse_constant=parse_constant)
    if not isinstance(doc, Pairs):
        raise Reject("root is not an object")
    return doc


def classify(raw, unit, max_frame_bytes):
    """Returns (class, uid identity, ts seconds, parsed root or None)."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if len(raw) > max_frame_bytes:  # size first, even for whitespace
        return "too_large", None, None, None
    if raw.strip(b" \t\r") == b"":  # JSON whitespace (a line holds no \n)
        return "blank", None, None, None
    try:
        root = parse(raw)
    except (ValueError, Reject, RecursionError):
        return "malformed_json", None, None, None
    uids = [v for k, v in root if k == "uid"]
    tss = [v for k, v in root if k == "ts"]
    if len(uids) > 1 or len(tss) > 1:
        return "duplicate_key", None, None, root
    if not uids:
        return "missing_uid", None, None, root
    if not tss:
        return "missing_ts", None, None, root
    uid, ts = uids[0], tss[0]
    if isinstance(uid, str):
        ident = uid
    elif isinstance(uid, RawInt):
        ident = uid.text
    else:
        return "bad_uid_type", None, None, root
    if isinstance(ts, RawInt):
        val = int(ts) if ts >= 0 else None
    elif isinstance(ts, str):
        val = int(ts) if DIGITS.fullmatch(ts) else None
    elif isinstance(ts, float) and not isinstance(ts, bool):
        val = int(ts) if ts >= 0 and ts < 2.0**63 else None
    else:
        val = None
    if val is None or val > INT64_MAX:
        return "bad_ts", None, None, root
    if unit == "ms":
        val //= 1000
    if val > MAX_TS:
        return "bad_ts", None, None, root
    return "ok", ident, val, root


def walk(value, depth, acc):
    """Counts nested uid/ts decoys and nested duplicate keys."""
    if isinstance(value, Pairs):
        keys = [k for k, _ in value]
        if depth > 0:
            if "uid" in keys or "ts" in keys:
                acc["decoy"] = True
            if len(set(keys)) != len(keys):
                acc["nested_dup"] = True
        acc["depth"] = max(acc["depth"], depth)
        for _, v in value:
            walk(v, depth + 1, acc)
    elif isinstance(value, list):
        acc["depth"] = max(acc["depth"], depth)
        for v in value:
            walk(v, depth + 1, acc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("frames")
    ap.add_argument("--truth")
    ap.add_argument("--ts-unit", default="s", choices=["s", "ms"])
    ap.add_argument("--max-frame-bytes", type=int, default=1 << 20)
    ap.add_argument("--expect-all")
    ap.add_argument("--users", type=int)
    args = ap.parse_args()

    data = open(args.frames, "rb").read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    truth = None
    if args.truth:
        truth = [json.loads(t) for t in open(args.truth, encoding="utf-8")]
        if len(truth) != len(lines):
            print(f"truth has {len(truth)} lines, frames {len(lines)}")
            return 1

    classes, errors = {}, 0
    frames = decoy = root_dup = nested_dup = crlf = 0
    users, max_depth = set(), 0
    for n, raw in enumerate(lines, 1):
        crlf += raw.endswith(b"\r")
        cls, uid, ts, root = classify(raw, args.ts_unit, args.max_frame_bytes)
        classes[cls] = classes.get(cls, 0) + 1
        if cls != "blank":
            frames += 1
        if root is not None:
            acc = {"decoy": False, "nested_dup": False, "depth": 0}
            walk(root, 0, acc)
            decoy += acc["decoy"]
            nested_dup += acc["nested_dup"]
            max_depth = max(max_depth, acc["depth"])
            keys = [k for k, _ in root if k not in ("uid", "ts")]
            root_dup += len(set(keys)) != len(keys)
        if uid is not None:
            users.add(uid)
        problem = None
        if args.expect_all and cls != args.expect_all:
            problem = f"class {cls}, expected {args.expect_all}"
        if truth is not None:
            t = truth[n - 1]
            if t["line"] != n:
                problem = f"truth line number {t['line']}"
            elif t["class"] != cls:
                problem = f"class {cls}, truth says {t['class']}"
            elif cls == "ok" and (t["uid"] != uid or t["ts"] != ts):
                problem = f"uid/ts {uid}/{ts}, truth says {t['uid']}/{t['ts']}"
            elif cls == "ok" and not t["faults"] and not (
                    re.fullmatch(r"[0-9a-f]{19}", uid) and ts == t["event_ts"]):
                problem = f"fault-free frame has uid {uid} ts {ts} (event_ts {t['event_ts']})"
        if problem:
            errors += 1
            if errors <= 10:
                print(f"line {n}: {problem}: {raw[:200]!r}")
    if args.users is not None and len(users) > args.users:
        errors += 1
        print(f"{len(users)} distinct uids > pool of {args.users}")
    print(json.dumps({"lines": len(lines), "frames": frames, "classes": classes,
                      "distinct_uids": len(users), "frames_with_decoys": decoy,
                      "frames_with_root_dup_keys": root_dup,
                      "frames_with_nested_dup_keys": nested_dup,
                      "max_container_depth": max_depth, "crlf": crlf,
                      "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
