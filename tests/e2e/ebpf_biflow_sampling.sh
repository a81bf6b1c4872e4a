#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The eBPF backend with RFC 5103 biflows and 1-in-N sampling, live: a CNI bridge node whose
# two pods exchange ICMP echo, a one-way UDP burst and (biflow run only) a TCP transfer,
# all started by pod 1. The biflow run must split each veth's traffic into pod 1's packets
# (forward of its records) and pod 2's (reverse) exactly as the kernel's veth counters do.
# The sampling run keeps every packet on one CPU (the kernel sampler counts per CPU), so
# it must select exactly ceil(K / N) of the K frames the veths carried and export those.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/live_lib.sh"

need_root
need ip bridge ping iperf3 ss ipfixDump python3 timeout taskset

NODE=lf-ebs-$$
PINGS=20
BURST=40
BURST_LEN=200
N=7
CPU=$(cut -d- -f1 /sys/devices/system/cpu/online | cut -d, -f1)

cni_node "$NODE"
for i in 1 2; do
	pod_add "$i"
done
V1=$(pod_veth 1)
V2=$(pod_veth 2)
P1=$(pod_ip 1)
P2=$(pod_ip 2)

# traffic TAG TCP: ping pod 1 -> pod 2, a UDP burst 1 -> 2, with TCP=1 a 256 KiB iperf3
# transfer 1 -> 2. Every sender and receiver runs on CPU $CPU.
traffic() {
	ip netns exec "$(pod_ns 1)" taskset -c "$CPU" ping -q -c "$PINGS" -i 0.02 -W 2 "$P2" \
		>/dev/null || fail "$1: ping pod 1 -> pod 2 failed"
	udp_sink "$(pod_ns 2)" "$P2" 7000 "$BURST" "$T/$1.sink.ready"
	lf_tr_sink=$LF_LAST_PID
	wait_for 10 test -e "$T/$1.sink.ready" || fail "$1: UDP sink did not start"
	ip netns exec "$(pod_ns 1)" taskset -c "$CPU" python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[3])):
	s.sendto(b"x" * int(sys.argv[4]), (sys.argv[1], int(sys.argv[2])))
	time.sleep(0.001)
' "$P2" 7000 "$BURST" "$BURST_LEN" || fail "$1: UDP burst failed"
	wait "$lf_tr_sink" || fail "$1: pod 2 did not receive the $BURST datagrams"
	if [ "$2" = 1 ]; then
		iperf3_server "$(pod_ns 2)" "$P2" 5201
		lf_tr_srv=$LF_LAST_PID
		ip netns exec "$(pod_ns 1)" timeout 30 iperf3 -c "$P2" -p 5201 -n 256K \
			>"$T/$1.iperf3" 2>&1 || fail "$1: iperf3 failed: $(cat "$T/$1.iperf3")"
		wait "$lf_tr_srv" || fail "$1: iperf3 server failed"
	fi
}

# run TAG CONFIG TCP: labelflowd (eBPF) on the pods' veths while traffic TAG TCP runs;
# snapshots TAG.s0 / TAG.s1 of both veths around it, records in $T/TAG.dump.
run() {
	quiet "$NODE" 1 "$V1" "$V2" || fail "$1: the veths never went quiet"
	snap "$1.s0" "$NODE" "$V1" "$V2"
	printf '%s\n' "$2" 'daemon: { stats_interval_ms = 200; };' >"$T/$1.conf"
	lfd_start "$1" "$NODE" --backend ebpf -i 'veth*' -c "$T/$1.conf" -e "file:$T/$1.ipfix"
	lf_run_pid=$LFD_PID
	wait_attached "$1" "$V1"
	wait_attached "$1" "$V2"
	traffic "$1" "$3"
	quiet "$NODE" 1 "$V1" "$V2" || fail "$1: the veths never went quiet"
	snap "$1.s1" "$NODE" "$V1" "$V2"
	wait_received "$1" "$NODE" "$V1" "$1.s0"
	wait_received "$1" "$NODE" "$V2" "$1.s0"
	lfd_stop "$1" "$lf_run_pid"
	dump "$1"
	expect_eq "$1: capture.backend" "$(kv capture.backend "$T/$1.stats")" ebpf
	expect_eq "$1: nothing went through the ring" \
		"$(kv capture.ebpf.ring_delivered "$T/$1.stats")" 0
}

# pod_sent TAG IF POD FIELD: FIELD (packet or octet counts) of the packets pod POD's address
# sent, over the biflow records seen on IF: forward where it is the source, else reverse.
pod_sent() {
	lf_ps_ip=$(pod_ip "$3")
	lf_ps_rev=reverse$(echo "$4" | cut -c1 | tr a-z A-Z)$(echo "$4" | cut -c2-)
	echo $(($(recs sum "$1" "$4" interfaceName="$2" sourceIPv4Address="$lf_ps_ip") + \
		$(recs sum "$1" "$lf_ps_rev" interfaceName="$2" sourceIPv4Address!="$lf_ps_ip")))
}

# ---------------------------------------------------------------- biflow
run bi 'flow: { biflow = true; idle_timeout_ms = 60000; active_timeout_ms = 120000; };' 1
recs ifaces bi "$V1=$(ifindex "$NODE" "$V1")" "$V2=$(ifindex "$NODE" "$V2")" >/dev/null ||
	fail "bi: records name the wrong interface"
# Pod 1's frames enter the node on its veth (rx) and leave on pod 2's (tx); pod 2's the
# other way round.
for v in "$V1" "$V2"; do
	if [ "$v" = "$V1" ]; then from1=rx from2=tx; else from1=tx from2=rx; fi
	expect_eq "bi: $v: packets pod 1 sent" "$(pod_sent bi "$v" 1 packetDeltaCount)" \
		"$(delta bi.s0 bi.s1 "$v" "${from1}p")"
	expect_eq "bi: $v: octets pod 1 sent" "$(pod_sent bi "$v" 1 octetDeltaCount)" \
		"$(ip_octets bi.s0 bi.s1 "$v" "$from1")"
	expect_eq "bi: $v: packets pod 2 sent" "$(pod_sent bi "$v" 2 packetDeltaCount)" \
		"$(delta bi.s0 bi.s1 "$v" "${from2}p")"
	expect_eq "bi: $v: octets pod 2 sent" "$(pod_sent bi "$v" 2 octetDeltaCount)" \
		"$(ip_octets bi.s0 bi.s1 "$v" "$from2")"
done
K=$(($(delta bi.s0 bi.s1 "$V1" pkts) + $(delta bi.s0 bi.s1 "$V2" pkts)))
expect_eq "bi: capture.received" "$(kv capture.received "$T/bi.stats")" "$K"
expect_eq "bi: export.packets + export.rev_packets" \
	$(($(kv export.packets "$T/bi.stats") + $(kv export.rev_packets "$T/bi.stats"))) "$K"
# The echo conversation: one record per veth, pod 1 the initiator, first seen entering the
# node on pod 1's veth (ingress) and leaving on pod 2's (egress).
for v in "$V1" "$V2"; do
	if [ "$v" = "$V1" ]; then dir=0; else dir=1; fi
	expect_eq "bi: $v: ICMP biflow records" \
		"$(recs count bi interfaceName="$v" protocolIdentifier=1)" 1
	expect_eq "bi: $v: ICMP record from pod 1, biflowDirection 1, flowDirection $dir" \
		"$(recs count bi interfaceName="$v" protocolIdentifier=1 sourceIPv4Address="$P1" \
			biflowDirection=1 flowDirection="$dir")" 1
	expect_eq "bi: $v: echo requests" \
		"$(recs sum bi packetDeltaCount interfaceName="$v" protocolIdentifier=1)" "$PINGS"
	expect_eq "bi: $v: echo replies" \
		"$(recs sum bi reversePacketDeltaCount interfaceName="$v" protocolIdentifier=1)" \
		"$PINGS"
	expect_eq "bi: $v: the UDP burst, one way" \
		"$(recs sum bi packetDeltaCount interfaceName="$v" protocolIdentifier=17 \
			sourceIPv4Address="$P1" destinationTransportPort=7000) $(recs sum bi \
			reversePacketDeltaCount interfaceName="$v" protocolIdentifier=17)" "$BURST 0"
	# Every record that names its initiator (SYN or non-TCP first) names pod 1.
	expect_eq "bi: $v: initiators other than pod 1" \
		"$(recs count bi interfaceName="$v" biflowDirection=1 sourceIPv4Address!="$P1")" 0
done
# iperf3's two connections close with FINs from both ends (or an RST): on each veth both
# end as flowEndReason 3 (a final ACK after the expiry scan would start a record of its own).
expect_eq "bi: TCP biflows ended by FIN+FIN or RST, at least 2 per veth" \
	"$(($(recs count bi flowEndReason=3 protocolIdentifier=6) >= 4))" 1
grep -q 'reverseOctetDeltaCount' "$T/bi.dump" || fail "bi: no reverse elements on the wire"
echo "ok: eBPF biflows split both veths' traffic as the kernel counted it"

# ---------------------------------------------------------------- biflow + sampling
run samp "flow: { biflow = true; sampling_interval = $N; };" 0
K=$(($(delta samp.s0 samp.s1 "$V1" pkts) + $(delta samp.s0 samp.s1 "$V2" pkts)))
want=$(((K + N - 1) / N))
expect_eq "samp: capture.received (every frame the program ran on)" \
	"$(kv capture.received "$T/samp.stats")" "$K"
expect_eq "samp: sampling.interval" "$(kv sampling.interval "$T/samp.stats")" "$N"
expect_eq "samp: sampling.observed" "$(kv sampling.observed "$T/samp.stats")" "$K"
expect_eq "samp: sampling.selected = ceil(K / N) on one CPU" \
	"$(kv sampling.selected "$T/samp.stats")" "$want"
expect_eq "samp: capture.ebpf.sampled_out" "$(kv capture.ebpf.sampled_out "$T/samp.stats")" \
	$((K - want))
expect_eq "samp: capture.ebpf.metered" "$(kv capture.ebpf.metered "$T/samp.stats")" "$want"
expect_eq "samp: exported packets, both directions (not scaled)" \
	$(($(kv export.packets "$T/samp.stats") + $(kv export.rev_packets "$T/samp.stats"))) \
	"$want"
expect_eq "samp: the same on the wire" \
	$(($(recs sum samp packetDeltaCount interfaceName!="") + \
		$(recs sum samp reversePacketDeltaCount interfaceName!=""))) "$want"
expect_eq "samp: one selector report, 1 in $N" \
	"$(recs count samp selectorId=1 selectorAlgorithm=1 samplingPacketInterval=1 \
		samplingPacketSpace=$((N - 1)) samplingInterval="$N")" 1
echo "ok: the kernel sampler took ceil($K / $N) = $want frames and exported exactly those"
