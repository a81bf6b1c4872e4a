#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Flow records as a collector received them, for assertions in end-to-end tests.

  ipfix-records.py decode DUMP [ARRIVALS]
      ipfixDump output -> one JSON object per flow data record (RFC 5610 type records are
      skipped): element name -> value as decoded ("(len: N) " removed), plus "arrival_ms"
      of the record's message from the collector's ARRIVALS file (message order and
      sequence numbers are cross-checked).
  ipfix-records.py check RECORDS [--where K=V]... [--expect K=V]... [--after MS]
                   [--before MS] [--min N] [--first | --sum FIELD]
      Every record matching all --where (and arriving in [--after, --before)) must carry
      every --expect value (V empty: the element is empty or absent). Fails when fewer than
      --min (default 1) records match. Prints the number of records checked; with --first
      the arrival_ms of the earliest one; with --sum the sum of FIELD over them.
"""
import json
import re
import sys

FIELD = re.compile(r"^\s*\((\d+(?:/\d+)?)\)\s+(?:\(S\)\s+)?(\w+) : (.*)$")
TID = re.compile(r"tid:\s*(\d+)")
SEQ = re.compile(r"sequence number:\s*(\d+)")


def clean(v):
    m = re.match(r"\(len: \d+\) ?(.*)$", v)
    return (m.group(1) if m else v).strip()


def decode(dump, arrivals):
    arr = []
    if arrivals:
        with open(arrivals) as f:
            arr = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
    msg = -1
    records, cur = [], None
    for line in open(dump, errors="replace"):
        if line.startswith("--- Message Header"):
            msg += 1
            cur = None
            continue
        m = SEQ.search(line)
        if m and arrivals:
            if msg >= len(arr) or arr[msg][1] != int(m.group(1)):
                sys.exit("message %d: sequence %s does not match the arrivals file" %
                         (msg, m.group(1)))
            continue
        if line.startswith("--- "):
            cur = None
            if "data record" in line:
                cur = {"#msg": msg}
                if arrivals:
                    cur["arrival_ms"] = arr[msg][0]
                records.append(cur)
            continue
        m = TID.search(line)
        if m and cur is not None:
            cur["#tid"] = int(m.group(1))
            continue
        m = FIELD.match(line)
        if m and cur is not None:
            cur[m.group(2)] = clean(m.group(3))
    for r in records:
        if r.get("#tid") != 0xFFF0:
            print(json.dumps(r, sort_keys=True))


def check(path, argv):
    where, expect, after, before, need, first, total = [], [], None, None, 1, False, None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--first":
            first = True
            i += 1
            continue
        v = argv[i + 1]
        if a == "--where":
            where.append(v.split("=", 1))
        elif a == "--expect":
            expect.append(v.split("=", 1))
        elif a == "--after":
            after = int(v)
        elif a == "--before":
            before = int(v)
        elif a == "--min":
            need = int(v)
        elif a == "--sum":
            total = [v, 0]
        else:
            sys.exit("unknown option %s" % a)
        i += 2
    n, bad, t0 = 0, [], None
    for line in open(path):
        r = json.loads(line)
        if not all(r.get(k, "") == v for k, v in where):
            continue
        t = r.get("arrival_ms", 0)
        if (after is not None and t < after) or (before is not None and t >= before):
            continue
        n += 1
        t0 = t if t0 is None else min(t0, t)
        if total:
            total[1] += int(r.get(total[0], "0").split()[0])
        miss = ["%s=%r (want %r)" % (k, r.get(k, ""), v) for k, v in expect
                if r.get(k, "") != v]
        if miss:
            bad.append("record arriving at %s: %s" % (t, ", ".join(miss)))
    if n < need:
        sys.exit("%d records match %s in the window, want at least %d" %
                 (n, " ".join("%s=%s" % tuple(w) for w in where), need))
    if bad:
        sys.exit("%d of %d records are labelled wrongly; first: %s" % (len(bad), n, bad[0]))
    print(t0 if first else total[1] if total else n)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "decode":
        decode(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif len(sys.argv) >= 3 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
