#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Flow records as ipfixDump decodes them, for assertions in the end-to-end tests.

DUMP is the text of `ipfixDump --rfc5610 -i FILE` ("-": stdin). A flow record is one data
record of it, as {element name: value text, "#tid": template ID}; RFC 5610 type records
(template 0xFFF0) are left out, strings lose ipfixDump's "(len: N) " prefix.

  decode DUMP [ARRIVALS]        one JSON object per flow record, plus "#msg" (index of its
                                message) and, with the ARRIVALS file of a collector ("MS SEQ
                                BYTES" per message, sequence numbers cross-checked), its
                                message's "arrival_ms"
  check RECORDS [--where C]... [--expect C]... [--after MS] [--before MS] [--min N]
                [--first | --sum FIELD]
                                over decode's output: every record matching all --where (and
                                arriving in [--after, --before)) must meet every --expect;
                                fails when fewer than --min (default 1) match. Prints the
                                number of records checked; with --first the arrival_ms of
                                the earliest, with --sum the sum of FIELD over them
  sum DUMP FIELD [C...]         sum of FIELD over the matching records
  count DUMP [C...]             number of matching records
  values DUMP FIELD [C...]      distinct values of FIELD, sorted, on one line
  ifaces DUMP NAME=IFINDEX...   every record names a listed interface, with its ifindex as
                                ingressInterface (flowDirection 0) or egressInterface (1)
  table DUMP [C...]             packet and octet totals per flow key, sorted

A condition C is NAME=VALUE or NAME!=VALUE: addresses compare as addresses (ipfixDump
prints fd00:0099::0001), a missing element as "". sum, table and --sum fail on a record
without the summed element. A failed check exits 1 with the reason on stderr.

Tests load this file with runpy and call records(PATH) for the same records in Python.
"""
import argparse
import ipaddress
import json
import re
import sys

FIELD = re.compile(r"^\s*\((\d+(?:/\d+)?)\)\s+(?:\(S\)\s+)?(\w+) : (.*)$")
TID = re.compile(r"tid:\s*(\d+)")
SEQ = re.compile(r"sequence number:\s*(\d+)")
STRING = re.compile(r"^\(len: \d+\) ?(.*)$")
TYPE_RECORDS = 0xFFF0

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


def messages(lines):
    """The IPFIX messages of ipfixDump text, as [sequence number, [flow record, ...]]."""
    msgs, cur = [], None
    for line in lines:
        if line.startswith("--- "):
            cur = None
            if line.startswith("--- Message Header"):
                msgs.append([None, []])
            elif "data record" in line:
                cur = {}
                msgs[-1][1].append(cur)
            continue
        if cur is None:
            m = SEQ.search(line)
            if m and msgs:
                msgs[-1][0] = int(m.group(1))
            continue
        m = FIELD.match(line)
        if m:
            v = m.group(3).rstrip()
            s = STRING.match(v)
            cur[m.group(2)] = s.group(1) if s else v.strip()
            continue
        m = TID.search(line)
        if m:
            cur["#tid"] = int(m.group(1))
    for msg in msgs:
        msg[1] = [r for r in msg[1] if r.get("#tid") != TYPE_RECORDS]
    return msgs


def flows(lines):
    """The flow records of ipfixDump text, in order."""
    return [r for _, recs in messages(lines) for r in recs]


def records(path):
    """The flow records of the ipfixDump text file PATH."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return flows(f)


def same(got, want):
    try:
        return ipaddress.ip_address(got) == ipaddress.ip_address(want)
    except ValueError:
        return got == want


def matches(r, conds):
    return all(same(r.get(k, ""), v) == eq for k, v, eq in conds)


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


def cond(text):
    """NAME=VALUE or NAME!=VALUE -> (NAME, VALUE, equal)."""
    k, sep, v = text.partition("=")
    if not sep or not k.rstrip("!"):
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=VALUE or NAME!=VALUE")
    return (k[:-1], v, False) if k.endswith("!") else (k, v, True)


def show(c):
    return f"{c[0]}{'=' if c[2] else '!='}{c[1]}"


def mapping(text):
    """NAME=IFINDEX -> (NAME, IFINDEX)."""
    k, sep, v = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=IFINDEX")
    return k, v


def cmd_decode(args):
    arrivals = None
    if args.arrivals:
        arrivals = [tuple(int(x) for x in line.split()) for line in args.arrivals if line.strip()]
    out = []
    for i, (seq, recs) in enumerate(messages(args.dump)):
        if arrivals is not None and (i >= len(arrivals) or arrivals[i][1] != seq):
            sys.exit(f"message {i}: sequence {seq} does not match the arrivals file")
        for r in recs:
            r["#msg"] = i
            if arrivals is not None:
                r["arrival_ms"] = arrivals[i][0]
            out.append(json.dumps(r, sort_keys=True))
    for line in out:
        print(line)


def cmd_check(args):
    n, bad, first, total = 0, [], None, 0
    for line in args.records:
        r = json.loads(line)
        t = r.get("arrival_ms", 0)
        if not matches(r, args.where):
            continue
        if (args.after is not None and t < args.after) or \
                (args.before is not None and t >= args.before):
            continue
        n += 1
        first = t if first is None else min(first, t)
        if args.sum:
            total += number(r, args.sum)
        miss = [f"{k}={r.get(k, '')!r} (want {'' if eq else 'not '}{v!r})"
                for k, v, eq in args.expect if not matches(r, [(k, v, eq)])]
        if miss:
            bad.append(f"record arriving at {t}: {', '.join(miss)}")
    if n < args.min:
        sys.exit(f"{n} records match {' '.join(map(show, args.where))} in the window, "
                 f"want at least {args.min}")
    if bad:
        sys.exit(f"{len(bad)} of {n} records are labelled wrongly; first: {bad[0]}")
    print(first if args.first else total if args.sum else n)


def cmd_sum(args):
    print(sum(number(r, args.field) for r in flows(args.dump) if matches(r, args.conds)))


def cmd_count(args):
    print(sum(matches(r, args.conds) for r in flows(args.dump)))


def cmd_values(args):
    print(" ".join(sorted({r.get(args.field, "") for r in flows(args.dump)
                           if matches(r, args.conds)})))


def cmd_ifaces(args):
    ifindex = dict(args.ifaces)
    recs = flows(args.dump)
    bad = 0
    for r in recs:
        name = r.get("interfaceName", "")
        d = r.get("flowDirection", "")
        ing = r.get("ingressInterface", "0")
        egr = r.get("egressInterface", "0")
        want = ifindex.get(name)
        if want is None:
            why = f"interfaceName '{name}' is none of {sorted(ifindex)}"
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


def cmd_table(args):
    totals = {}
    for r in flows(args.dump):
        if not matches(r, args.conds):
            continue
        key = " ".join(f"{k}={canonical(r, k)}" for k in KEY_FIELDS if k in r)
        p, o = totals.get(key, (0, 0))
        totals[key] = (p + number(r, "packetDeltaCount"), o + number(r, "octetDeltaCount"))
    for key in sorted(totals):
        print(f"{key} packets={totals[key][0]} octets={totals[key][1]}")


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    text = argparse.FileType("r", encoding="utf-8", errors="replace")

    def command(name, func, helptext, field=False, conds=True):
        c = sub.add_parser(name, help=helptext)
        c.set_defaults(func=func)
        c.add_argument("dump", type=text, metavar="DUMP", help="ipfixDump text ('-': stdin)")
        if field:
            c.add_argument("field", metavar="FIELD")
        if conds:
            c.add_argument("conds", type=cond, nargs="*", metavar="C",
                           help="NAME=VALUE or NAME!=VALUE")
        return c

    c = command("decode", cmd_decode, "flow records as JSON lines", conds=False)
    c.add_argument("arrivals", type=text, nargs="?", metavar="ARRIVALS",
                   help="the collector's arrivals file: MS SEQ BYTES per message")

    c = sub.add_parser("check", help="check decoded records (see above)")
    c.set_defaults(func=cmd_check)
    c.add_argument("records", type=text, metavar="RECORDS", help="the output of decode")
    c.add_argument("--where", type=cond, action="append", default=[], metavar="C",
                   help="only records meeting C")
    c.add_argument("--expect", type=cond, action="append", default=[], metavar="C",
                   help="every checked record must meet C")
    c.add_argument("--after", type=int, metavar="MS", help="only records arriving at MS or later")
    c.add_argument("--before", type=int, metavar="MS", help="only records arriving before MS")
    c.add_argument("--min", type=int, default=1, metavar="N",
                   help="fail when fewer records are checked (default 1)")
    out = c.add_mutually_exclusive_group()
    out.add_argument("--first", action="store_true",
                     help="print the arrival_ms of the earliest record checked")
    out.add_argument("--sum", metavar="FIELD", help="print the sum of FIELD over them")

    command("sum", cmd_sum, "sum of FIELD over the matching records", field=True)
    command("count", cmd_count, "number of matching records")
    command("values", cmd_values, "distinct values of FIELD over the matching records",
            field=True)
    c = command("ifaces", cmd_ifaces, "check every record's interface fields", conds=False)
    c.add_argument("ifaces", type=mapping, nargs="+", metavar="NAME=IFINDEX")
    command("table", cmd_table, "packet and octet totals per flow key")

    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
