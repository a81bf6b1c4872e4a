#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What one exporter delivered over several IPFIX streams (one per connection), counted by
sequence number.

  ipfix-stream-union.py DUMP...      (ipfixDump --rfc5610 output of each stream's file)

Checks that each stream is numbered without a gap (every message starts where the one
before it ended, RFC 5610 type records included), that a sequence number seen in two
streams carries the same flow record, and that the flow records of all streams together
leave no hole. Prints "records=N duplicates=D packets=P octets=O", each flow record
counted once. Exit status 1 on any failed check.
"""
import re
import sys

FIELD = re.compile(r"^\s*\((\d+(?:/\d+)?)\)\s+(?:\(S\)\s+)?(\w+) : (.*)$")
SEQ = re.compile(r"sequence number:\s*(\d+)")
TID = re.compile(r"tid:\s*(\d+)")
OPTIONS_TID = 0xFFF0  # RFC 5610 type records


def messages(path):
    """[(sequence number, [(tid, {element: value})])] of the data records, per message."""
    msgs, rec = [], None
    in_data = False
    for line in open(path, errors="replace"):
        if line.startswith("--- Message Header"):
            msgs.append([None, []])
            in_data = False
            continue
        m = SEQ.search(line)
        if m and msgs and msgs[-1][0] is None:
            msgs[-1][0] = int(m.group(1))
            continue
        if line.startswith("--- data record"):
            rec = [None, {}]
            msgs[-1][1].append(rec)
            in_data = True
            continue
        if line.startswith("---"):
            in_data = False
            continue
        if not in_data:
            continue
        m = TID.search(line)
        if m and rec[0] is None:
            rec[0] = int(m.group(1))
            continue
        m = FIELD.match(line)
        if m:
            rec[1][m.group(2)] = m.group(3).split()[0] if m.group(3).split() else ""
    return msgs


def main():
    flows = {}  # sequence number -> (packets, octets)
    dups = 0
    bad = []
    for path in sys.argv[1:]:
        expect = None
        for seq, recs in messages(path):
            if seq is None:
                bad.append("%s: message without a sequence number" % path)
                continue
            if expect is not None and seq != expect:
                bad.append("%s: sequence %d, expected %d" % (path, seq, expect))
            expect = (seq + len(recs)) & 0xFFFFFFFF
            for i, (tid, fields) in enumerate(recs):
                if tid == OPTIONS_TID:
                    continue
                key = (seq + i) & 0xFFFFFFFF
                val = (int(fields.get("packetDeltaCount", 0)), int(fields.get("octetDeltaCount", 0)))
                if key in flows:
                    dups += 1
                    if flows[key] != val:
                        bad.append("%s: sequence %d carries another record" % (path, key))
                    continue
                flows[key] = val
    if flows:
        lo, hi = min(flows), max(flows)
        holes = hi - lo + 1 - len(flows)
        if holes:
            first = next(s for s in range(lo, hi + 1) if s not in flows)
            bad.append("%d flow records missing, the first at sequence %d" % (holes, first))
    for b in bad[:20]:
        print("ipfix-stream-union: " + b, file=sys.stderr)
    print(
        "records=%d duplicates=%d packets=%d octets=%d"
        % (len(flows), dups, sum(v[0] for v in flows.values()), sum(v[1] for v in flows.values()))
    )
    return 1 if bad else 0


sys.exit(main())
