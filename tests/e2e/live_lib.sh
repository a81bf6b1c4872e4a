# SPDX-License-Identifier: Apache-2.0
# Helpers for the live tests, sourced after lib.sh: private network namespaces removed at
# exit, kernel interface counters saved and compared, waiting for quiet links, labelflowd
# started inside a namespace and stopped with SIGTERM, and queries on the records it exported.

LF_NETNS=""

lf_netns_cleanup() {
	for ns in $LF_NETNS; do
		ip netns del "$ns" 2>/dev/null || true
	done
}
LF_CLEANUPS="$LF_CLEANUPS lf_netns_cleanup"

# ns_add NAME: a new network namespace, removed at exit. IPv6 is off in it, so the kernel
# sends no router solicitations, neighbour discovery or MLD: every frame on its links is
# one the test caused. Its loopback is up (labelflowd's UDP export and iperf3 use it).
ns_add() {
	ip netns add "$1" || skip "cannot create network namespace '$1'"
	LF_NETNS="$1 $LF_NETNS"
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null
	ip -n "$1" link set lo up
}

# ifindex NS IF: the interface index of IF in NS.
ifindex() {
	ip netns exec "$1" cat "/sys/class/net/$2/ifindex"
}

# counters NS IF: "rx_packets rx_bytes tx_packets tx_bytes" of IF, as the kernel counts them
# (bytes include the 14-byte Ethernet header, no FCS).
counters() {
	# shellcheck disable=SC2016 # $1 is the inner shell's
	ip netns exec "$1" sh -c 'cd "/sys/class/net/$1/statistics" &&
		echo $(cat rx_packets rx_bytes tx_packets tx_bytes)' sh "$2"
}

# snap TAG NS IF...: save the counters of each IF as $T/snap/TAG.IF.
snap() {
	lf_snap_tag=$1
	lf_snap_ns=$2
	shift 2
	mkdir -p "$T/snap"
	for lf_snap_if in "$@"; do
		counters "$lf_snap_ns" "$lf_snap_if" >"$T/snap/$lf_snap_tag.$lf_snap_if" ||
			fail "cannot read the counters of '$lf_snap_if' in $lf_snap_ns"
	done
}

# delta FROM TO IF WHAT: how much counter WHAT (rxp, rxb, txp, txb, pkts = rxp + txp,
# bytes = rxb + txb) of IF grew between snapshots FROM and TO.
delta() {
	read -r a_rxp a_rxb a_txp a_txb <"$T/snap/$1.$3"
	read -r b_rxp b_rxb b_txp b_txb <"$T/snap/$2.$3"
	case $4 in
	rxp) echo $((b_rxp - a_rxp)) ;;
	rxb) echo $((b_rxb - a_rxb)) ;;
	txp) echo $((b_txp - a_txp)) ;;
	txb) echo $((b_txb - a_txb)) ;;
	pkts) echo $((b_rxp - a_rxp + b_txp - a_txp)) ;;
	bytes) echo $((b_rxb - a_rxb + b_txb - a_txb)) ;;
	*) fail "delta: unknown counter '$4'" ;;
	esac
}

# ip_octets FROM TO IF DIR [HDR]: the IP bytes (what octetDeltaCount counts) that crossed IF
# in direction DIR (rx or tx): the kernel's byte counter less HDR (default 14, the Ethernet
# header it includes) per frame.
ip_octets() {
	echo $(($(delta "$1" "$2" "$3" "${4}b") - ${5:-14} * $(delta "$1" "$2" "$3" "${4}p")))
}

# quiet NS SECONDS IF...: wait (at most 20 s) until no counter of any IF changed for SECONDS.
quiet() {
	lf_q_ns=$1
	lf_q_need=$(($2 * 10))
	shift 2
	lf_q_last=""
	lf_q_same=0
	lf_q_n=200
	while [ $lf_q_n -gt 0 ]; do
		lf_q_now=""
		for lf_q_if in "$@"; do
			lf_q_now="$lf_q_now $(counters "$lf_q_ns" "$lf_q_if")"
		done
		if [ "$lf_q_now" = "$lf_q_last" ]; then
			lf_q_same=$((lf_q_same + 1))
			[ $lf_q_same -ge $lf_q_need ] && return 0
		else
			lf_q_same=0
			lf_q_last=$lf_q_now
		fi
		sleep 0.1
		lf_q_n=$((lf_q_n - 1))
	done
	return 1
}

# now_ms: wall clock in ms since the epoch (what labelflowd's log timestamps say, in UTC).
now_ms() {
	date +%s%3N
}

# ---------------------------------------------------------------------------- labelflowd

# lfd_start TAG NS ARGS...: run labelflowd ARGS inside NS in the background, log to
# $T/TAG.log, final counters to $T/TAG.stats; sets LFD_PID. `ip netns exec` execs the
# daemon, so LFD_PID is the daemon's own process (signals and /proc/PID reach it).
lfd_start() {
	lf_st_tag=$1
	lf_st_ns=$2
	shift 2
	rm -f "$T/$lf_st_tag.stats"
	bg ip netns exec "$lf_st_ns" "$LABELFLOWD" "$@" --stats-file "$T/$lf_st_tag.stats" \
		--log-level info 2>"$T/$lf_st_tag.log"
	LFD_PID=$LF_LAST_PID
}

# lfd_stop TAG PID: SIGTERM; labelflowd must flush, write its stats and exit 0 within 15 s.
lfd_stop() {
	kill -TERM "$2" 2>/dev/null || fail "labelflowd ($1) is not running: $(tail -n 20 "$T/$1.log")"
	lf_stop_n=150
	while kill -0 "$2" 2>/dev/null && [ $lf_stop_n -gt 0 ]; do
		sleep 0.1
		lf_stop_n=$((lf_stop_n - 1))
	done
	kill -0 "$2" 2>/dev/null && fail "labelflowd ($1) did not stop within 15 s of SIGTERM"
	lf_stop_rc=0
	wait "$2" || lf_stop_rc=$?
	[ "$lf_stop_rc" = 0 ] || fail "labelflowd ($1) exited with $lf_stop_rc: $(tail -n 20 "$T/$1.log")"
	[ -s "$T/$1.stats" ] || fail "labelflowd ($1) wrote no stats file"
}

# lfd_alive TAG PID: fail with the log when the daemon has exited.
lfd_alive() {
	kill -0 "$2" 2>/dev/null || fail "labelflowd ($1) exited early: $(tail -n 20 "$T/$1.log")"
}

# The daemon's log lines when it starts and stops following an interface. The agreed
# wording is "attached interface 'NAME' (ifindex N)" / "detached interface 'NAME' (ifindex
# N)"; the follow module's own wording ("capturing on interface 'NAME' (ifindex N)",
# "interface 'NAME' (ifindex N) removed: capture stopped") is accepted too.
# attach_re IF [IFINDEX], detach_re IF [IFINDEX]: grep -E patterns for those lines.
attach_re() {
	echo "(attached|capturing on) interface '$1' \\(ifindex ${2:-[0-9]+}\\)"
}
detach_re() {
	lf_dr_idx="\\(ifindex ${2:-[0-9]+}\\)"
	echo "detached interface '$1' $lf_dr_idx|interface '$1' $lf_dr_idx removed"
}

# wait_attached TAG IF [SECONDS]: wait (default 10 s) until labelflowd ($TAG) attached IF.
wait_attached() {
	wait_for "${3:-10}" grep -qE "$(attach_re "$2")" "$T/$1.log" ||
		fail "labelflowd ($1) did not attach '$2': $(tail -n 20 "$T/$1.log")"
}

# wait_detached TAG IF IFINDEX [SECONDS]: wait (default 5 s) until it detached IF.
wait_detached() {
	wait_for "${4:-5}" grep -qE "$(detach_re "$2" "$3")" "$T/$1.log" ||
		fail "labelflowd ($1) did not detach '$2': $(tail -n 20 "$T/$1.log")"
}

# n_attached TAG: how many attach lines labelflowd ($TAG) logged.
n_attached() {
	grep -cE "$(attach_re "[^']*")" "$T/$1.log" || true
}

# log_ms TAG ERE: the time (ms since the epoch) of the first log line matching ERE.
log_ms() {
	lf_lm_line=$(grep -m1 -E "$2" "$T/$1.log") || fail "no '$2' in the log of labelflowd ($1)"
	date -u -d "${lf_lm_line%%Z *}Z" +%s%3N
}

# reported TAG KEY: the latest value of KEY in the periodic "counter KEY=N" log lines.
reported() {
	grep -o "counter $2=[0-9]*" "$T/$1.log" | tail -n1 | cut -d= -f2
}

# wait_received TAG NS IF FROM: wait (at most 10 s) until labelflowd ($TAG, periodic
# counters on) reported receiving every frame the kernel counted on IF since snapshot FROM
# (taken as the daemon started). Stopping earlier could lose frames still in a ring buffer.
wait_received() {
	snap "$1.now" "$2" "$3"
	lf_wr_want=$(delta "$4" "$1.now" "$3" pkts)
	wait_for 10 sh -c "[ \"\$(grep -o 'counter capture.iface.$3.received=[0-9]*' \
		'$T/$1.log' | tail -n1 | cut -d= -f2)\" = $lf_wr_want ]" ||
		fail "labelflowd ($1) received $(reported "$1" "capture.iface.$3.received") of" \
			"the $lf_wr_want frames on '$3'"
}

# ---------------------------------------------------------------------------- records

# dump TAG: decode $T/TAG.ipfix with ipfixDump into $T/TAG.dump.
dump() {
	ipfixDump --rfc5610 -i "$T/$1.ipfix" >"$T/$1.dump" 2>"$T/$1.dump.err" ||
		fail "ipfixDump cannot read $T/$1.ipfix: $(cat "$T/$1.dump.err")"
}

# recs CMD TAG ARGS...: tests/tools/ipfix-records.py CMD on $T/TAG.dump (sum, count, values,
# ifaces, table; see its --help).
recs() {
	lf_r_cmd=$1
	lf_r_tag=$2
	shift 2
	python3 "$top_srcdir/tests/tools/ipfix-records.py" "$lf_r_cmd" "$T/$lf_r_tag.dump" "$@"
}

# expect_iface TAG FROM TO IF IFINDEX [RX_HDR]: the records of labelflowd ($TAG) observed on
# IF carry exactly what the kernel counted on IF between snapshots FROM and TO: ingress
# records its received frames, egress records its sent frames, packets and IP octets. Proves
# that no frame was lost or counted twice, and that each was put on the right side of IF.
# RX_HDR: link header bytes in the kernel's rx byte counter (default 14; a bridge device
# counts what it passes up to the host after the Ethernet header is pulled: 0).
expect_iface() {
	lf_ei_idx=$5
	expect_eq "$1: packets received on $4 (ingress records)" \
		"$(recs sum "$1" packetDeltaCount flowDirection=0 ingressInterface="$lf_ei_idx")" \
		"$(delta "$2" "$3" "$4" rxp)"
	expect_eq "$1: octets received on $4 (ingress records)" \
		"$(recs sum "$1" octetDeltaCount flowDirection=0 ingressInterface="$lf_ei_idx")" \
		"$(ip_octets "$2" "$3" "$4" rx "${6:-14}")"
	expect_eq "$1: packets sent on $4 (egress records)" \
		"$(recs sum "$1" packetDeltaCount flowDirection=1 egressInterface="$lf_ei_idx")" \
		"$(delta "$2" "$3" "$4" txp)"
	expect_eq "$1: octets sent on $4 (egress records)" \
		"$(recs sum "$1" octetDeltaCount flowDirection=1 egressInterface="$lf_ei_idx")" \
		"$(ip_octets "$2" "$3" "$4" tx)"
}

# ---------------------------------------------------------------------------- traffic

# udp_sink NS ADDR PORT COUNT READY: receive COUNT datagrams on ADDR:PORT in NS (at most
# 20 s), touching READY once bound; started with bg, so `wait $LF_LAST_PID` says whether all
# arrived.
udp_sink() {
	bg ip netns exec "$1" python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
open(sys.argv[4], "w").close()
s.settimeout(20)
for _ in range(int(sys.argv[3])):
	s.recv(65535)
' "$2" "$3" "$4" "$5"
}

# udp_burst NS DST PORT COUNT SIZE: send COUNT datagrams of SIZE payload bytes from NS;
# prints the IP octets sent (20 + 8 + SIZE each).
udp_burst() {
	ip netns exec "$1" python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[3])):
	s.sendto(b"x" * int(sys.argv[4]), (sys.argv[1], int(sys.argv[2])))
	time.sleep(0.001)
print(int(sys.argv[3]) * (28 + int(sys.argv[4])))
' "$2" "$3" "$4" "$5"
}

# iperf3_server NS ADDR PORT: one iperf3 test served on ADDR:PORT in NS (at most 60 s);
# waits until it listens. `wait $LF_LAST_PID` reaps it after the test.
iperf3_server() {
	bg ip netns exec "$1" timeout 60 iperf3 -s -1 -B "$2" -p "$3" >"$T/iperf3-$3.log" 2>&1
	wait_for 10 sh -c "ip netns exec '$1' ss -Hltn 'sport = :$3' | grep -q LISTEN" ||
		fail "iperf3 server on $2:$3 did not start"
}

# ---------------------------------------------------------------------------- CNI bridge node

# cni_node NS: namespace NS as a node of the CNI bridge plugin: bridge cni0, 10.244.0.1/24.
# Pods are then added with pod_add; pod_ns, pod_ip, pod_mac and pod_veth name pod I's parts.
cni_node() {
	CNI_NODE=$1
	ns_add "$CNI_NODE"
	# Without multicast snooping the bridge joins no group: the node sends no IGMP reports.
	ip -n "$CNI_NODE" link add cni0 type bridge mcast_snooping 0
	ip -n "$CNI_NODE" link set cni0 address "$CNI_GW_MAC"
	ip -n "$CNI_NODE" addr add "$CNI_GW/24" dev cni0
	ip -n "$CNI_NODE" link set cni0 up
}
CNI_GW=10.244.0.1
CNI_GW_MAC=0a:58:0a:f4:00:01
CNI_MAX_PODS=4

pod_ns() { echo "$CNI_NODE-p$1"; }
pod_ip() { echo "10.244.0.$((10 + $1))"; }
# CNI convention: 0a:58 followed by the IPv4 address.
pod_mac() { printf '0a:58:0a:f4:00:%02x' $((10 + $1)); }
# Host-side names look like the plugin's: "veth" + 8 hex digits.
pod_veth() { echo "veth$(printf '%s' "$CNI_NODE-pod$1" | md5sum | cut -c1-8)"; }

# pod_add I: pod I (1..CNI_MAX_PODS) as the bridge plugin creates it: a namespace whose eth0
# (10.244.0.(10+I)/24, default route via cni0) is the peer of pod_veth I on cni0. Its
# neighbour table knows the gateway and every pod permanently, and cni0's forwarding table
# knows its MAC, so no ARP frame and no flooded frame crosses any veth: every frame is one
# the test sent, on the veths it chose. Waits until the veth is up.
pod_add() {
	lf_pa_ns=$(pod_ns "$1")
	lf_pa_veth=$(pod_veth "$1")
	ns_add "$lf_pa_ns"
	ip -n "$CNI_NODE" link add "$lf_pa_veth" type veth peer name eth0 netns "$lf_pa_ns"
	ip -n "$lf_pa_ns" link set eth0 address "$(pod_mac "$1")"
	ip -n "$lf_pa_ns" addr add "$(pod_ip "$1")/24" dev eth0
	ip -n "$lf_pa_ns" link set eth0 up
	ip -n "$lf_pa_ns" route add default via "$CNI_GW"
	ip -n "$lf_pa_ns" neigh add "$CNI_GW" lladdr "$CNI_GW_MAC" dev eth0 nud permanent
	lf_pa_j=1
	while [ $lf_pa_j -le $CNI_MAX_PODS ]; do
		[ $lf_pa_j = "$1" ] || ip -n "$lf_pa_ns" neigh add "$(pod_ip $lf_pa_j)" \
			lladdr "$(pod_mac $lf_pa_j)" dev eth0 nud permanent
		lf_pa_j=$((lf_pa_j + 1))
	done
	ip -n "$CNI_NODE" link set "$lf_pa_veth" master cni0
	bridge -n "$CNI_NODE" fdb add "$(pod_mac "$1")" dev "$lf_pa_veth" master static
	ip -n "$CNI_NODE" link set "$lf_pa_veth" up
	wait_for 10 sh -c "ip -n '$CNI_NODE' -o link show '$lf_pa_veth' | grep -q LOWER_UP" ||
		fail "$lf_pa_veth never came up"
}
