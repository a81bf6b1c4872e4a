#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# IPFIX over TCP survives an absent and a restarting collector: messages queue while the
# collector is down, the exporter reconnects with backoff, every connection starts with the
# templates, and what the peer did not acknowledge is resent: the records received over all
# connections, each counted once by sequence number, sum exactly to the truth.
. "$top_srcdir/tests/e2e/lib.sh"
need python3 ipfixDump

COLLECTOR="$top_srcdir/tests/fakes/ipfix_stream_collector.py"
UNION="$top_srcdir/tests/tools/ipfix-stream-union.py"

cat >"$T/lf.conf" <<'CONF'
export: { reconnect_min_ms = 100; reconnect_max_ms = 500; };
daemon: { shutdown_linger_ms = 10000; };
CONF

# dump WHAT FILE: ipfixDump FILE into FILE.dump; templates come before data, labels decode.
dump() {
	ipfixDump --rfc5610 -i "$2" >"$2.dump" 2>"$2.dumperr" || fail "$1: ipfixDump $2"
	! grep -qi "missing external template" "$2.dump" "$2.dumperr" ||
		fail "$1: data before templates in $2"
	grep -q "sourcePodName\|destinationPodName\|podName" "$2.dump" ||
		fail "$1: label elements not decoded in $2"
}

# check_union WHAT TRUTH FILE...: every record of the truth arrived, gap-free, none twice.
check_union() {
	what=$1
	tr=$2
	shift 2
	dumps=""
	for f in "$@"; do
		dump "$what" "$f"
		dumps="$dumps $f.dump"
	done
	# shellcheck disable=SC2086
	u=$(python3 "$UNION" $dumps) || fail "$what: sequence numbers: $u"
	echo "$what: $u"
	expect_eq "$what: packets received" "$(echo "$u" | sed 's/.*packets=\([0-9]*\).*/\1/')" \
		"$(kv ip_packets "$tr")"
	expect_eq "$what: octets received" "$(echo "$u" | sed 's/.*octets=\([0-9]*\).*/\1/')" \
		"$(kv ip_octets "$tr")"
	expect_eq "$what: records received twice" \
		"$(echo "$u" | sed 's/.*duplicates=\([0-9]*\).*/\1/')" 0
}

# 1. The collector is down when labelflowd starts; it comes up a second later.
port=$(free_port tcp)
"$LF_MKPCAP" -o "$T/a.pcap" --truth "$T/a.truth" --packets 20000 --flows 2000 --seed 11 >/dev/null
bg "$LABELFLOWD" -c "$T/lf.conf" -r "$T/a.pcap" -e "tcp:127.0.0.1:$port" \
	--stats-file "$T/a.stats" --log-level warn
lf=$LF_LAST_PID
sleep 1
bg python3 "$COLLECTOR" "$port" "$T/a.ipfix"
col=$LF_LAST_PID
wait "$lf" || fail "late collector: labelflowd failed"
wait "$col" || fail "late collector: collector failed"
st=$T/a.stats
tg=target.tcp:127.0.0.1:$port
expect_eq "late collector: msgs dropped" "$(kv "$tg.msgs_dropped" "$st")" 0
expect_eq "late collector: left in the queue" "$(kv "$tg.queued" "$st")" 0
expect_eq "late collector: left unacknowledged" "$(kv "$tg.unacked" "$st")" 0
[ "$(kv "$tg.connect_failures" "$st")" -ge 1 ] || fail "late collector: no failed connect counted"
check_union "late collector" "$T/a.truth" "$T/a.ipfix"

# 2. The collector goes away after K messages and a new one takes over. It stops reading
# first, with a small receive buffer, so that the exporter has written much that was never
# acknowledged; what the old collector's kernel did acknowledge, it saves before going.
K=10
port=$(free_port tcp)
tg=target.tcp:127.0.0.1:$port
"$LF_MKPCAP" -o "$T/b.pcap" --truth "$T/b.truth" --packets 200000 --flows 20000 --seed 12 \
	>/dev/null
bg python3 "$COLLECTOR" "$port" "$T/b1.ipfix" --drop-after "$K" --hold 1 --rcvbuf 16384
col=$LF_LAST_PID
wait_for 10 test -e "$T/b1.ipfix.ready" || fail "restart: first collector did not start"
bg "$LABELFLOWD" -c "$T/lf.conf" -r "$T/b.pcap" -e "tcp:127.0.0.1:$port" \
	--stats-file "$T/b.stats" --log-level warn
lf=$LF_LAST_PID
wait "$col" || fail "restart: first collector failed"
[ "$(cat "$T/b1.ipfix.count")" -ge "$K" ] || fail "restart: first collector saved too little"
bg python3 "$COLLECTOR" "$port" "$T/b2.ipfix"
col=$LF_LAST_PID
wait "$lf" || fail "restart: labelflowd failed"
wait "$col" || fail "restart: second collector failed"
st=$T/b.stats
expect_eq "restart: msgs dropped" "$(kv "$tg.msgs_dropped" "$st")" 0
expect_eq "restart: left in the queue" "$(kv "$tg.queued" "$st")" 0
expect_eq "restart: left unacknowledged" "$(kv "$tg.unacked" "$st")" 0
expect_eq "restart: connections" "$(kv "$tg.connects" "$st")" 2
resent=$(kv "$tg.msgs_retransmitted" "$st")
[ "$resent" -ge 1 ] || fail "restart: nothing was in flight, the test proves nothing"
[ -s "$T/b2.ipfix" ] || fail "restart: second collector received nothing"
check_union "restart" "$T/b.truth" "$T/b1.ipfix" "$T/b2.ipfix"
echo "ok: restart: first collector saved $(cat "$T/b1.ipfix.count") messages; $resent resent"
