#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Live capture: labelflowd captures a veth inside a private network namespace while bounded
# ICMP, ICMPv6 and UDP traffic crosses it; every frame the kernel counted on the interface
# is decoded or dropped as non-IP, and every decoded packet is exported exactly once.
. "$top_srcdir/tests/e2e/lib.sh"

need_root
need ip ping ipfixDump python3

NA=lf-e2e-a-$$
NB=lf-e2e-b-$$
X=$(($$ % 250 + 1))
A4=10.99.$X.1
B4=10.99.$X.2
A6=fd00:99::1
B6=fd00:99::2
UDP_PORT=40999
UDP_COUNT=100

lf_netns_cleanup() {
	ip netns del "$NA" 2>/dev/null || true
	ip netns del "$NB" 2>/dev/null || true
}
LF_CLEANUPS="$LF_CLEANUPS lf_netns_cleanup"

ina() { ip netns exec "$NA" "$@"; }
inb() { ip netns exec "$NB" "$@"; }

ip netns add "$NA" || skip "cannot create network namespaces"
ip netns add "$NB" || fail "cannot create namespace $NB"

# Quiet links: no router solicitations, no DAD, no link-local address (so no MLD/RS
# chatter); whatever background frames remain are counted on both sides anyway.
for ns in "$NA" "$NB"; do
	for k in all default; do
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.$k.disable_ipv6=0 \
			net.ipv6.conf.$k.accept_ra=0 net.ipv6.conf.$k.router_solicitations=0 \
			net.ipv6.conf.$k.accept_dad=0 net.ipv6.conf.$k.dad_transmits=0 \
			net.ipv6.conf.$k.addr_gen_mode=1 >/dev/null || true
	done
done

ina ip link add vethA type veth peer name vethB netns "$NB" || fail "cannot create veth pair"
ina ip addr add "$A4/24" dev vethA
inb ip addr add "$B4/24" dev vethB
ina ip -6 addr add "$A6/64" dev vethA nodad
inb ip -6 addr add "$B6/64" dev vethB nodad
ina ip link set lo up
inb ip link set lo up
ina ip link set vethA up
inb ip link set vethB up
IFINDEX=$(ina cat /sys/class/net/vethA/ifindex)

# frames: rx_packets + tx_packets of vethA, as the kernel counts them.
frames() {
	echo $(($(ina cat /sys/class/net/vethA/statistics/rx_packets) + \
		$(ina cat /sys/class/net/vethA/statistics/tx_packets)))
}

# quiet SECONDS: wait (up to 20 s) until vethA's counters stay unchanged for SECONDS.
quiet() {
	need_n=$(($1 * 10))
	last=$(frames)
	same=0
	n=200
	while [ $n -gt 0 ]; do
		sleep 0.1
		now=$(frames)
		if [ "$now" = "$last" ]; then
			same=$((same + 1))
			[ $same -ge $need_n ] && return 0
		else
			same=0
			last=$now
		fi
		n=$((n - 1))
	done
	return 1
}

wait_for 10 sh -c "ip netns exec $NA ip -o link show vethA | grep -q LOWER_UP" ||
	fail "vethA never came up"
quiet 2 || fail "vethA never went quiet"
F0=$(frames)

cat >"$T/live.conf" <<EOF
daemon = { stats_interval_ms = 200; };
EOF
bg ip netns exec "$NA" "$LABELFLOWD" -c "$T/live.conf" -i vethA -e "file:$T/out.ipfix" \
	--stats-file "$T/stats" --log-level info 2>"$T/log"
LFD=$LF_LAST_PID
wait_for 10 grep -q "capturing on interface 'vethA'" "$T/log" ||
	fail "labelflowd did not start capturing: $(cat "$T/log")"
expect_eq "frames on vethA while labelflowd started" "$(frames)" "$F0"

# A UDP sink in b, so the burst draws no ICMP errors.
bg ip netns exec "$NB" python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
open(sys.argv[3], "w").close()
s.settimeout(10)
for _ in range(int(sys.argv[4])):
	s.recv(65535)
' "$B4" "$UDP_PORT" "$T/sink.ready" "$UDP_COUNT"
SINK=$LF_LAST_PID
wait_for 10 test -e "$T/sink.ready" || fail "UDP sink did not start"

ina ping -q -c 20 -i 0.05 -W 2 "$B4" >/dev/null || fail "ping $B4 failed"
ina ping -6 -q -c 10 -i 0.05 -W 2 "$B6" >/dev/null || fail "ping -6 $B6 failed"
# Payload sizes 1..1400 in a fixed pattern; the expected IP octets follow from them.
UDP_OCTETS=$(ina python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
total = 0
for i in range(int(sys.argv[3])):
	n = (i * 97) % 1400 + 1
	s.sendto(b"x" * n, (sys.argv[1], int(sys.argv[2])))
	total += 20 + 8 + n
	time.sleep(0.002)
print(total)
' "$B4" "$UDP_PORT" "$UDP_COUNT") || fail "UDP burst failed"
wait "$SINK" || fail "UDP sink did not receive $UDP_COUNT datagrams"

quiet 1 || fail "vethA never went quiet after the traffic"
F1=$(frames)
KFRAMES=$((F1 - F0))

# labelflowd reports its counters every 200 ms: stop it only once it has seen every frame.
seen_all() {
	got=$(grep -o 'counter decode.frames=[0-9]*' "$T/log" | tail -n1 | cut -d= -f2)
	[ "$got" = "$KFRAMES" ]
}
wait_for 10 seen_all || fail "labelflowd saw $(grep -o 'counter decode.frames=[0-9]*' \
	"$T/log" | tail -n1) of $KFRAMES frames"
kill -TERM "$LFD"
wait_for 10 test -s "$T/stats" || fail "labelflowd did not stop on SIGTERM"
rc=0
wait "$LFD" || rc=$?
[ "$rc" = 0 ] || fail "labelflowd exited with $rc: $(cat "$T/log")"
expect_eq "frames on vethA after labelflowd stopped" "$(frames)" "$F1"

st=$T/stats
frames_got=$(kv decode.frames "$st")
decoded=$(kv decode.decoded "$st")
non_ip=$(kv decode.drop.non_ip "$st")
expect_eq "captured frames = kernel rx+tx on vethA" "$frames_got" "$KFRAMES"
expect_eq "decoded + non_ip = frames" "$((decoded + non_ip))" "$frames_got"
# 20 echo requests + 20 replies, 10 + 10 over IPv6, 100 datagrams, plus any ND traffic.
[ "$decoded" -ge $((40 + 20 + UDP_COUNT)) ] || fail "only $decoded packets decoded"
expect_eq "kernel dropped" "$(kv capture.iface.vethA.kernel_dropped "$st")" 0
expect_eq "exported packets" "$(kv export.packets "$st")" "$decoded"
expect_eq "flows in cache at exit" "$(kv flow.active "$st")" 0
expect_eq "ipfixDump packets" "$(ipfix_sum "$T/out.ipfix" packetDeltaCount)" "$decoded"
expect_eq "ipfixDump octets" "$(ipfix_sum "$T/out.ipfix" octetDeltaCount)" \
	"$(kv export.octets "$st")"

ipfixDump --rfc5610 -i "$T/out.ipfix" >"$T/dump.txt"
RECS=$top_srcdir/tests/tools/ipfix-records.py
# rec FIELD NAME=VALUE...: sum of FIELD over the flow records matching every NAME=VALUE.
rec() {
	python3 "$RECS" sum "$T/dump.txt" "$@"
}

# Every record was observed on vethA: an ingress record has its ifindex as ingressInterface,
# an egress record as egressInterface (the bad records are on stderr).
python3 "$RECS" ifaces "$T/dump.txt" vethA="$IFINDEX" >"$T/ifaces.out" ||
	fail "records not observed on vethA (ifindex $IFINDEX)"
echo "ok: every record observed on vethA (ifindex $IFINDEX): $(cat "$T/ifaces.out")"
expect_eq "ICMP echo requests $A4 -> $B4" "$(rec packetDeltaCount sourceIPv4Address="$A4" \
	destinationIPv4Address="$B4" protocolIdentifier=1)" 20
expect_eq "ICMP echo request octets" "$(rec octetDeltaCount sourceIPv4Address="$A4" \
	destinationIPv4Address="$B4" protocolIdentifier=1)" $((20 * 84))
expect_eq "ICMP echo replies $B4 -> $A4" "$(rec packetDeltaCount sourceIPv4Address="$B4" \
	destinationIPv4Address="$A4" protocolIdentifier=1)" 20
expect_eq "ICMPv6 echo requests $A6 -> $B6" "$(rec packetDeltaCount \
	sourceIPv6Address="$A6" destinationIPv6Address="$B6" protocolIdentifier=58 \
	icmpTypeCodeIPv6=32768)" 10
expect_eq "ICMPv6 echo request octets" "$(rec octetDeltaCount \
	sourceIPv6Address="$A6" destinationIPv6Address="$B6" protocolIdentifier=58 \
	icmpTypeCodeIPv6=32768)" $((10 * 104))
expect_eq "UDP datagrams $A4 -> $B4:$UDP_PORT" "$(rec packetDeltaCount \
	sourceIPv4Address="$A4" destinationTransportPort="$UDP_PORT" protocolIdentifier=17)" \
	"$UDP_COUNT"
expect_eq "UDP octets" "$(rec octetDeltaCount sourceIPv4Address="$A4" \
	destinationTransportPort="$UDP_PORT" protocolIdentifier=17)" "$UDP_OCTETS"
