#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# python-ipfix (Debian's python3-ipfix, for /usr/bin/python3) with the collector kit's IE
# spec file: it reads the sample capture's IPFIX file and yields every label element by
# name, with the values ipfixDump decodes; without the spec it cannot name them; the spec
# follows --pen.
. "$top_srcdir/tests/e2e/lib.sh"
need ipfixDump python3
PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import ipfix.ie, ipfix.reader' 2>/dev/null ||
	skip "python-ipfix is not installed for $PY (Debian: python3-ipfix)"

pcap=$top_srcdir/tests/data/sample.pcap
inv=$top_srcdir/tests/data/sample-inventory.json
"$LABELFLOWD" --print-collector-config=python-ipfix >"$T/labelflow.iespec"
expect_eq "specs generated" "$(grep -c . "$T/labelflow.iespec")" \
	"$(grep -c '<record>' "$LABELFLOW_DATADIR/labelflow-elements.xml")"
"$LABELFLOWD" -r "$pcap" --inventory "$inv" -e "file:$T/sample.ipfix" --log-level warn
ipfixDump --rfc5610 -i "$T/sample.ipfix" >"$T/sample.dump"

# read.py IPFIX [SPEC]: the flow records as python-ipfix yields them, one JSON object each
# (RFC 5610 type records skipped; addresses and times as text).
cat >"$T/read.py" <<'EOF'
import json
import sys

import ipfix.ie
import ipfix.reader

ipfix.ie.use_iana_default()
if len(sys.argv) > 2:
    ipfix.ie.use_specfile(sys.argv[2])
with open(sys.argv[1], "rb") as f:
    for rec in ipfix.reader.from_stream(f).namedict_iterator():
        if "informationElementId" in rec:
            continue
        print(json.dumps({str(k): v if isinstance(v, (int, str)) else str(v)
                          for k, v in rec.items()}, sort_keys=True))
EOF
"$PY" "$T/read.py" "$T/sample.ipfix" "$T/labelflow.iespec" >"$T/records.json"
"$PY" "$T/read.py" "$T/sample.ipfix" >"$T/bare.json"
grep -q sourcePodName "$T/bare.json" && fail "python-ipfix named the labels without the spec"

# The cart -> redis session as python-ipfix decodes it.
python3 - "$T/records.json" <<'EOF' || fail "cart -> redis flow not labelled by python-ipfix"
import json
import sys

want = {
    "sourcePodName": "cart-7d9f8b6c5-x2x9k", "sourcePodNamespace": "shop",
    "sourceWorkloadKind": "Deployment", "sourceWorkloadName": "cart",
    "sourceVpcId": "vpc-0a1b2c3d",
    "sourcePodLabels": '{"app":"cart","pod-template-hash":"7d9f8b6c5","tier":"web"}',
    "destinationPodName": "redis-0", "destinationWorkloadKind": "StatefulSet",
    "destinationVpcId": "vpc-0a1b2c3d", "tunnelSourceIPv4Address": "0.0.0.0",
}
rows = [json.loads(l) for l in open(sys.argv[1])]
hits = [r for r in rows if (r.get("sourceIPv4Address"), r.get("sourceTransportPort"),
                            r.get("destinationIPv4Address"), r.get("destinationTransportPort"))
        == ("10.244.0.12", 46210, "10.244.0.30", 6379)]
if not hits:
    sys.exit("no record for 10.244.0.12:46210 -> 10.244.0.30:6379")
for r in hits:
    bad = {k: r.get(k) for k, v in want.items() if r.get(k) != v}
    if bad:
        sys.exit(f"got {bad}, want {want}")
print(f"ok: python-ipfix: {hits[0]['sourcePodName']} ({hits[0]['sourceWorkloadName']}, "
      f"{hits[0]['sourceVpcId']}) -> {hits[0]['destinationPodName']}")
EOF

# Every label element of every record equals ipfixDump's decoding.
sed 's/(.*//' "$T/labelflow.iespec" >"$T/names"
python3 - "$top_srcdir/tests/tools/ipfix-records.py" "$T/sample.dump" "$T/records.json" \
	"$T/names" <<'EOF' ||
import ipaddress
import json
import runpy
import sys

records = runpy.run_path(sys.argv[1])["records"]


def canon(v):
    v = str(v)
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return v


names = open(sys.argv[4]).read().split()
want = [[canon(r.get(n, "")) for n in names] for r in records(sys.argv[2])]
got = [[canon(r.get(n, "<absent>")) for n in names]
       for r in map(json.loads, open(sys.argv[3]))]
if len(got) != len(want):
    sys.exit(f"{len(got)} records from python-ipfix, {len(want)} from ipfixDump")
for i, (g, w) in enumerate(zip(got, want)):
    if g != w:
        sys.exit(f"record {i}: {[(n, a, b) for n, a, b in zip(names, g, w) if a != b]}")
print(f"ok: {len(got)} records x {len(names)} label elements equal to ipfixDump")
EOF
	fail "python-ipfix's values differ from ipfixDump's"

# The spec carries the configured PEN.
"$LABELFLOWD" --pen 54321 --print-collector-config=python-ipfix >"$T/pen.iespec"
grep -qx 'sourcePodName(54321/3)<string>\[65535\]' "$T/pen.iespec" ||
	fail "spec not generated for PEN 54321"
"$LABELFLOWD" -r "$pcap" --inventory "$inv" --pen 54321 -e "file:$T/pen.ipfix" --log-level warn
"$PY" "$T/read.py" "$T/pen.ipfix" "$T/pen.iespec" >"$T/pen.json"
"$PY" "$T/read.py" "$T/pen.ipfix" "$T/labelflow.iespec" >"$T/pen-32473.json"
grep -q '"sourcePodName": "cart-' "$T/pen.json" ||
	fail "the PEN 54321 spec does not name PEN 54321 elements"
grep -q '"sourcePodName"' "$T/pen-32473.json" && fail "the PEN 32473 spec named PEN 54321 elements"
echo "ok: the spec follows --pen"
