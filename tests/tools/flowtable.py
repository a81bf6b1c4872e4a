#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Condense ipfixDump's decoded flow records (stdin) into one line per flow: the
addresses, ports, counters and the main labels of both ends, exactly as decoded."""
import re
import sys

FIELD = re.compile(r"^\s*\((\d+(?:/\d+)?)\)\s+(?:\(S\)\s+)?(\w+) : (.*)$")
TID = re.compile(r"tid:\s*(\d+)")


def value(rec, name):
    v = rec.get(name, "")
    m = re.match(r"\(len: \d+\) ?(.*)", v)
    return m.group(1) if m else v


def endpoint(rec, side):
    addr = value(rec, side + "IPv4Address") or value(rec, side + "IPv6Address")
    port = value(rec, side + "TransportPort")
    kind = value(rec, side + "EntityKind")
    ns, pod = value(rec, side + "PodNamespace"), value(rec, side + "PodName")
    if pod:
        name = f"{ns}/{pod} ({value(rec, side + 'WorkloadKind')} {value(rec, side + 'WorkloadName')})"
    elif kind == "service":
        name = f"service {ns}/{value(rec, side + 'ServiceName')}"
    elif kind == "vm":
        name = f"vm {value(rec, side + 'VmName')}"
    else:
        name = kind or "?"
    where = " ".join(x for x in (value(rec, side + "Zone"), value(rec, side + "VpcId")) if x)
    return f"{addr}:{port} {name} [{where}]"


records, rec = [], None
for line in sys.stdin:
    m = TID.search(line)
    if m:
        rec = {} if int(m.group(1)) != 0xFFF0 else None
        if rec is not None:
            records.append(rec)
        continue
    m = FIELD.match(line)
    if m and rec is not None:
        rec[m.group(2)] = m.group(3)
for r in records:
    print(f"proto {value(r, 'protocolIdentifier'):>2} pkts {value(r, 'packetDeltaCount'):>3} "
          f"bytes {value(r, 'octetDeltaCount'):>5}  {endpoint(r, 'source')}  ->  "
          f"{endpoint(r, 'destination')}")
print(f"({len(records)} flow records)")
