# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the end-to-end tests: tool checks (exit 77 = skipped), a private
# temp dir removed on exit, background processes stopped on exit, ground-truth lookups.
set -eu

: "${LABELFLOWD:?run through make check}"
: "${LF_MKPCAP:?run through make check}"
: "${top_srcdir:?run through make check}"
export LABELFLOW_DATADIR="${LABELFLOW_DATADIR:-$top_srcdir/templates}"

T=$(mktemp -d /tmp/lf-e2e.XXXXXX)
LF_BG_PIDS=""
LF_CLEANUPS=""

lf_cleanup() {
	for c in $LF_CLEANUPS; do $c || true; done
	for p in $LF_BG_PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $LF_BG_PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap lf_cleanup EXIT INT TERM

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

need() {
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip "$t is not installed"
	done
}

need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root"
}

# bg CMD...: start CMD in the background, stopped at exit; sets LF_LAST_PID.
bg() {
	"$@" &
	LF_LAST_PID=$!
	LF_BG_PIDS="$LF_BG_PIDS $LF_LAST_PID"
}

# free_port udp|tcp: an unused loopback port.
free_port() {
	python3 -c 'import socket,sys
k = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, k); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}

# kv KEY FILE: the value of KEY in a key=value file (truth or --stats-file output).
kv() {
	v=$(grep -m1 "^$1=" "$2" | cut -d= -f2-) || fail "no '$1' in $2"
	echo "$v"
}

# jget PY-EXPR: evaluate PY-EXPR over the JSON on stdin (as j).
jget() {
	python3 -c 'import json, sys
j = json.load(sys.stdin)
print(eval(sys.argv[1], {"j": j}))' "$1"
}

# expect_eq WHAT GOT WANT
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
	echo "ok: $1 = $3"
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds or time runs out.
wait_for() {
	lf_wait_n=$(($1 * 10))
	shift
	while [ $lf_wait_n -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		lf_wait_n=$((lf_wait_n - 1))
	done
	return 1
}

# ipfix_sum FILE ELEMENT: sum of ELEMENT's values over every data record ipfixDump decodes.
ipfix_sum() {
	ipfixDump --rfc5610 -i "$1" | python3 "$top_srcdir/tests/tools/ipfix-records.py" sum - "$2"
}

# sampled_truth N: a plain IPv4 capture $T/plain.pcap (truth in $T/plain.truth) and what
# 1-in-N systematic sampling takes of it, read from the capture itself: sets frames, all_f
# and all_o (frames and IP octets of the whole capture), sel_f and sel_o (of frames 1,
# N+1, 2N+1, ...; the IPv4 total length behind the 14-byte Ethernet header).
sampled_truth() {
	"$LF_MKPCAP" -o "$T/plain.pcap" --truth "$T/plain.truth" --packets 20003 --flows 400 \
		--seed 5 >/dev/null || fail "cannot generate the plain capture"
	frames=$(kv frames "$T/plain.truth")
	expect_eq "plain capture: every frame an IPv4 packet" \
		"$(kv ipv4_packets "$T/plain.truth")" "$frames"
	expect_eq "plain capture: Ethernet, untagged" \
		"$(kv linktype "$T/plain.truth") $(kv vlan_frames "$T/plain.truth")" "1 0"
	python3 - "$T/plain.pcap" "$1" >"$T/plain.sampled" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
n = int(sys.argv[2])
end = "<" if struct.unpack("<I", data[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
off, i, all_f, all_o, sel_f, sel_o = 24, 0, 0, 0, 0, 0
while off < len(data):
    incl = struct.unpack(end + "I", data[off + 8:off + 12])[0]
    ip_len = struct.unpack("!H", data[off + 16 + 16:off + 16 + 18])[0]
    all_f, all_o = all_f + 1, all_o + ip_len
    if i % n == 0:
        sel_f, sel_o = sel_f + 1, sel_o + ip_len
    i, off = i + 1, off + 16 + incl
print(all_f, all_o, sel_f, sel_o)
PY
	read -r all_f all_o sel_f sel_o <"$T/plain.sampled"
	expect_eq "capture reader agrees with the generator" "$all_f $all_o" \
		"$frames $(kv ip_octets "$T/plain.truth")"
	expect_eq "sampled frames = ceil(frames / $1)" "$sel_f" $(((frames + $1 - 1) / $1))
}
