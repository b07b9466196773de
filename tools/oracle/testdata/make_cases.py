#!/usr/bin/env python3
# Writes the hand-computed cases in this directory (NAME.jsonl/.args/.expected/.rejects).
# The expected results below were worked out by hand from docs/SEMANTICS.md, frame by
# frame; Python datetime only turns the hand-written window starts into timestamps.
# Edit a case here and rerun; then check with ../run_testdata.sh BINARY.
import datetime as dt, json, os
D = os.path.dirname(os.path.abspath(__file__))
UTC = dt.timezone.utc
def ep(s): return int(dt.datetime.fromisoformat(s.replace("Z","+00:00")).timestamp())
def iso(t): return dt.datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
def win(g, start):
    s = dt.datetime.fromisoformat(start.replace("Z","+00:00"))
    if g == "minute": e = s + dt.timedelta(minutes=1)
    elif g == "hour": e = s + dt.timedelta(hours=1)
    elif g == "day": e = s + dt.timedelta(days=1)
    elif g == "week": assert s.weekday() == 0; e = s + dt.timedelta(days=7)
    elif g == "month": assert s.day == 1; e = s.replace(year=s.year + (s.month == 12), month=s.month % 12 + 1)
    elif g == "year": assert s.month == 1 and s.day == 1; e = s.replace(year=s.year + 1)
    return int(s.timestamp()), int(e.timestamp())
def res(g, start, u, f, rev=0):
    s, e = win(g, start)
    return ('{"window":"%s","start":"%s","end":"%s","start_ts":%d,"end_ts":%d,'
            '"unique_users":%d,"frames":%d,"final":true,"revision":%d}') % (g, iso(s), iso(e), s, e, u, f, rev)
def fr(uid, ts, **extra):
    d = {"uid": uid, "ts": ts}; d.update(extra)
    return json.dumps(d, separators=(",", ":")).encode()
def case(name, args, lines, expected, rejects):
    with open(f"{D}/{name}.jsonl", "wb") as f:
        f.write(b"".join(l + b"\n" if not l.endswith(b"\r\n") else l for l in lines))
    open(f"{D}/{name}.args", "w").write(args + "\n")
    open(f"{D}/{name}.expected", "w").write("".join(r + "\n" for r in expected))
    open(f"{D}/{name}.rejects", "w").write("".join('{"reason":"%s","line":%d}\n' % (r, l) for l, r in sorted(rejects)))

T0 = ep("2016-07-11T13:39:00Z")
# ---- every reject reason, and the parsing rules of §1
pad = b'{"uid":"z","ts":1468244342,"pad":"' + b"x" * 230 + b'"}'
case("rejects", "--windows minute --max-frame-bytes 256", [
    fr("a", T0),                                                  # 1 ok
    b"",                                                          # 2 blank
    b'{"uid":"a","ts":1468244340',                                # 3 truncated
    b'{"uid":"b","ts":1468244341,"uid":"c"}',                     # 4 duplicate uid
    b'{"ts":1468244341}',                                         # 5
    b'{"uid":"b"}',                                               # 6
    b'{"uid":1.5,"ts":1468244341}',                               # 7
    b'{"uid":"b","ts":-1}',                                       # 8
    b'{"uid":"b","ts":4102444800}',                               # 9 year 2100
    pad,                                                          # 10 too_large
    b'{"uid":"b","ts":1468244342,"x":{"uid":1,"ts":"zz","ts":2}}',# 11 ok, nested ignored
    b'{"u\\u0069d":"c","ts":"1468244343"}',                       # 12 ok: escaped key, string ts
    b'{"uid":123,"ts":1468244343.9}',                             # 13 ok: uid "123", ts truncated
    b'{ "ts" : 1468244344 , "uid" : "123" }',                     # 14 ok: same user as 13
    b'{"uid":"d","ts":1468244344,"big":18446744073709551616}',    # 15 integer out of range
    b'{"uid":"d","ts":1468244344,"x":[1e400]}',                   # 16 float overflow
    b'[{"uid":"d","ts":1468244344}]',                             # 17 root not an object
    b'{"uid":"d","ts":1468244344} x',                             # 18 trailing garbage
    b'{"uid":-0,"ts":1468244345}',                                # 19 ok: uid "0"
    b'{"uid":"0","ts":1468244345}',                               # 20 ok: same user
    b'{"uid":"e","ts":"+1468244345"}',                            # 21
    b'{"uid":"e","ts":"12345678901234567890"}',                   # 22 20 digits: future
    b'{"uid":"e","ts":253402300800}',                             # 23 after 9999-12-31: future
    b'{"uid":null,"ts":1468244345}',                              # 24
    b'{"uid":1e2,"ts":1468244345}',                               # 25
    b'{"uid":"e","ts":true}',                                     # 26
    b' \t  ',                                                     # 27 blank
    b'{"uid":"f","ts":1468244346,"t\\u0073":1}',                  # 28 duplicate ts (escaped)
    b'{"uid":"f","ts":-0.5}',                                     # 29 truncated: 0, a suspect
    b'{"uid":"f","ts":9223372036854775808}',                      # 30 > int64: future
    b'{"uid":"\xff","ts":1468244346}',                            # 31 invalid UTF-8
    b'{"uid":"g","ts":1468244346}\r\n',                           # 32 ok, CRLF
    b'{"uid":"h","ts":"146824434 "}',                             # 33
    b'{"uid":{"id":1},"ts":1468244346}',                          # 34
    b'\xef\xbb\xbf{"uid":"h","ts":1468244346}',                   # 35 BOM
    b'{"uid":"\\ud800","ts":1468244346}',                         # 36 lone surrogate
    b'{"uid":"h","ts":1468244346,}',                              # 37 trailing comma
    b'{"uid":"h","ts":01468244346}',                              # 38 leading zero
    b'{"uid":"h","ts":1468244346}{}',                             # 39 two documents
    b'{"uid":"\\u00e9\xd0\xb6","ts":1468244347}',                 # 40 ok: escaped + raw UTF-8
    b'{"uid":"","ts":1468244347}',                                # 41 ok: empty uid
    b'{"uid":"","ts":1468244347.0}',                              # 42 ok
    b'{"uid":9223372036854775807,"ts":0.0}',                      # 43 ok: ts 0 (1970) is a suspect
    b'{"uid":"i","ts":"000000000001468244347"}',                  # 44 ok: leading zeros
    b'{"uid":"j","ts":1468244347000}',                            # 45 ms sent as s: future
  ], [res("minute", "2016-07-11T13:39:00Z", 9, 12)],
  [(3,"malformed_json"),(4,"duplicate_key"),(5,"missing_uid"),(6,"missing_ts"),(7,"bad_uid_type"),
   (8,"bad_ts"),(9,"future"),(10,"too_large"),(15,"malformed_json"),(16,"malformed_json"),
   (17,"malformed_json"),(18,"malformed_json"),(21,"bad_ts"),(22,"future"),(23,"future"),
   (24,"bad_uid_type"),(25,"bad_uid_type"),(26,"bad_ts"),(28,"duplicate_key"),(29,"outlier"),
   (30,"future"),(31,"malformed_json"),(33,"bad_ts"),(34,"bad_uid_type"),(35,"malformed_json"),
   (36,"malformed_json"),(37,"malformed_json"),(38,"malformed_json"),(39,"malformed_json"),
   (43,"outlier"),(45,"future")])
# users: a b c 123 0 g "é ж" "" i = 9; frames: 1 11 12 13 14 19 20 32 40 41 42 44 = 12
# Lines 29 and 43 (ts 0) are suspects: 32, 40 and 41 reject the first cluster
# (29); 43 starts another, rejected at end of input.

# ---- nesting depth: the root object is depth 1; 1024 is allowed, 1025 is malformed
def nested(n): return b'{"uid":"a","ts":1468244340,"x":' + b"[" * (n - 1) + b"]" * (n - 1) + b"}"
case("depth", "--windows minute", [nested(1024), nested(1025).replace(b'"a"', b'"b"')],
     [res("minute", "2016-07-11T13:39:00Z", 1, 1)], [(2, "malformed_json")])

# ---- frame size: 64 bytes allowed, 65 too_large; the \r of CRLF does not count
def sized(uid, n):
    base = b'{"uid":"%s","ts":1468244340,"p":""}' % uid
    return base[:-2] + b"x" * (n - len(base)) + b'"}'
case("frame_size", "--windows minute --max-frame-bytes 64",
     [sized(b"a", 64), sized(b"b", 65), sized(b"c", 64) + b"\r\n", b"\r\n", b"   \r\n"],
     [res("minute", "2016-07-11T13:39:00Z", 2, 2)], [(2, "too_large")])

# ---- lateness with drop and with update (+ retention, revisions, never-emitted window)
late_frames = [fr("a", ep("2016-07-11T13:39:00Z")), fr("b", ep("2016-07-11T13:40:10Z")),
    fr("c", ep("2016-07-11T13:39:10Z")), fr("d", ep("2016-07-11T14:30:05Z")),
    fr("e", ep("2016-07-11T13:40:00Z")), fr("e", ep("2016-07-11T13:40:01Z")),
    fr("f", ep("2016-07-11T14:30:06Z")), fr("g", ep("2016-07-11T14:30:07Z")),
    fr("k", ep("2016-07-11T14:30:08Z")), fr("h", ep("2016-07-11T13:39:05Z")),
    fr("i", ep("2016-07-11T12:00:00Z")), fr("j", ep("2016-07-11T14:35:00Z"))]
# Default (partition_time_confirm 3): a step of the partition time of more
# than lateness (5 s) waits for 3 consecutive frames; every step here is
# larger. The partition time is then the largest min over the last 3 accepted
# ts: line 6 brings it to 13:40:00; lines 7-9 are the first three in a row
# past 14:30, so line 9 moves it to 14:30:06 (watermark 14:30:01) and closes
# 13:39, 13:40 and hour 13. Line 10 is then late for both its windows, line 11
# too.
case("late_drop", "--windows minute,hour --outlier-threshold 3h", late_frames, [
    res("minute", "2016-07-11T13:39:00Z", 2, 2), res("minute", "2016-07-11T13:40:00Z", 2, 3),
    res("hour", "2016-07-11T13:00:00Z", 4, 5), res("minute", "2016-07-11T14:30:00Z", 4, 4),
    res("minute", "2016-07-11T14:35:00Z", 1, 1), res("hour", "2016-07-11T14:00:00Z", 5, 5)],
    [(10, "late"), (11, "late")])
# With update and 1h retention, line 10 revises minute 13:39 and hour 13 (in
# end order); line 11 is past retention for both its windows (12:01 and 13:00
# plus 1h are behind the watermark).
case("late_update", "--windows minute,hour --outlier-threshold 3h --late-policy update --retention 1h",
    late_frames, [
    res("minute", "2016-07-11T13:39:00Z", 2, 2), res("minute", "2016-07-11T13:40:00Z", 2, 3),
    res("hour", "2016-07-11T13:00:00Z", 4, 5), res("minute", "2016-07-11T13:39:00Z", 3, 3, 1),
    res("hour", "2016-07-11T13:00:00Z", 5, 6, 1), res("minute", "2016-07-11T14:30:00Z", 4, 4),
    res("minute", "2016-07-11T14:35:00Z", 1, 1), res("hour", "2016-07-11T14:00:00Z", 5, 5)],
    [(11, "late")])
# --partition-time-confirm 1: the partition time is the largest accepted ts.
# Line 2 (13:40:10) closes minute 13:39 (watermark 13:40:05); line 3 is late
# for it but counts for hour 13. Line 4 (14:30:05, watermark 14:30:00) closes
# minute 13:40 and hour 13, so lines 5, 6, 10 and 11 are late for both their
# windows. Line 12 (14:35:00) closes minute 14:30 (d f g k); end of input the
# rest.
case("late_drop_ptime1", "--windows minute,hour --outlier-threshold 3h --partition-time-confirm 1", late_frames, [
    res("minute", "2016-07-11T13:39:00Z", 1, 1), res("minute", "2016-07-11T13:40:00Z", 1, 1),
    res("hour", "2016-07-11T13:00:00Z", 3, 3), res("minute", "2016-07-11T14:30:00Z", 4, 4),
    res("minute", "2016-07-11T14:35:00Z", 1, 1), res("hour", "2016-07-11T14:00:00Z", 5, 5)],
    [(5, "late"), (6, "late"), (10, "late"), (11, "late")])
# The same with update and 1h retention: line 3 revises minute 13:39 (a c);
# line 5 revises minute 13:40 (b e) and hour 13 (a b c e), in end order; line
# 6 adds only a frame (no emission); line 10 revises minute 13:39 (a c h) and
# hour 13 (5 users, 6 frames); line 11 is past retention for both its windows.
case("late_update_ptime1",
    "--windows minute,hour --outlier-threshold 3h --late-policy update --retention 1h --partition-time-confirm 1",
    late_frames, [
    res("minute", "2016-07-11T13:39:00Z", 1, 1), res("minute", "2016-07-11T13:39:00Z", 2, 2, 1),
    res("minute", "2016-07-11T13:40:00Z", 1, 1), res("hour", "2016-07-11T13:00:00Z", 3, 3),
    res("minute", "2016-07-11T13:40:00Z", 2, 2, 1), res("hour", "2016-07-11T13:00:00Z", 4, 4, 1),
    res("minute", "2016-07-11T13:39:00Z", 3, 3, 2), res("hour", "2016-07-11T13:00:00Z", 5, 6, 2),
    res("minute", "2016-07-11T14:30:00Z", 4, 4), res("minute", "2016-07-11T14:35:00Z", 1, 1),
    res("hour", "2016-07-11T14:00:00Z", 5, 5)],
    [(11, "late")])

# ---- the partition time in small steps and a flip within the threshold (minute
#      windows, lateness 5 s). a b c (B+55, 57, 59) confirm each other; every
#      step up to 5 s is taken at once: d (B+63), e (B+65, watermark B+60)
#      closes minute B with a b c, f (B+58) is late. g (B+200) is 135 s ahead:
#      by default it waits for 3 frames in a row and never gets them, so h and i
#      (B+66, 67) still count in minute B+60 (d e h i). With
#      --partition-time-confirm 1, g moves the partition time to B+200: minute
#      B+60 closes with d e, and h and i are late.
B = ep("2016-07-11T13:00:00Z")
steps = [fr(u, B + t) for u, t in zip("abcdefghi", (55, 57, 59, 63, 65, 58, 200, 66, 67))]
case("ptime_steps", "--windows minute", steps,
     [res("minute", "2016-07-11T13:00:00Z", 3, 3), res("minute", "2016-07-11T13:01:00Z", 4, 4),
      res("minute", "2016-07-11T13:03:00Z", 1, 1)], [(6, "late")])
case("ptime_steps_ptime1", "--windows minute --partition-time-confirm 1", steps,
     [res("minute", "2016-07-11T13:00:00Z", 3, 3), res("minute", "2016-07-11T13:01:00Z", 2, 2),
      res("minute", "2016-07-11T13:03:00Z", 1, 1)], [(6, "late"), (8, "late"), (9, "late")])

# ---- out of order with big steps: with --partition-time-confirm 1 (the largest
#      accepted ts) b (13:01:10) closes minute 13:00 with a alone; c (13:00:20)
#      is late for it but counts for hour 13. By default b's 60 s step waits for
#      3 frames in a row: the partition time stays at 13:00:10 (min of a b c)
#      and nothing closes before end of input.
case("ptime_ptime1", "--windows minute,hour --partition-time-confirm 1",
     [fr("a", B + 10), fr("b", B + 70), fr("c", B + 20)],
     [res("minute", "2016-07-11T13:00:00Z", 1, 1), res("minute", "2016-07-11T13:01:00Z", 1, 1),
      res("hour", "2016-07-11T13:00:00Z", 3, 3)], [])
case("ptime_big_steps", "--windows minute,hour",
     [fr("a", B + 10), fr("b", B + 70), fr("c", B + 20)],
     [res("minute", "2016-07-11T13:00:00Z", 2, 2), res("minute", "2016-07-11T13:01:00Z", 1, 1),
      res("hour", "2016-07-11T13:00:00Z", 3, 3)], [])

# ---- outliers rejected: at the start (before ptime), in the middle, pending at the end
case("outlier", "--windows minute,hour", [
    fr("x", 1568244340), fr("a", T0), fr("b", T0 + 1), fr("c", T0 + 2),
    fr("y", ep("2016-07-11T16:39:00Z")), fr("d", T0 + 3), fr("e", T0 + 4), fr("f", T0 + 5),
    fr("g", T0 + 60), fr("z", 1368244340)],
    [res("minute", "2016-07-11T13:39:00Z", 6, 6), res("minute", "2016-07-11T13:40:00Z", 1, 1),
     res("hour", "2016-07-11T13:00:00Z", 7, 7)],
    [(1, "outlier"), (5, "outlier"), (10, "outlier")])

# ---- a real 2h gap confirmed by 3 frames (a normal frame in between counts against it)
case("jump", "--windows minute,hour", [
    fr("a", T0), fr("b", T0 + 1), fr("c", T0 + 2), fr("d", T0 + 60),
    fr("e", ep("2016-07-11T15:40:00Z")), fr("f", ep("2016-07-11T15:40:01Z")),
    fr("g", T0 + 61), fr("h", ep("2016-07-11T15:40:02Z")), fr("i", ep("2016-07-11T15:41:00Z")),
    fr("j", T0 + 62)],
    [res("minute", "2016-07-11T13:39:00Z", 3, 3), res("minute", "2016-07-11T13:40:00Z", 2, 2),
     res("hour", "2016-07-11T13:00:00Z", 5, 5), res("minute", "2016-07-11T15:40:00Z", 3, 3),
     res("minute", "2016-07-11T15:41:00Z", 1, 1), res("hour", "2016-07-11T15:00:00Z", 4, 4)],
    [(10, "outlier")])

# ---- after a confirmation, members of another cluster near the new ptime are accepted;
#      the rest of that cluster is rejected when K frames counted against it
case("recheck", "--windows minute,day", [
    fr("p", ep("2016-07-11T13:00:00Z")), fr("q", ep("2016-07-11T14:30:00Z")),
    fr("r", ep("2016-07-11T13:45:00Z")), fr("s", ep("2016-07-11T14:30:01Z")),
    fr("u", ep("2016-07-11T14:30:02Z"))],
    [res("minute", "2016-07-11T14:30:00Z", 3, 3), res("day", "2016-07-11T00:00:00Z", 4, 4)],
    [(1, "outlier")])

# ---- end of input before any ptime: the largest cluster is confirmed, oldest on a tie
case("eof_short", "--windows minute",
     [fr("a", T0), fr("b", 1568244340), fr("c", T0 + 1)],
     [res("minute", "2016-07-11T13:39:00Z", 2, 2)], [(2, "outlier")])
case("eof_tie", "--windows minute", [fr("a", T0), fr("b", 1568244340)],
     [res("minute", "2016-07-11T13:39:00Z", 1, 1)], [(2, "outlier")])

# ---- at most 4 pending clusters: a 5th rejects the oldest
t = ep("2016-07-11T00:30:00Z")
case("five_clusters", "--windows hour --outlier-confirm 6",
     [fr(u, t + i * 7200) for i, u in enumerate("abcdef")],
     [res("hour", "2016-07-11T04:00:00Z", 1, 1)],
     [(1, "outlier"), (2, "outlier"), (4, "outlier"), (5, "outlier"), (6, "outlier")])

# ---- ISO weeks across a year end, leap day, month and year windows
cal = ["2020-12-27T23:59:59Z", "2020-12-28T00:00:00Z", "2020-12-31T12:00:00Z",
       "2021-01-01T00:00:00Z", "2021-01-03T23:59:59Z", "2021-01-04T00:00:00Z",
       "2024-02-28T12:00:00Z", "2024-02-29T00:00:00Z", "2024-02-29T23:59:59Z",
       "2024-03-01T00:00:00Z"]
case("calendar", "--windows day,week,month,year --outlier-threshold 100000d",
     [fr(u, ep(s)) for u, s in zip("abcdefghij", cal)], [
    res("day", "2020-12-27T00:00:00Z", 1, 1), res("week", "2020-12-21T00:00:00Z", 1, 1),
    res("day", "2020-12-28T00:00:00Z", 1, 1),
    res("day", "2020-12-31T00:00:00Z", 1, 1), res("month", "2020-12-01T00:00:00Z", 3, 3),
    res("year", "2020-01-01T00:00:00Z", 3, 3), res("day", "2021-01-01T00:00:00Z", 1, 1),
    res("day", "2021-01-03T00:00:00Z", 1, 1), res("week", "2020-12-28T00:00:00Z", 4, 4),
    res("day", "2021-01-04T00:00:00Z", 1, 1), res("week", "2021-01-04T00:00:00Z", 1, 1),
    res("month", "2021-01-01T00:00:00Z", 3, 3), res("year", "2021-01-01T00:00:00Z", 3, 3),
    res("day", "2024-02-28T00:00:00Z", 1, 1),
    res("day", "2024-02-29T00:00:00Z", 2, 2), res("month", "2024-02-01T00:00:00Z", 3, 3),
    res("day", "2024-03-01T00:00:00Z", 1, 1), res("week", "2024-02-26T00:00:00Z", 4, 4),
    res("month", "2024-03-01T00:00:00Z", 1, 1), res("year", "2024-01-01T00:00:00Z", 4, 4)], [])

# ---- millisecond timestamps
case("ts_ms", "--windows minute --ts-unit ms", [
    b'{"uid":"a","ts":1468244340999}', b'{"uid":"b","ts":"1468244341000"}',
    b'{"uid":"c","ts":1468244399999.9}', b'{"uid":"d","ts":999}',
    b'{"uid":"e","ts":253402300799999}', b'{"uid":"e","ts":253402300800000}'],
    [res("minute", "2016-07-11T13:39:00Z", 3, 3)],
    [(4, "outlier"), (5, "future"), (6, "future")])

# ---- all six windows by default; duplicates of a user; a blank last line without \n
case("defaults", "", [fr("a", T0), fr("a", T0 + 1), fr(7, T0 + 2), fr("7", T0 + 70),
                     fr("b", T0 + 130), b"  "],
    [res("minute", "2016-07-11T13:39:00Z", 2, 3), res("minute", "2016-07-11T13:40:00Z", 1, 1),
     res("minute", "2016-07-11T13:41:00Z", 1, 1), res("hour", "2016-07-11T13:00:00Z", 3, 5),
     res("day", "2016-07-11T00:00:00Z", 3, 5), res("week", "2016-07-11T00:00:00Z", 3, 5),
     res("month", "2016-07-01T00:00:00Z", 3, 5), res("year", "2016-01-01T00:00:00Z", 3, 5)], [])
# the last line of defaults.jsonl is blank and has no \n
p = f"{D}/defaults.jsonl"; b = open(p, "rb").read(); open(p, "wb").write(b[:-1])

# ---- early (non-final) results, §4: cases named early_* list every result, early ones included
def early(g, start, u, f):
    return res(g, start, u, f).replace('"final":true', '"final":false')
H = ep("2016-07-11T13:58:00Z")  # two minutes before an hour ends; lateness 120s
early_frames = [fr("a", H), fr("b", H + 70), fr("c", H + 130), fr("d", H + 190), fr("e", H + 195),
                fr("f", H + 90), fr("g", H + 250)]
early_expected = [
    # 1 a 13:58:00: ptime 13:58:00, W 13:56:00, the first W: crosses no boundary
    early("hour", "2016-07-11T13:00:00Z", 2, 2),    # 2 b 13:59:10: W 13:57:10 crosses 13:57
    early("hour", "2016-07-11T14:00:00Z", 1, 1),    # 3 c 14:00:10: W 13:58:10; hour 13 unchanged
    res("minute", "2016-07-11T13:58:00Z", 1, 1),    # 4 d 14:01:10: W 13:59:10, finals first
    early("hour", "2016-07-11T14:00:00Z", 2, 2),
    # 5 e 14:01:15: no crossing; 6 f 13:59:30 counted in open windows, ptime stays, no crossing
    res("minute", "2016-07-11T13:59:00Z", 2, 2),    # 7 g 14:02:10: W 14:00:10
    res("hour", "2016-07-11T13:00:00Z", 3, 3),
    early("hour", "2016-07-11T14:00:00Z", 4, 4),
    res("minute", "2016-07-11T14:00:00Z", 1, 1),    # end of input: no early results, all final
    res("minute", "2016-07-11T14:01:00Z", 2, 2),
    res("minute", "2016-07-11T14:02:00Z", 1, 1),
    res("hour", "2016-07-11T14:00:00Z", 4, 4)]
early_args = "--windows minute,hour --lateness 120s --outlier-confirm 1 --partition-time-confirm 1"
case("early_cadence", early_args, early_frames, early_expected, [])
case("early_off", early_args + " --no-early-results", early_frames,
     [r for r in early_expected if '"final":true' in r], [])
# Several long windows: early results by granularity, then start (week before
# month although June ends first); finals by end, granularity, start.
J = ep("2016-06-30T23:58:00Z")  # a Thursday: the week ends 2016-07-04
case("early_order", "--windows hour,week,month --lateness 0s --outlier-confirm 1 --partition-time-confirm 1",
     [fr("a", J), fr("b", J + 70)],
     [early("hour", "2016-06-30T23:00:00Z", 2, 2), early("week", "2016-06-27T00:00:00Z", 2, 2),
      early("month", "2016-06-01T00:00:00Z", 2, 2),
      res("hour", "2016-06-30T23:00:00Z", 2, 2), res("month", "2016-06-01T00:00:00Z", 2, 2),
      res("week", "2016-06-27T00:00:00Z", 2, 2)], [])
