#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Backend parity: one pcap and one eBPF labelflowd run at once in the same CNI bridge node,
# on the same veths, while pods exchange bounded ICMP, TCP and UDP traffic. Both must
# export the same flows (same keys, interface and direction) with the same packet and octet
# totals per flow, and both must match the kernel's counters of every veth.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/live_lib.sh"

need_root
need ip bridge ping iperf3 ss ipfixDump python3 timeout

NODE=lf-par-$$
PINGS=15
BURST=40
BURST_LEN=300

cni_node "$NODE"
for i in 1 2 3; do
	pod_add "$i"
done
VETHS="$(pod_veth 1) $(pod_veth 2) $(pod_veth 3)"

# shellcheck disable=SC2086 # VETHS is a list
quiet "$NODE" 1 $VETHS || fail "the veths never went quiet"
# shellcheck disable=SC2086
snap s0 "$NODE" $VETHS

cat >"$T/par.conf" <<EOF
flow: { idle_timeout_ms = 60000; active_timeout_ms = 120000; };
daemon: { stats_interval_ms = 200; };
EOF
for b in pcap ebpf; do
	lfd_start "par-$b" "$NODE" --backend "$b" -i 'veth*' -c "$T/par.conf" \
		-e "file:$T/par-$b.ipfix"
	eval "PID_$b=\$LFD_PID"
done
for b in pcap ebpf; do
	for v in $VETHS; do
		wait_attached "par-$b" "$v"
	done
done

# Traffic: ICMP both ways 1 <-> 2, a bounded TCP transfer 1 -> 3 (GSO-sized frames), an
# exact UDP burst 2 -> 3.
ip netns exec "$(pod_ns 1)" ping -q -c "$PINGS" -i 0.05 -W 2 "$(pod_ip 2)" >/dev/null ||
	fail "ping pod 1 -> pod 2 failed"
iperf3_server "$(pod_ns 3)" "$(pod_ip 3)" 5201
SRV=$LF_LAST_PID
ip netns exec "$(pod_ns 1)" timeout 30 iperf3 -c "$(pod_ip 3)" -p 5201 -n 1M \
	>"$T/iperf3.out" 2>&1 || fail "iperf3 TCP failed: $(cat "$T/iperf3.out")"
wait "$SRV" || fail "iperf3 server failed"
udp_sink "$(pod_ns 3)" "$(pod_ip 3)" 7000 "$BURST" "$T/sink.ready"
SINK=$LF_LAST_PID
wait_for 10 test -e "$T/sink.ready" || fail "UDP sink did not start"
udp_burst "$(pod_ns 2)" "$(pod_ip 3)" 7000 "$BURST" "$BURST_LEN" >/dev/null
wait "$SINK" || fail "pod 3 did not receive the $BURST datagrams"

# shellcheck disable=SC2086
quiet "$NODE" 1 $VETHS || fail "the veths never went quiet"
# shellcheck disable=SC2086
snap s1 "$NODE" $VETHS
for b in pcap ebpf; do
	for v in $VETHS; do
		wait_received "par-$b" "$NODE" "$v" s0
	done
done
lfd_stop par-pcap "$PID_pcap"
lfd_stop par-ebpf "$PID_ebpf"

# Each backend alone is exact: per veth and direction, the kernel's counters.
for b in pcap ebpf; do
	dump "par-$b"
	for v in $VETHS; do
		expect_iface "par-$b" s0 s1 "$v" "$(ifindex "$NODE" "$v")"
	done
	expect_eq "par-$b: capture.backend" "$(kv capture.backend "$T/par-$b.stats")" "$b"
done

# And they agree flow by flow: the same keys (addresses, ports, protocol, ICMP type,
# interface, direction), the same packets and octets per key (records may be cut
# differently in time, so each key's records are added up first).
recs table par-pcap >"$T/table-pcap"
recs table par-ebpf >"$T/table-ebpf"
[ -s "$T/table-pcap" ] || fail "no flows from the pcap backend"
diff -u "$T/table-pcap" "$T/table-ebpf" >"$T/table.diff" ||
	fail "the backends disagree (- pcap, + ebpf): $(cat "$T/table.diff")"
echo "ok: pcap and ebpf exported the same $(wc -l <"$T/table-pcap") flows, packet for packet"
