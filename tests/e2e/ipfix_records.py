#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Select, sum and compare the flow records ipfixDump decodes, for the live e2e tests.

    ipfix_records.py sum DUMP FIELD [COND...]     sum of FIELD over the matching records
    ipfix_records.py count DUMP [COND...]         number of matching records
    ipfix_records.py values DUMP FIELD [COND...]  distinct values of FIELD, sorted, one line
    ipfix_records.py ifaces DUMP NAME=IFINDEX...  check every record's interface fields
    ipfix_records.py table DUMP [COND...]         per-key packet and octet totals, sorted

DUMP is the text of `ipfixDump --rfc5610 -i FILE`; RFC 5610 type records (template 0xFFF0)
are skipped. COND is NAME=VALUE or NAME!=VALUE; addresses compare as addresses (ipfixDump
prints fd00:0099::0001), strings without ipfixDump's "(len: N)" prefix, a missing field as
"". Exit status 1 (with the reason on stderr) when `ifaces` finds a bad record.
"""
import ipaddress
import re
import sys

FIELD = re.compile(r"^\s*\((\d+(?:/\d+)?)\)\s+(?:\(S\)\s+)?(\w+) : (.*)$")
TID = re.compile(r"tid:\s*(\d+)")
STRING = re.compile(r"^\(len: \d+\) ?(.*)$")

# What identifies a flow for `table`: everything but timestamps, counters, TCP flags and
# the reason the record was sent (backends may split a flow into records differently).
KEY_FIELDS = (
    "interfaceName", "flowDirection", "ingressInterface", "egressInterface",
    "sourceIPv4Address", "destinationIPv4Address", "sourceIPv6Address",
    "destinationIPv6Address", "sourceTransportPort", "destinationTransportPort",
    "protocolIdentifier", "icmpTypeCodeIPv4", "icmpTypeCodeIPv6", "vlanId",
    "layer2SegmentId", "tunnelType", "tunnelSourceIPv4Address",
    "tunnelDestinationIPv4Address", "tunnelSourceIPv6Address",
    "tunnelDestinationIPv6Address",
)


def records(path):
    """Flow data records of an ipfixDump text file, as {name: value text}."""
    out, cur = [], None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("--- "):
                cur = None
                if "data record" in line:
                    cur = {}
                    out.append(cur)
                continue
            m = TID.search(line)
            if m and cur is not None:
                cur["#tid"] = int(m.group(1))
                continue
            m = FIELD.match(line)
            if m and cur is not None:
                v = m.group(3).rstrip()
                s = STRING.match(v)
                cur[m.group(2)] = s.group(1) if s else v.strip()
    return [r for r in out if r.get("#tid") != 0xFFF0]


def same(got, want):
    try:
        return ipaddress.ip_address(got) == ipaddress.ip_address(want)
    except ValueError:
        return got == want


def matching(recs, conds):
    parsed = []
    for c in conds:
        if "!=" in c:
            k, v = c.split("!=", 1)
            parsed.append((k, v, False))
        else:
            k, v = c.split("=", 1)
            parsed.append((k, v, True))
    return [r for r in recs if all(same(r.get(k, ""), v) == eq for k, v, eq in parsed)]


def number(r, field):
    v = r.get(field, "")
    if not v:
        sys.exit(f"record without {field}: {r}")
    return int(v.split()[0])


def canonical(r, k):
    v = r.get(k, "")
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return v


def check_ifaces(recs, mapping):
    """Every record names one mapped interface, consistently with its direction."""
    bad = 0
    for r in recs:
        name = r.get("interfaceName", "")
        d = r.get("flowDirection", "")
        ing = r.get("ingressInterface", "0")
        egr = r.get("egressInterface", "0")
        want = mapping.get(name)
        if want is None:
            why = f"interfaceName '{name}' is none of {sorted(mapping)}"
        elif d == "0" and (ing, egr) != (want, "0"):
            why = f"ingress record: ingressInterface {ing}, egressInterface {egr}, want {want}, 0"
        elif d == "1" and (ing, egr) != ("0", want):
            why = f"egress record: ingressInterface {ing}, egressInterface {egr}, want 0, {want}"
        elif d not in ("0", "1"):
            why = f"flowDirection '{d}'"
        else:
            continue
        bad += 1
        if bad <= 5:
            brief = {k: v for k, v in r.items() if k in KEY_FIELDS}
            print(f"bad record ({why}): {brief}", file=sys.stderr)
    if bad:
        sys.exit(1)
    print(f"{len(recs)} records")


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    cmd, recs = argv[1], records(argv[2])
    if cmd == "sum":
        print(sum(number(r, argv[3]) for r in matching(recs, argv[4:])))
    elif cmd == "count":
        print(len(matching(recs, argv[3:])))
    elif cmd == "values":
        print(" ".join(sorted({r.get(argv[3], "") for r in matching(recs, argv[4:])})))
    elif cmd == "ifaces":
        check_ifaces(recs, dict(a.split("=", 1) for a in argv[3:]))
    elif cmd == "table":
        totals = {}
        for r in matching(recs, argv[3:]):
            key = " ".join(f"{k}={canonical(r, k)}" for k in KEY_FIELDS if k in r)
            p, o = totals.get(key, (0, 0))
            totals[key] = (p + number(r, "packetDeltaCount"), o + number(r, "octetDeltaCount"))
        for key in sorted(totals):
            print(f"{key} packets={totals[key][0]} octets={totals[key][1]}")
    else:
        sys.exit(f"unknown command '{cmd}'\n{__doc__}")


if __name__ == "__main__":
    main(sys.argv)
