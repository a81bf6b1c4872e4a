#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Live capture benchmark (root): iperf3 sends UDP at a fixed rate across a veth pair in
# private namespaces for a fixed time while labelflowd captures one end, once per backend.
# Prints frames sent (kernel counters) vs received and exported by the daemon, and the
# daemon's own CPU time (utime + stime from /proc/PID/stat). See bench/README.md.
set -euo pipefail

die() {
	echo "bench: $*" >&2
	exit 1
}

: "${LABELFLOWD:?set LABELFLOWD to the labelflowd binary (make bench does)}"
: "${LABELFLOW_DATADIR:?set LABELFLOW_DATADIR to the templates directory (make bench does)}"
export LABELFLOW_DATADIR

BACKENDS=${BENCH_BACKENDS:-pcap ebpf}
RATE=${BENCH_RATE:-200M}     # iperf3 -b: bits per second of UDP payload
SECS=${BENCH_SECONDS:-10}    # iperf3 -t
LEN=${BENCH_LEN:-256}        # UDP payload bytes per datagram
SNAPLEN=${BENCH_SNAPLEN:-256}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, live capture)"
[ -x "$LABELFLOWD" ] || die "LABELFLOWD '$LABELFLOWD' is not an executable"
for t in ip iperf3 ss timeout; do
	command -v "$t" >/dev/null || die "$t is not installed"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lf-capbench.XXXXXX")
NA=lf-bench-a-$$
NB=lf-bench-b-$$
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	ip netns del "$NA" 2>/dev/null || true
	ip netns del "$NB" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# kv KEY FILE: value of KEY in a key=value file, or empty.
kv() {
	sed -n "s/^$1=//p" "$2" | head -n1
}

# frames: rx + tx packets of va, the captured end, as the kernel counts them.
frames() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	ip netns exec "$NA" sh -c 'cd /sys/class/net/va/statistics &&
		echo $(($(cat rx_packets) + $(cat tx_packets)))'
}

# cpu_ticks PID: user + system time of PID so far, in clock ticks.
cpu_ticks() {
	# fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends the command name
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# A veth pair between two namespaces, IPv6 off and static neighbours: only the test's
# datagrams (and iperf3's TCP control connection) cross it.
for ns in "$NA" "$NB"; do
	ip netns add "$ns"
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
done
ip -n "$NA" link add va type veth peer name vb netns "$NB"
ip -n "$NA" link set va address 02:00:0a:4d:00:01
ip -n "$NB" link set vb address 02:00:0a:4d:00:02
ip -n "$NA" addr add 10.77.0.1/24 dev va
ip -n "$NB" addr add 10.77.0.2/24 dev vb
ip -n "$NA" neigh add 10.77.0.2 lladdr 02:00:0a:4d:00:02 dev va nud permanent
ip -n "$NB" neigh add 10.77.0.1 lladdr 02:00:0a:4d:00:01 dev vb nud permanent
ip -n "$NA" link set va up
ip -n "$NB" link set vb up
sleep 1

hz=$(getconf CLK_TCK)
echo "labelflowd capture benchmark: $("$LABELFLOWD" --version 2>&1 | head -n1 || true)"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
echo "machine: $(nproc) CPUs, $cpu_model, $(uname -sr)"
echo "load: iperf3 UDP $RATE bit/s of $LEN-byte datagrams for $SECS s across a veth pair;" \
	"labelflowd captures one end (snaplen $SNAPLEN)"
echo
printf '%-7s %10s %11s %11s %11s %8s %7s %7s\n' backend frames frames/s received exported \
	lost_% cpu_s cpu_%
status=0
for b in $BACKENDS; do
	cat >"$TMP/$b.conf" <<EOF
capture: { snaplen = $SNAPLEN; };
daemon: { stats_interval_ms = 1000; };
EOF
	ip netns exec "$NB" timeout $((SECS + 30)) iperf3 -s -1 -B 10.77.0.2 -p 5201 \
		>"$TMP/$b.server" 2>&1 &
	srv=$!
	PIDS+=("$srv")
	for _ in $(seq 50); do
		ip netns exec "$NB" ss -Hltn 'sport = :5201' | grep -q LISTEN && break
		sleep 0.1
	done
	f0=$(frames)
	ip netns exec "$NA" "$LABELFLOWD" --backend "$b" -i va -c "$TMP/$b.conf" \
		-e "file:$TMP/$b.ipfix" --stats-file "$TMP/$b.stats" --log-level info \
		2>"$TMP/$b.log" &
	lfd=$!
	PIDS+=("$lfd")
	for _ in $(seq 100); do
		grep -qE "(attached|capturing on) interface 'va'" "$TMP/$b.log" && break
		kill -0 "$lfd" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -qE "(attached|capturing on) interface 'va'" "$TMP/$b.log"; then
		echo "bench: $b: labelflowd did not attach va:" >&2
		tail -n 20 "$TMP/$b.log" | sed 's/^/  | /' >&2
		status=1
		kill "$lfd" "$srv" 2>/dev/null || true
		wait "$lfd" "$srv" 2>/dev/null || true
		continue
	fi
	c0=$(cpu_ticks "$lfd")
	ip netns exec "$NA" timeout $((SECS + 30)) iperf3 -c 10.77.0.2 -p 5201 -u -b "$RATE" \
		-l "$LEN" -t "$SECS" >"$TMP/$b.client" 2>&1 ||
		die "$b: iperf3 failed: $(tail -n 5 "$TMP/$b.client")"
	sleep 1
	f1=$(frames)
	# Let the daemon drain what it still has buffered (at most 30 s), then stop it.
	for _ in $(seq 300); do
		got=$(grep -o 'counter capture.iface.va.received=[0-9]*' "$TMP/$b.log" | tail -n1 |
			cut -d= -f2)
		[ "${got:-0}" -ge $((f1 - f0)) ] && break
		sleep 0.1
	done
	c1=$(cpu_ticks "$lfd")
	kill -TERM "$lfd"
	rc=0
	wait "$lfd" || rc=$?
	[ "$rc" = 0 ] || die "$b: labelflowd exited with $rc: $(tail -n 5 "$TMP/$b.log")"
	wait "$srv" || true
	sent=$((f1 - f0))
	received=$(kv capture.iface.va.received "$TMP/$b.stats")
	exported=$(kv export.packets "$TMP/$b.stats")
	if [ -z "$received" ] || [ -z "$exported" ]; then
		echo "bench: $b: counters missing from the stats file" >&2
		status=1
	fi
	lost=n/a
	[ -n "$exported" ] && [ "$sent" -gt 0 ] &&
		lost=$(awk -v s="$sent" -v e="$exported" 'BEGIN { printf "%.3f", (s - e) * 100 / s }')
	printf '%-7s %10d %11.0f %11s %11s %8s %7.2f %7.1f\n' "$b" "$sent" \
		"$(awk -v s="$sent" -v t="$SECS" 'BEGIN { print s / t }')" "${received:-n/a}" \
		"${exported:-n/a}" "$lost" "$(awk -v c=$((c1 - c0)) -v hz="$hz" 'BEGIN { print c / hz }')" \
		"$(awk -v c=$((c1 - c0)) -v hz="$hz" -v t="$SECS" 'BEGIN { print c / hz * 100 / t }')"
done
echo
echo "frames: rx + tx of the captured veth (kernel); received: capture.iface.va.received;"
echo "exported: export.packets; lost_%: frames not exported; cpu: the daemon's user + system"
echo "time during the load (eBPF's in-kernel work runs in the sender's softirq, not counted)."
exit $status
