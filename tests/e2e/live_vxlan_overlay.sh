#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# VXLAN overlay seen on the underlay: two "nodes" joined by a veth underlay (192.168.50.1/2)
# run vxlan0 (VNI 42) with overlay addresses 10.42.0.1/2 and ping across it. labelflowd
# captures node 1's underlay veth, once per backend and tunnel view, on the standard port
# 4789 and on Flannel's 8472. Each record must carry the inner addresses, VNI 42, tunnel
# type vxlan and the underlay endpoints (inner view) or be the outer UDP flow (outer view),
# with packet and octet counts that add up exactly to the underlay's kernel counters.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/live_lib.sh"

need_root
need ip ping ipfixDump python3

BACKENDS=${LF_BACKENDS:-pcap ebpf}
N1=lf-vx1-$$
N2=lf-vx2-$$
U1=192.168.50.1
U2=192.168.50.2
O1=10.42.0.1
O2=10.42.0.2
VNI=42
PINGS=10
# Echo packets: 84 IP octets (20 + 8 + 56); inside VXLAN 134 (outer IPv4 + UDP + VXLAN
# header + the inner Ethernet header + 84).
ICMP_OCTETS=84
OUTER_OCTETS=134

# ---------------------------------------------------------------------------- topology

ns_add "$N1"
ns_add "$N2"
ip -n "$N1" link add ul0 type veth peer name ul0 netns "$N2"
ip -n "$N1" link set ul0 address 02:00:c0:a8:32:01
ip -n "$N2" link set ul0 address 02:00:c0:a8:32:02
ip -n "$N1" addr add "$U1/24" dev ul0
ip -n "$N2" addr add "$U2/24" dev ul0
# Underlay neighbours are permanent: no ARP on the underlay, ever.
ip -n "$N1" neigh add "$U2" lladdr 02:00:c0:a8:32:02 dev ul0 nud permanent
ip -n "$N2" neigh add "$U1" lladdr 02:00:c0:a8:32:01 dev ul0 nud permanent
ip -n "$N1" link set ul0 up
ip -n "$N2" link set ul0 up
IDX=$(ifindex "$N1" ul0)

# overlay PORT ARP: (re)create vxlan0 on both nodes with UDP port PORT. Node 2 knows node 1's
# overlay MAC permanently; node 1 knows node 2's too unless ARP is "arp", in which case it
# resolves it once: one ARP request and one reply, both inside VXLAN.
overlay() {
	for n in 1 2; do
		ns=$N1 local=$U1 remote=$U2 addr=$O1
		[ $n = 2 ] && ns=$N2 local=$U2 remote=$U1 addr=$O2
		ip -n "$ns" link del vxlan0 2>/dev/null || true
		ip -n "$ns" link add vxlan0 type vxlan id "$VNI" dstport "$1" local "$local" \
			remote "$remote" dev ul0
		ip -n "$ns" link set vxlan0 address "02:42:0a:2a:00:0$n"
		ip -n "$ns" addr add "$addr/24" dev vxlan0
		ip -n "$ns" link set vxlan0 up
	done
	ip -n "$N2" neigh add "$O1" lladdr 02:42:0a:2a:00:01 dev vxlan0 nud permanent
	[ "$2" = arp ] ||
		ip -n "$N1" neigh add "$O2" lladdr 02:42:0a:2a:00:02 dev vxlan0 nud permanent
}

# ---------------------------------------------------------------------------- one run

# run_case BACKEND VIEW PORT ARP: labelflowd (BACKEND, tunnel_view VIEW) on node 1's
# underlay while node 1 pings node 2 across vxlan0 on PORT; then the assertions.
run_case() {
	b=$1 view=$2 port=$3 arp=$4
	tag=vx-$b-$view-$port-$arp
	echo "--- $tag"
	overlay "$port" "$arp"
	quiet "$N1" 1 ul0 || fail "the underlay never went quiet"
	snap "$tag.0" "$N1" ul0
	cat >"$T/$tag.conf" <<EOF
capture: { tunnel_view = "$view"; };
flow: { idle_timeout_ms = 60000; active_timeout_ms = 120000; };
daemon: { stats_interval_ms = 200; };
EOF
	lfd_start "$tag" "$N1" --backend "$b" -i ul0 -c "$T/$tag.conf" -e "file:$T/$tag.ipfix"
	pid=$LFD_PID
	wait_attached "$tag" ul0
	ip netns exec "$N1" ping -q -c "$PINGS" -i 0.05 -W 2 "$O2" >/dev/null ||
		fail "$tag: ping across the overlay failed"
	quiet "$N1" 1 ul0 || fail "the underlay never went quiet"
	snap "$tag.1" "$N1" ul0
	wait_received "$tag" "$N1" ul0 "$tag.0"
	lfd_stop "$tag" "$pid"
	snap "$tag.2" "$N1" ul0
	expect_eq "$tag: underlay frames while labelflowd stopped" \
		"$(delta "$tag.1" "$tag.2" ul0 pkts)" 0
	dump "$tag"
	check_case "$tag" "$view" "$port" "$arp"
}

# tsum TAG FIELD COND...: FIELD summed over TAG's records matching every COND.
tsum() {
	t=$1
	shift
	recs sum "$t" "$@"
}

# shellcheck disable=SC2086 # the condition lists ($reqs, $tun_out, ...) are split on purpose
check_case() {
	tag=$1 view=$2 port=$3 arp=$4
	frames=$(delta "$tag.0" "$tag.1" ul0 pkts)
	ip_total=$(($(ip_octets "$tag.0" "$tag.1" ul0 rx) + $(ip_octets "$tag.0" "$tag.1" ul0 tx)))
	arp_frames=0
	[ "$arp" = arp ] && arp_frames=2
	# The underlay carried exactly the encapsulated echo requests and replies (and, in the
	# ARP case, the ARP request and reply inside VXLAN): nothing else can blur the counts.
	expect_eq "$tag: underlay frames" "$frames" $((2 * PINGS + arp_frames))
	expect_eq "$tag: capture.iface.ul0.received" "$(kv capture.iface.ul0.received "$T/$tag.stats")" \
		"$frames"
	reqs="sourceIPv4Address=$O1 destinationIPv4Address=$O2 protocolIdentifier=1 icmpTypeCodeIPv4=2048"
	reps="sourceIPv4Address=$O2 destinationIPv4Address=$O1 protocolIdentifier=1 icmpTypeCodeIPv4=0"
	tun_out="tunnelType=vxlan layer2SegmentId=$VNI tunnelSourceIPv4Address=$U1"
	tun_out="$tun_out tunnelDestinationIPv4Address=$U2 flowDirection=1 egressInterface=$IDX"
	tun_in="tunnelType=vxlan layer2SegmentId=$VNI tunnelSourceIPv4Address=$U2"
	tun_in="$tun_in tunnelDestinationIPv4Address=$U1 flowDirection=0 ingressInterface=$IDX"
	udp_req="sourceIPv4Address=$U1 destinationIPv4Address=$U2 protocolIdentifier=17"
	udp_req="$udp_req destinationTransportPort=$port flowDirection=1 egressInterface=$IDX"
	udp_rep="sourceIPv4Address=$U2 destinationIPv4Address=$U1 protocolIdentifier=17"
	udp_rep="$udp_rep destinationTransportPort=$port flowDirection=0 ingressInterface=$IDX"
	case $view in
	inner | both)
		# Inner view: the pings themselves, as the pods sent them, each record naming the
		# overlay (type, VNI) and the underlay endpoints of its direction.
		expect_eq "$tag: echo requests (inner, vxlan $VNI, $U1 -> $U2, egress)" \
			"$(tsum "$tag" packetDeltaCount $reqs $tun_out)" "$PINGS"
		expect_eq "$tag: echo request octets (inner IP)" \
			"$(tsum "$tag" octetDeltaCount $reqs $tun_out)" $((PINGS * ICMP_OCTETS))
		expect_eq "$tag: echo replies (inner, vxlan $VNI, $U2 -> $U1, ingress)" \
			"$(tsum "$tag" packetDeltaCount $reps $tun_in)" "$PINGS"
		expect_eq "$tag: echo reply octets (inner IP)" \
			"$(tsum "$tag" octetDeltaCount $reps $tun_in)" $((PINGS * ICMP_OCTETS))
		# Every packet decoded out of the tunnel is one of those pings.
		expect_eq "$tag: inner packets" "$(tsum "$tag" packetDeltaCount tunnelType=vxlan \
			sourceIPv4Address!=$U1 sourceIPv4Address!=$U2)" $((2 * PINGS))
		# ARP inside VXLAN is no IP packet: the frame is metered as the outer UDP datagram
		# it is, without a tunnel type; its octets are what the pings leave of the total.
		expect_eq "$tag: untunnelled datagrams to port $port (inner ARP)" \
			"$(tsum "$tag" packetDeltaCount tunnelType= protocolIdentifier=17 \
			destinationTransportPort=$port)" "$arp_frames"
		expect_eq "$tag: untunnelled octets" "$(tsum "$tag" octetDeltaCount tunnelType=)" \
			$((ip_total - 2 * PINGS * OUTER_OCTETS))
		;;
	esac
	case $view in
	outer | both)
		# Outer view: the UDP datagrams between the underlay addresses, to the VXLAN port,
		# with the outer IP length.
		expect_eq "$tag: datagrams $U1 -> $U2:$port (egress)" \
			"$(tsum "$tag" packetDeltaCount $udp_req)" $((PINGS + arp_frames / 2))
		expect_eq "$tag: datagrams $U2 -> $U1:$port (ingress)" \
			"$(tsum "$tag" packetDeltaCount $udp_rep)" $((PINGS + arp_frames / 2))
		expect_eq "$tag: outer octets" "$(($(tsum "$tag" octetDeltaCount $udp_req) + \
			$(tsum "$tag" octetDeltaCount $udp_rep)))" "$ip_total"
		;;
	esac
	case $view in
	inner)
		# One record per frame, and nothing but the frames: totals equal the underlay's.
		expect_eq "$tag: export.packets" "$(kv export.packets "$T/$tag.stats")" "$frames"
		expect_eq "$tag: exported octets" "$(tsum "$tag" octetDeltaCount)" \
			$((ip_total - 2 * PINGS * (OUTER_OCTETS - ICMP_OCTETS)))
		;;
	outer)
		expect_eq "$tag: no inner addresses" "$(recs count "$tag" sourceIPv4Address=$O1) \
$(recs count "$tag" sourceIPv4Address=$O2)" "0 0"
		expect_eq "$tag: export.packets" "$(kv export.packets "$T/$tag.stats")" "$frames"
		expect_eq "$tag: exported octets" "$(tsum "$tag" octetDeltaCount)" "$ip_total"
		;;
	both)
		# Each tunnelled frame is metered twice (inner and outer flow), the rest once.
		expect_eq "$tag: export.packets" "$(kv export.packets "$T/$tag.stats")" \
			$((frames + 2 * PINGS))
		expect_eq "$tag: exported octets" "$(tsum "$tag" octetDeltaCount)" \
			$((ip_total + 2 * PINGS * ICMP_OCTETS))
		;;
	esac
}

for b in $BACKENDS; do
	run_case "$b" inner 4789 static
	run_case "$b" outer 4789 static
	run_case "$b" both 4789 static
	run_case "$b" inner 8472 static # Flannel's VXLAN port
	run_case "$b" inner 4789 arp
done
