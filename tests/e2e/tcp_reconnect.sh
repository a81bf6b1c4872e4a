#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# IPFIX over TCP survives an absent and a restarting collector: messages queue while the
# collector is down, the exporter reconnects with backoff, every connection starts with
# the templates, and the records received over all connections sum exactly to the truth.
. "$top_srcdir/tests/e2e/lib.sh"
need python3 ipfixDump

# collector.py PORT OUT [DROP_AFTER]: accept one connection on 127.0.0.1:PORT, append each
# complete IPFIX message to OUT (a valid IPFIX file), exit at end of stream, or close the
# connection and exit after DROP_AFTER messages. Creates OUT.ready once listening.
cat >"$T/collector.py" <<'PY'
import socket
import struct
import sys

port, out = int(sys.argv[1]), sys.argv[2]
drop_after = int(sys.argv[3]) if len(sys.argv) > 3 else 0
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(1)
open(out + ".ready", "w").close()
conn, _ = ls.accept()
ls.close()


def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


msgs = 0
with open(out, "wb") as f:
    while True:
        hdr = read_exact(16)
        if hdr is None:
            break
        version, length = struct.unpack("!HH", hdr[:4])
        if version != 10 or length < 16:
            sys.exit("collector: bad IPFIX header: version %d length %d" % (version, length))
        body = read_exact(length - 16)
        if body is None:
            break  # a partial message is never saved
        f.write(hdr + body)
        f.flush()
        msgs += 1
        if drop_after and msgs >= drop_after:
            break
conn.close()
with open(out + ".count", "w") as c:
    c.write("%d\n" % msgs)
PY

cat >"$T/lf.conf" <<'CONF'
export: { reconnect_min_ms = 100; reconnect_max_ms = 500; };
daemon: { shutdown_linger_ms = 10000; };
CONF

# check_records WHAT TRUTH FILE...: packets and octets over all FILEs equal the truth.
check_records() {
	what=$1
	tr=$2
	shift 2
	p=0
	o=0
	for f in "$@"; do
		ipfixDump --rfc5610 -i "$f" >"$f.dump" 2>"$f.dumperr" || fail "$what: ipfixDump $f"
		! grep -qi "missing external template" "$f.dump" "$f.dumperr" || fail "$what: data before templates in $f"
		grep -q "sourcePodName\|destinationPodName\|podName" "$f.dump" ||
			fail "$what: label elements not decoded in $f"
		p=$((p + $(python3 "$top_srcdir/tests/tools/ipfixdump-sum.py" packetDeltaCount <"$f.dump")))
		o=$((o + $(python3 "$top_srcdir/tests/tools/ipfixdump-sum.py" octetDeltaCount <"$f.dump")))
	done
	expect_eq "$what: packets received" "$p" "$(kv ip_packets "$tr")"
	expect_eq "$what: octets received" "$o" "$(kv ip_octets "$tr")"
}

# 1. The collector is down when labelflowd starts; it comes up a second later.
port=$(free_port tcp)
"$LF_MKPCAP" -o "$T/a.pcap" --truth "$T/a.truth" --packets 20000 --flows 2000 --seed 11 >/dev/null
bg "$LABELFLOWD" -c "$T/lf.conf" -r "$T/a.pcap" -e "tcp:127.0.0.1:$port" \
	--stats-file "$T/a.stats" --log-level warn
lf=$LF_LAST_PID
sleep 1
bg python3 "$T/collector.py" "$port" "$T/a.ipfix"
col=$LF_LAST_PID
wait "$lf" || fail "late collector: labelflowd failed"
wait "$col" || fail "late collector: collector failed"
# The stats file is written before the exit linger: it shows the queue, not its delivery,
# which the collector's file proves.
st=$T/a.stats
expect_eq "late collector: msgs dropped" "$(kv "target.tcp:127.0.0.1:$port.msgs_dropped" "$st")" 0
expect_eq "late collector: left in the queue" "$(kv "target.tcp:127.0.0.1:$port.queued" "$st")" 0
[ "$(kv "target.tcp:127.0.0.1:$port.connect_failures" "$st")" -ge 1 ] ||
	fail "late collector: no failed connect counted"
check_records "late collector" "$T/a.truth" "$T/a.ipfix"

# 2. The collector drops the connection after K messages and a new one takes over.
K=10
port=$(free_port tcp)
"$LF_MKPCAP" -o "$T/b.pcap" --truth "$T/b.truth" --packets 200000 --flows 20000 --seed 12 \
	>/dev/null
bg python3 "$T/collector.py" "$port" "$T/b1.ipfix" "$K"
col=$LF_LAST_PID
wait_for 10 test -e "$T/b1.ipfix.ready" || fail "restart: first collector did not start"
bg "$LABELFLOWD" -c "$T/lf.conf" -r "$T/b.pcap" -e "tcp:127.0.0.1:$port" \
	--stats-file "$T/b.stats" --log-level warn
lf=$LF_LAST_PID
wait "$col" || fail "restart: first collector failed"
expect_eq "restart: messages in the first connection" "$(cat "$T/b1.ipfix.count")" "$K"
sleep 0.5
bg python3 "$T/collector.py" "$port" "$T/b2.ipfix"
col=$LF_LAST_PID
wait "$lf" || fail "restart: labelflowd failed"
wait "$col" || fail "restart: second collector failed"
st=$T/b.stats
expect_eq "restart: msgs dropped" "$(kv "target.tcp:127.0.0.1:$port.msgs_dropped" "$st")" 0
[ -s "$T/b2.ipfix" ] || fail "restart: second collector received nothing"
# IPFIX over TCP has no acknowledgements: what the kernel accepted after the first
# collector stopped reading is gone, so the total may fall short of the truth; it must
# never exceed it (a half-sent message is resent whole, never twice in a saved file),
# and the second connection must carry the rest, templates first.
for f in b1 b2; do
	ipfixDump --rfc5610 -i "$T/$f.ipfix" >"$T/$f.dump" 2>"$T/$f.dumperr" ||
		fail "restart: ipfixDump $f"
	! grep -qi "missing external template" "$T/$f.dump" "$T/$f.dumperr" || fail "restart: $f: data before templates"
	grep -q "sourcePodName\|destinationPodName\|podName" "$T/$f.dump" ||
		fail "restart: $f: label elements not decoded"
done
sum() { python3 "$top_srcdir/tests/tools/ipfixdump-sum.py" "$2" <"$T/$1.dump"; }
p1=$(sum b1 packetDeltaCount)
p2=$(sum b2 packetDeltaCount)
want=$(kv ip_packets "$T/b.truth")
[ "$p2" -gt 0 ] || fail "restart: no records over the second connection"
[ $((p1 + p2)) -le "$want" ] || fail "restart: $((p1 + p2)) packets received, more than $want"
echo "ok: restart: $p1 + $p2 packets received of $want (lost in flight: $((want - p1 - p2)))"
