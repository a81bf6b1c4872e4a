#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# pmacct with the collector kit: nfacctd runs on the nfacctd.conf and primitives file that
# labelflowd generates from the registry, receives the sample capture's IPFIX over UDP on
# loopback and writes JSON. A known flow shows its pod, namespace, workload and VPC strings;
# every label of every flow equals what ipfixDump decodes from the same export; totals
# equal the capture's ground truth.
. "$top_srcdir/tests/e2e/lib.sh"
need nfacctd ipfixDump python3

"$LABELFLOWD" --print-collector-config=pmacct >"$T/labelflow-primitives.lst"
"$LABELFLOWD" --print-collector-config=nfacctd >"$T/nfacctd.generated"
n_elements=$(grep -c '<record>' "$LABELFLOW_DATADIR/labelflow-elements.xml")
expect_eq "primitives generated" "$(grep -c '^name=' "$T/labelflow-primitives.lst")" "$n_elements"

# The generated nfacctd.conf, pointed at this test's port, files and a 1 s purge.
port=$(free_port udp)
sed -e "s|^nfacctd_ip: .*|nfacctd_ip: 127.0.0.1|" \
	-e "s|^nfacctd_port: .*|nfacctd_port: $port|" \
	-e "s|^aggregate_primitives: .*|aggregate_primitives: $T/labelflow-primitives.lst|" \
	-e "s|^print_output_file: .*|print_output_file: $T/flows.json|" \
	-e "s|^print_refresh_time: .*|print_refresh_time: 1|" \
	"$T/nfacctd.generated" >"$T/nfacctd.conf"
expect_eq "settings replaced" "$(diff "$T/nfacctd.generated" "$T/nfacctd.conf" | grep -c '^>')" 5
echo "daemonize: false" >>"$T/nfacctd.conf"

# nfacctd ignores SIGTERM while its plugins run: stop it with SIGINT, also on failure.
nfacctd -f "$T/nfacctd.conf" >"$T/nfacctd.log" 2>&1 &
nf_pid=$!
stop_nfacctd() {
	{ kill -INT "$nf_pid" 2>/dev/null && wait "$nf_pid" 2>/dev/null; } || true
}
LF_CLEANUPS="$LF_CLEANUPS stop_nfacctd"
wait_for 10 sh -c "grep -q ':$(printf %04X "$port") ' /proc/net/udp" ||
	{ cat "$T/nfacctd.log"; fail "nfacctd did not start"; }
grep -aq "map successfully (re)loaded" "$T/nfacctd.log" ||
	{ cat "$T/nfacctd.log"; fail "nfacctd did not load the primitives"; }
# Records that reach the core before the print plugin is up can be lost.
wait_for 10 grep -aq "JSON: setting object handlers" "$T/nfacctd.log" ||
	{ cat "$T/nfacctd.log"; fail "nfacctd's print plugin did not start"; }

"$LABELFLOWD" -r "$top_srcdir/tests/data/sample.pcap" \
	--inventory "$top_srcdir/tests/data/sample-inventory.json" \
	-e "udp:127.0.0.1:$port" -e "file:$T/sample.ipfix" --stats-file "$T/stats" --log-level warn

# pmacct purges its cache once a second; wait until every packet is in the JSON file.
cat >"$T/total.py" <<'EOF'
import json
import sys

try:
    print(sum(json.loads(l)[sys.argv[1]] for l in open(sys.argv[2]) if l.strip()))
except (OSError, ValueError):
    print(0)
EOF
total() {
	python3 "$T/total.py" "$1" "$T/flows.json"
}
wait_for 20 sh -c "[ \"\$(python3 '$T/total.py' packets '$T/flows.json')\" = 203 ]" ||
	{ tail -5 "$T/nfacctd.log"; fail "nfacctd wrote $(total packets) packets, want 203"; }
stop_nfacctd
grep -aq "Purging cache" "$T/nfacctd.log" || fail "nfacctd's print plugin did not run"
expect_eq "nfacctd packets" "$(total packets)" 203
expect_eq "nfacctd octets" "$(total bytes)" 20820

# The cart -> redis session: both ends' strings as nfacctd decoded them.
python3 - "$T/flows.json" <<'EOF' || fail "cart -> redis flow not labelled in nfacctd's JSON"
import json
import sys

want = {
    "sourcepodname": "cart-7d9f8b6c5-x2x9k", "sourcepodnamespace": "shop",
    "sourceworkloadkind": "Deployment", "sourceworkloadname": "cart",
    "sourcevpcid": "vpc-0a1b2c3d", "sourcesubnetid": "subnet-0f1a2b3c4d5e6f701",
    "sourcepodlabels": '{"app":"cart","pod-template-hash":"7d9f8b6c5","tier":"web"}',
    "destinationpodname": "redis-0", "destinationpodnamespace": "shop",
    "destinationworkloadkind": "StatefulSet", "destinationworkloadname": "redis",
    "destinationvpcid": "vpc-0a1b2c3d", "tunnelsourceipv4address": "0.0.0.0",
}
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
hits = [r for r in rows if (r["ip_src"], r["ip_dst"], r["port_src"], r["port_dst"]) ==
        ("10.244.0.12", "10.244.0.30", 46210, 6379)]
if not hits:
    sys.exit("no row for 10.244.0.12:46210 -> 10.244.0.30:6379")
for r in hits:
    bad = {k: r.get(k) for k, v in want.items() if r.get(k) != v}
    if bad:
        sys.exit(f"got {bad}, want {want}")
print(f"ok: cart -> redis in {len(hits)} row(s): {hits[0]['sourcepodname']} "
      f"({hits[0]['sourceworkloadname']}) -> {hits[0]['destinationpodname']}")
EOF

# Every label of every flow, against ipfixDump's decoding of the same export.
ipfixDump --rfc5610 -i "$T/sample.ipfix" >"$T/sample.dump"
sed -n 's/^name=\([^ ]*\) .*/\1/p' "$T/labelflow-primitives.lst" >"$T/names"
python3 - "$top_srcdir/tests/tools/ipfix-records.py" "$T/sample.dump" "$T/flows.json" \
	"$T/names" <<'EOF' ||
import ipaddress
import json
import runpy
import sys

records = runpy.run_path(sys.argv[1])["records"]

PROTO = {"tcp": "6", "udp": "17", "icmp": "1", "ipv6-icmp": "58"}


def canon(v):
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return v


names = open(sys.argv[4]).read().split()
truth = {}
for r in records(sys.argv[2]):
    src = r.get("sourceIPv4Address") or r.get("sourceIPv6Address")
    dst = r.get("destinationIPv4Address") or r.get("destinationIPv6Address")
    key = (canon(src), canon(dst), r["sourceTransportPort"], r["destinationTransportPort"],
           r["protocolIdentifier"])
    labels = {n.lower(): canon(r.get(n, "")) for n in names}
    if truth.setdefault(key, labels) != labels:
        sys.exit(f"ipfixDump: records of {key} differ in their labels")
rows = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
for row in rows:
    key = (canon(row["ip_src"]), canon(row["ip_dst"]), str(row["port_src"]),
           str(row["port_dst"]), PROTO.get(row["ip_proto"], row["ip_proto"]))
    if key not in truth:
        sys.exit(f"nfacctd row {key} is not in ipfixDump's records")
    got = {n: canon(str(row.get(n))) for n in truth[key]}
    if got != truth[key]:
        diff = {n: (got[n], truth[key][n]) for n in got if got[n] != truth[key][n]}
        sys.exit(f"{key}: nfacctd vs ipfixDump {diff}")
missing = set(truth) - {(canon(r["ip_src"]), canon(r["ip_dst"]), str(r["port_src"]),
                         str(r["port_dst"]), PROTO.get(r["ip_proto"], r["ip_proto"]))
                        for r in rows}
if missing:
    sys.exit(f"flows missing from nfacctd: {sorted(missing)}")
print(f"ok: {len(rows)} nfacctd rows, {len(truth)} flows, {len(names)} labels each, "
      "equal to ipfixDump")
EOF
	fail "nfacctd's labels differ from ipfixDump's"
