#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# pmacct's nfacctd reads the labels out of NetFlow v9: an aggregate_primitives file maps
# the vendor field types (base 48000 + the registry's elementId, fixed-length strings) to
# names, the print plugin writes JSON. Every flow whose ends are inventory endpoints shows
# their namespace, pod, workload and kind; known flows show VPC, zone, VM and service;
# packet and octet totals equal the sample capture's.
. "$top_srcdir/tests/e2e/lib.sh"
need nfacctd python3

inv=$top_srcdir/tests/data/sample-inventory.json
port=$(free_port udp)

# nfacctd exits on SIGINT (its print plugin writes its cache then), not always on the
# SIGTERM of lib.sh's cleanup: stop the ones still running that way when a check fails.
NFACCTD_PIDS=""
stop_nfacctd() {
	for p in $NFACCTD_PIDS; do kill -INT "$p" 2>/dev/null || true; done
}
LF_CLEANUPS="$LF_CLEANUPS stop_nfacctd"

# The primitives: field types from the registry XML (never written twice), the lengths
# being labelflowd's defaults for NetFlow v9 (docs/netflow.md).
python3 - "$LABELFLOW_DATADIR/labelflow-elements.xml" >"$T/primitives.lst" <<'EOF'
import re, sys
xml = open(sys.argv[1]).read()
ids = dict(re.findall(r"<name>(\w+)</name>.*?<elementId>(\d+)</elementId>", xml, re.S))
lengths = {"PodNamespace": 64, "PodName": 64, "WorkloadKind": 24, "WorkloadName": 64,
           "ServiceName": 64, "Zone": 24, "VpcId": 32, "VmName": 64, "EntityKind": 16}
for end, short in (("source", "src"), ("destination", "dst")):
    for dim, n in lengths.items():
        print("name=%s_%s\tfield_type=%d\tlen=%d\tsemantics=str"
              % (short, dim.lower(), 48000 + int(ids[end + dim]), n))
EOF
prims=$(awk -F'[=\t]' '{ printf "%s%s", sep, $2; sep = ", " }' "$T/primitives.lst")
cat >"$T/nfacctd.conf" <<EOF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $port
aggregate_primitives: $T/primitives.lst
plugins: print[labels]
aggregate[labels]: src_host, dst_host, src_port, dst_port, proto, $prims
print_output[labels]: json
print_output_file[labels]: $T/flows.json
print_output_file_append[labels]: true
print_refresh_time[labels]: 3600
EOF
bg nfacctd -f "$T/nfacctd.conf"
pid=$LF_LAST_PID
NFACCTD_PIDS="$NFACCTD_PIDS $pid"
wait_for 10 sh -c "grep -q ':$(printf %04X "$port") ' /proc/net/udp" ||
	fail "nfacctd did not start"
"$LABELFLOWD" -r "$top_srcdir/tests/data/sample.pcap" --inventory "$inv" \
	-e "netflow9:127.0.0.1:$port" --stats-file "$T/sample.stats" --log-level warn
sleep 1 # the last datagrams are in nfacctd's socket buffer
kill -INT "$pid" # the print plugin writes its cache on exit
wait_for 10 sh -c "! kill -0 $pid" || fail "nfacctd did not stop"
[ -s "$T/flows.json" ] || fail "nfacctd wrote no flows"

python3 - "$T/flows.json" "$inv" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
inv = json.load(open(sys.argv[2]))
eps = {e["ip"]: e for e in inv["endpoints"]}
fail = lambda m: sys.exit("FAIL: " + m)

pk, oc = sum(r["packets"] for r in rows), sum(r["bytes"] for r in rows)
if (pk, oc) != (203, 20820):
    fail("totals %d packets %d octets, want 203 and 20820" % (pk, oc))
print("ok: nfacctd totals = 203 packets, 20820 octets")

# Every end that is an inventory endpoint carries that endpoint's labels.
checked = 0
for r in rows:
    for end, ip in (("src", r["ip_src"]), ("dst", r["ip_dst"])):
        e = eps.get(ip)
        if not e:
            continue
        for key, prim in (("namespace", "podnamespace"), ("pod", "podname"),
                          ("workload_kind", "workloadkind"), ("workload", "workloadname"),
                          ("kind", "entitykind"), ("vm", "vmname")):
            if e.get(key) and r[end + "_" + prim] != e[key]:
                fail("%s %s %s: got %r, want %r" % (ip, end, key, r[end + "_" + prim], e[key]))
        checked += 1
if checked < 40:
    fail("only %d labelled ends checked" % checked)
print("ok: %d flow ends carry their endpoint's labels" % checked)

def find(**kv):
    for r in rows:
        if all(r.get(k) == v for k, v in kv.items()):
            return r
    fail("no flow with %s" % kv)

# cart -> redis: both ends, workload and network labels.
r = find(ip_src="10.244.0.12", ip_dst="10.244.0.30", port_src=46210, port_dst=6379)
want = {"src_podnamespace": "shop", "src_podname": "cart-7d9f8b6c5-x2x9k",
        "src_workloadkind": "Deployment", "src_workloadname": "cart",
        "src_vpcid": "vpc-0a1b2c3d", "src_zone": "us-east-1a", "src_entitykind": "pod",
        "dst_podname": "redis-0", "dst_workloadkind": "StatefulSet",
        "dst_workloadname": "redis", "dst_vpcid": "vpc-0a1b2c3d"}
for k, v in want.items():
    if r[k] != v:
        fail("cart -> redis %s: got %r, want %r" % (k, r[k], v))
# checkout -> the cart ClusterIP: a service; the VM; the external API; IPv6 to catalog.
r = find(ip_src="10.244.0.17", ip_dst="10.96.142.10")
if (r["dst_entitykind"], r["dst_servicename"]) != ("service", "cart"):
    fail("ClusterIP: %r %r" % (r["dst_entitykind"], r["dst_servicename"]))
r = find(ip_src="10.244.0.17", ip_dst="10.0.50.10")
if (r["dst_entitykind"], r["dst_vmname"]) != ("vm", "billing-vm-01"):
    fail("VM: %r %r" % (r["dst_entitykind"], r["dst_vmname"]))
r = find(ip_src="10.244.0.17", ip_dst="203.0.113.50")
if r["dst_entitykind"] != "external" or r["dst_podname"] != "":
    fail("external: %r %r" % (r["dst_entitykind"], r["dst_podname"]))
r = find(ip_src="fd00:10:244::11", ip_dst="fd00:10:244::1a")
if (r["src_podname"], r["dst_podname"], r["dst_zone"]) != (
        "checkout-5b8c9d7f4-m4kq7", "catalog-6f7b8c9d5-kz4wp", "us-east-1a"):
    fail("IPv6 flow: %r" % r)
print("ok: nfacctd decodes pod, workload, service, VM, VPC and zone labels from v9")
EOF

# Sampling: with nfacctd_renormalize, nfacctd multiplies the counts by the interval that v9
# reports in its options record and v5 in its header. 1 in 10 of a plain IPv4 capture:
# the sampler takes ceil(frames / 10) packets, nfacctd must total exactly 10 times them.
N=10
"$LF_MKPCAP" -o "$T/plain.pcap" --truth "$T/plain.truth" --packets 20003 --flows 400 \
	--seed 5 >/dev/null
frames=$(kv frames "$T/plain.truth")
expect_eq "plain capture: every frame an IPv4 packet" "$(kv ipv4_packets "$T/plain.truth")" \
	"$frames"
printf 'flow: { sampling_interval = %s; };\n' "$N" >"$T/samp.conf"
for v in 9 5; do
	port=$(free_port udp)
	cat >"$T/renorm$v.conf" <<EOF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $port
nfacctd_pipe_size: 16777216
nfacctd_renormalize: true
plugins: print[s]
aggregate[s]: src_host, dst_host, src_port, dst_port, proto
print_output[s]: json
print_output_file[s]: $T/renorm$v.json
print_refresh_time[s]: 3600
EOF
	bg nfacctd -f "$T/renorm$v.conf"
	pid=$LF_LAST_PID
	NFACCTD_PIDS="$NFACCTD_PIDS $pid"
	wait_for 10 sh -c "grep -q ':$(printf %04X "$port") ' /proc/net/udp" ||
		fail "nfacctd did not start"
	"$LABELFLOWD" -c "$T/samp.conf" -r "$T/plain.pcap" -e "netflow$v:127.0.0.1:$port" \
		--stats-file "$T/samp$v.stats" --log-level warn
	sleep 1
	kill -INT "$pid"
	wait_for 10 sh -c "! kill -0 $pid" || fail "nfacctd did not stop"
	st=$T/samp$v.stats
	expect_eq "v$v: sampled packets = ceil(frames / $N)" "$(kv export.packets "$st")" \
		$(((frames + N - 1) / N))
	expect_eq "v$v: nfacctd packets, bytes = $N x sampled" \
		"$(python3 -c 'import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(sum(r["packets"] for r in rows), sum(r["bytes"] for r in rows))' "$T/renorm$v.json")" \
		"$(($(kv export.packets "$st") * N)) $(($(kv export.octets "$st") * N))"
done
echo "ok: nfacctd renormalizes sampled NetFlow v9 and v5 by the reported interval"
