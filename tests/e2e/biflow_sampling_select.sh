#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Biflows (RFC 5103), 1-in-N packet sampling with its two reports (PSAMP selector report,
# interval per observation domain), and flow
# selection rules, each run offline on generated or bundled captures and read back with
# ipfixDump (and nfdump for biflows). Every count is compared with ground truth exactly:
# the generator's truth, the sampler's arithmetic, or an unselected run of the same input.
. "$top_srcdir/tests/e2e/lib.sh"
need ipfixDump python3

LF_RECS="$top_srcdir/tests/tools/ipfix-records.py"

# run TAG CONFIG_TEXT PCAP [ARGS...]: labelflowd on PCAP into $T/TAG.ipfix, its ipfixDump
# text into $T/TAG.dump and its counters into $T/TAG.stats.
run() {
	tag=$1 cfg=$2 pcap=$3
	shift 3
	printf '%s\n' "$cfg" >"$T/$tag.conf"
	"$LABELFLOWD" -c "$T/$tag.conf" -r "$pcap" -e "file:$T/$tag.ipfix" \
		--stats-file "$T/$tag.stats" --log-level warn "$@" ||
		fail "$tag: labelflowd failed"
	ipfixDump --rfc5610 --in "$T/$tag.ipfix" >"$T/$tag.dump" 2>"$T/$tag.dumperr" ||
		fail "$tag: ipfixDump failed: $(head -3 "$T/$tag.dumperr")"
}

# py TAG SCRIPT: run python SCRIPT with recs = the flow records of $T/TAG.dump (dicts of
# name -> value text, as tests/tools/ipfix-records.py reads them, "#tid" included).
py() {
	python3 - "$LF_RECS" "$T/$1.dump" "$2" <<'EOF'
import runpy, sys
recs = runpy.run_path(sys.argv[1])["records"](sys.argv[2])
exec(sys.argv[3])
EOF
}

ceil_div() {
	echo $((($1 + $2 - 1) / $2))
}

# ---------------------------------------------------------------- biflow
# 3000 conversations, every protocol of --mix, well inside the timeouts: one biflow record
# per conversation, its client (the first sender) as the source, both directions counted.
for lt in en10mb linux_sll; do
	"$LF_MKPCAP" -o "$T/mix-$lt.pcap" --truth "$T/mix-$lt.truth" --packets 30000 \
		--flows 3000 --mix --seed 11 --linktype "$lt" >/dev/null
	run "bi-$lt" 'flow: { biflow = true; };' "$T/mix-$lt.pcap"
	truth="$T/mix-$lt.truth" stats="$T/bi-$lt.stats"
	expect_eq "$lt biflow: records = conversations" "$(kv export.records "$stats")" 3000
	expect_eq "$lt biflow: flow.packets" "$(kv flow.packets "$stats")" "$(kv ip_packets "$truth")"
	expect_eq "$lt biflow: forward + reverse packets" \
		$(($(kv export.packets "$stats") + $(kv export.rev_packets "$stats"))) \
		"$(kv ip_packets "$truth")"
	expect_eq "$lt biflow: forward + reverse octets" \
		$(($(kv export.octets "$stats") + $(kv export.rev_octets "$stats"))) \
		"$(kv ip_octets "$truth")"
	expect_eq "$lt biflow: TCP conversations ended by FIN+FIN+ACK or RST" \
		"$(kv flow.ended.end_of_flow "$stats")" \
		$(($(kv tcp_fin_flows "$truth") + $(kv tcp_rst_flows "$truth")))
	# The same totals on the wire, and every record is the client's.
	py "bi-$lt" '
import ipaddress
flows = [r for r in recs if r["#tid"] in (258, 259)]
assert len(flows) == len(recs) == 3000, (len(flows), len(recs))
def n(r, k): return int(r[k].split()[0])
pk = sum(n(r, "packetDeltaCount") + n(r, "reversePacketDeltaCount") for r in flows)
ok = sum(n(r, "octetDeltaCount") + n(r, "reverseOctetDeltaCount") for r in flows)
rev = sum(n(r, "reversePacketDeltaCount") for r in flows)
print(pk, ok, rev)
clients = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00:c1::/32")]
for r in flows:
    src = r["sourceIPv4Address"] if r["#tid"] == 258 else r["sourceIPv6Address"]
    src = ipaddress.ip_address(src)
    assert any(src in c for c in clients), ("source is not the client", r)
    assert r["biflowDirection"] == "1", r
    assert r["flowDirection"] == ("1" if "'"$lt"'" == "linux_sll" else "0"), r
' >"$T/bi-$lt.sums" || fail "$lt biflow: records on the wire (see above)"
	read -r pk ok rev <"$T/bi-$lt.sums"
	expect_eq "$lt biflow: packets on the wire" "$pk" "$(kv ip_packets "$truth")"
	expect_eq "$lt biflow: octets on the wire" "$ok" "$(kv ip_octets "$truth")"
	expect_eq "$lt biflow: reverse packets on the wire" "$rev" "$(kv export.rev_packets "$stats")"
	echo "ok: $lt: every record's source is the client, biflowDirection 1, its direction"
done
grep -q 'reverseOctetDeltaCount' "$T/bi-en10mb.dump" || fail "ipfixDump shows no reverse elements"
! grep -q 'tid: *25[67] ' "$T/bi-en10mb.dump" || fail "uniflow templates sent in biflow mode"

# nfdump reads the reverse counters as its out packets/bytes (opkt/obyt).
if command -v nfcapd >/dev/null 2>&1 && command -v nfdump >/dev/null 2>&1; then
	port=$(free_port udp)
	mkdir -p "$T/nf"
	bg nfcapd -b 127.0.0.1 -p "$port" -w "$T/nf" -B 16777216 -t 3600
	pid=$LF_LAST_PID
	wait_for 10 sh -c "grep -q ':$(printf %04X "$port") ' /proc/net/udp" ||
		fail "nfcapd did not start"
	"$LABELFLOWD" -c "$T/bi-en10mb.conf" -r "$top_srcdir/tests/data/sample.pcap" \
		-e "udp:127.0.0.1:$port" --log-level warn
	sleep 0.5
	kill -TERM "$pid"
	wait "$pid" || true
	nfdump -R "$T/nf" -o csv >"$T/nf.csv"
	sums=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } /^Summary/ { exit }
		{ n++; p += $c["ipkt"] + $c["opkt"]; o += $c["ibyt"] + $c["obyt"] }
		END { print n, p, o }' "$T/nf.csv")
	expect_eq "nfdump biflow records, packets, octets of the sample capture" "$sums" "16 203 20820"
	# The cart -> redis session: 10 packets out, 8 back; SYN..FIN from the client.
	grep -q ',10.244.0.12,10.244.0.30,46210,6379,TCP,...AP.SF,0,0,10,483,8,369,' "$T/nf.csv" ||
		{ grep 46210 "$T/nf.csv"; fail "nfdump: cart -> redis biflow not as expected"; }
	! grep -q '^1970' "$T/nf.csv" || fail "nfdump took a reverse timestamp for the flow start"
	echo "ok: nfdump reads the biflows"
fi

# A template file without biflow templates cannot run in biflow mode.
printf 'templates = ( { name = "u"; id = 300; ip_version = 4; elements = [ "vlanId" ]; } );\n' \
	>"$T/uni.templates"
printf 'flow: { biflow = true; };\nexport: { templates_file = "%s"; };\n' "$T/uni.templates" \
	>"$T/nobi.conf"
if "$LABELFLOWD" -c "$T/nobi.conf" --check-config >"$T/nobi.out" 2>&1; then
	fail "biflow mode without biflow templates passed --check-config"
fi
grep -q 'has no biflow template' "$T/nobi.out" || { cat "$T/nobi.out"; fail "no reason given"; }

# ---------------------------------------------------------------- sampling
# A plain capture (every frame an IP packet): the sampler takes frames 1, 11, 21, ...
"$LF_MKPCAP" -o "$T/plain.pcap" --truth "$T/plain.truth" --packets 20003 --flows 400 \
	--seed 5 >/dev/null
frames=$(kv frames "$T/plain.truth")
expect_eq "plain capture: every frame is an IP packet" "$(kv ip_packets "$T/plain.truth")" "$frames"
want=$(ceil_div "$frames" 10)
run samp 'flow: { sampling_interval = 10; };' "$T/plain.pcap"
expect_eq "sampling.observed" "$(kv sampling.observed "$T/samp.stats")" "$frames"
expect_eq "sampling.selected = ceil(frames / 10)" "$(kv sampling.selected "$T/samp.stats")" "$want"
expect_eq "decode.frames (only sampled ones)" "$(kv decode.frames "$T/samp.stats")" "$want"
expect_eq "flow.packets" "$(kv flow.packets "$T/samp.stats")" "$want"
expect_eq "export.packets (not scaled)" "$(kv export.packets "$T/samp.stats")" "$want"
# Every message header carries the one observation domain.
odid=$(awk -F'observation domain id: *' 'NF > 1 { print $2 + 0 }' "$T/samp.dump" | sort -u)
[ -n "$odid" ] && [ "$(echo "$odid" | wc -l)" = 1 ] || fail "observation domains: '$odid'"
py samp '
flows = [r for r in recs if r["#tid"] in (256, 257)]
rep = [r for r in recs if r["#tid"] == 260]
dom = [r for r in recs if r["#tid"] == 261]
assert len(rep) == 1, ("one selector report in a file", len(rep))
assert len(dom) == 1, ("one interval report in a file", len(dom))
want = {"selectorId": "1", "selectorAlgorithm": "1", "samplingPacketInterval": "1",
        "samplingPacketSpace": "9", "samplingAlgorithm": "1", "samplingInterval": "10"}
got = {k: rep[0].get(k) for k in want}
assert got == want, got
# The interval of the whole observation domain: the domain of the file messages.
want = {"observationDomainId": "'"$odid"'",
        "samplingInterval": "10"}
got = {k: dom[0].get(k) for k in dom[0] if k != "#tid"}
assert got == want, got
assert len(flows) + 2 == len(recs)
print(sum(int(r["packetDeltaCount"]) for r in flows))
' >"$T/samp.sum" || fail "sampling: sampling reports (see above)"
expect_eq "sampled packets on the wire" "$(cat "$T/samp.sum")" "$want"
grep -q 'tid: *260 .*scope: *1' "$T/samp.dump" || fail "no options template 260 with scope 1"
grep -q 'tid: *261 .*scope: *1' "$T/samp.dump" || fail "no options template 261 with scope 1"
echo "ok: the selector report says systematic count-based 1 in 10, template 261 says 10"

# Sampling and biflows together: forward + reverse is still every sampled packet.
run sampbi 'flow: { sampling_interval = 7; biflow = true; };' "$T/plain.pcap"
want=$(ceil_div "$frames" 7)
expect_eq "1-in-7 biflow: forward + reverse packets" \
	$(($(kv export.packets "$T/sampbi.stats") + $(kv export.rev_packets "$T/sampbi.stats"))) \
	"$want"
grep -q 'samplingPacketSpace : 6' "$T/sampbi.dump" || fail "1-in-7: samplingPacketSpace is not 6"

# Interval 1 is no sampling: no selector report, every packet.
run samp1 'flow: { sampling_interval = 1; };' "$T/plain.pcap"
expect_eq "interval 1: flow.packets" "$(kv flow.packets "$T/samp1.stats")" "$frames"
! grep -Eq 'tid: *26[01] ' "$T/samp1.dump" || fail "interval 1 sent a sampling report"

# ---------------------------------------------------------------- selection
# The sample capture, labelled from its inventory: once unselected (the reference), then
# with rules; the exported records must be exactly the reference records that match.
inv="$top_srcdir/tests/data/sample-inventory.json"
pcap="$top_srcdir/tests/data/sample.pcap"
run all 'flow: { biflow = false; };' "$pcap" --inventory "$inv"

# select TAG CONFIG PYTHON_PREDICATE: run with CONFIG; the records must be those of the
# reference for which PREDICATE(r) holds, and the rest must be counted as unselected.
select_check() {
	tag=$1
	run "$tag" "$2" "$pcap" --inventory "$inv"
	python3 - "$LF_RECS" "$T/all.dump" "$T/$tag.dump" "$T/$tag.stats" "$3" <<'EOF' ||
import json, ipaddress, runpy, sys
records = runpy.run_path(sys.argv[1])["records"]
ref, got = records(sys.argv[2]), records(sys.argv[3])
stats = dict(l.strip().split("=", 1) for l in open(sys.argv[4]) if "=" in l)
def labels(r, end):
    t = r.get(end + "PodLabels", "")
    return json.loads(t) if t else {}
def addr(r, end):
    return ipaddress.ip_address(r.get(end + "IPv4Address") or r.get(end + "IPv6Address"))
pred = eval("lambda r: (" + sys.argv[5] + ")")
def key(r):
    return tuple(sorted((k, v) for k, v in r.items() if k not in ("#tid",)))
want = sorted(key(r) for r in ref if pred(r))
rest = [r for r in ref if not pred(r)]
have = sorted(key(r) for r in got)
assert want, "the rule selects nothing in the reference: a useless test"
assert rest, "the rule selects everything in the reference: a useless test"
assert have == want, f"exported {len(have)} records, want {len(want)}"
assert int(stats["export.selected"]) == len(want), stats["export.selected"]
assert int(stats["export.unselected"]) == len(rest), stats["export.unselected"]
assert int(stats["export.unselected_packets"]) == sum(int(r["packetDeltaCount"]) for r in rest)
assert int(stats["export.unselected_octets"]) == sum(int(r["octetDeltaCount"]) for r in rest)
assert int(stats["export.records"]) == len(ref)
name = sys.argv[3].rsplit("/", 1)[-1]
print(f"ok: {name}: {len(want)} of {len(ref)} records selected, {len(rest)} counted out")
EOF
		fail "$tag: selected records differ from the reference (see above)"
}

select_check ns 'export: { select = ( { namespace = "shop"; } ); };' \
	'"shop" in (r.get("sourcePodNamespace"), r.get("destinationPodNamespace"))'
select_check mixed \
	'export: { select = ( { labels = "app in (redis, catalog), !nolabel"; },
			      { cidr = "10.0.50.0/24"; },
			      { workload = "statefulset/prometheus"; namespace = "monitoring"; } ); };' \
	'any(labels(r, e).get("app") in ("redis", "catalog") for e in ("source", "destination"))
	 or any(addr(r, e) in ipaddress.ip_network("10.0.50.0/24") for e in ("source", "destination"))
	 or any(r.get(e + "WorkloadKind") == "StatefulSet" and r.get(e + "WorkloadName") == "prometheus"
		and r.get(e + "PodNamespace") == "monitoring" for e in ("source", "destination"))'
select_check svc 'export: { select = ( { service = "kube-dns"; } ); };' \
	'"kube-dns" in (r.get("sourceServiceName"), r.get("destinationServiceName"))'

# A bad rule is a configuration error with its line.
printf 'export: {\n  select = (\n    { labels = "app in (a"; }\n  );\n};\n' >"$T/bad.conf"
if "$LABELFLOWD" -c "$T/bad.conf" --check-config >"$T/bad.out" 2>&1; then
	fail "a bad selection rule passed --check-config"
fi
grep -q "bad.conf:2: export.select: rule 1 (line 3): labels 'app in (a'" "$T/bad.out" ||
	{ cat "$T/bad.out"; fail "bad rule: no file:line reason"; }
echo "ok: a bad selection rule is reported with its line"
