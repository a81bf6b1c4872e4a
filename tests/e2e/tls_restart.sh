#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# IPFIX over TLS: labelflowd verifies the collector's certificate against the configured CA
# (and its address), presents its client certificate, and survives a collector restart:
# what the peer did not acknowledge is resent on the new connection, after the templates,
# so the records received over both connections, each counted once, sum to the truth. A
# collector certified by another CA gets no data, and the failure is logged once.
. "$top_srcdir/tests/e2e/lib.sh"
need python3 ipfixDump openssl

COLLECTOR="$top_srcdir/tests/fakes/ipfix_stream_collector.py"
UNION="$top_srcdir/tests/tools/ipfix-stream-union.py"

# A test CA; the collector's certificate for 127.0.0.1; labelflowd's client certificate.
EC="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
(
	cd "$T"
	# shellcheck disable=SC2086
	openssl req -x509 $EC -keyout ca.key -out ca.pem -days 2 -subj "/CN=lf e2e CA" &&
		openssl req -x509 $EC -keyout other.key -out other.pem -days 2 -subj "/CN=lf other CA" &&
		openssl req $EC -keyout col.key -out col.csr -subj "/CN=lf e2e collector" &&
		echo "subjectAltName=IP:127.0.0.1" >col.ext &&
		openssl x509 -req -in col.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 \
			-extfile col.ext -out col.pem &&
		openssl req $EC -keyout lf.key -out lf.csr -subj "/CN=labelflowd-e2e" &&
		echo "extendedKeyUsage=clientAuth" >lf.ext &&
		openssl x509 -req -in lf.csr -CA ca.pem -CAkey ca.key -set_serial 3 -days 2 \
			-extfile lf.ext -out lf.pem
) >"$T/openssl.log" 2>&1 || fail "cannot make the test certificates: $(cat "$T/openssl.log")"

# conf CA FILE: a configuration trusting CA, with the client certificate.
conf() {
	cat >"$2" <<CONF
export: {
	reconnect_min_ms = 100;
	reconnect_max_ms = 500;
	tls_ca_file = "$T/$1";
	tls_cert_file = "$T/lf.pem";
	tls_key_file = "$T/lf.key";
};
daemon: { shutdown_linger_ms = $3; };
CONF
}

# 1. The collector (client certificates required) goes away after K messages, having
# stopped reading first so that much is written but unacknowledged; a new one takes over.
K=10
port=$(free_port tcp)
tg=target.tls:127.0.0.1:$port
conf ca.pem "$T/ok.conf" 10000
"$LF_MKPCAP" -o "$T/b.pcap" --truth "$T/b.truth" --packets 200000 --flows 20000 --seed 21 \
	>/dev/null
tls="--tls $T/col.pem $T/col.key --client-ca $T/ca.pem"
# shellcheck disable=SC2086
bg python3 "$COLLECTOR" "$port" "$T/b1.ipfix" --drop-after "$K" --hold 1 --rcvbuf 16384 $tls
col=$LF_LAST_PID
wait_for 10 test -e "$T/b1.ipfix.ready" || fail "restart: first collector did not start"
bg "$LABELFLOWD" -c "$T/ok.conf" -r "$T/b.pcap" -e "tls:127.0.0.1:$port" \
	--stats-file "$T/b.stats" --log-level warn
lf=$LF_LAST_PID
wait "$col" || fail "restart: first collector failed"
[ "$(cat "$T/b1.ipfix.count")" -ge "$K" ] || fail "restart: first collector saved too little"
# shellcheck disable=SC2086
bg python3 "$COLLECTOR" "$port" "$T/b2.ipfix" $tls
col=$LF_LAST_PID
wait "$lf" || fail "restart: labelflowd failed"
wait "$col" || fail "restart: second collector failed"
grep -q "labelflowd-e2e" "$T/b1.ipfix.peer" || fail "restart: no client certificate presented"
st=$T/b.stats
expect_eq "restart: msgs dropped" "$(kv "$tg.msgs_dropped" "$st")" 0
expect_eq "restart: left in the queue" "$(kv "$tg.queued" "$st")" 0
expect_eq "restart: left unacknowledged" "$(kv "$tg.unacked" "$st")" 0
expect_eq "restart: connections" "$(kv "$tg.connects" "$st")" 2
resent=$(kv "$tg.msgs_retransmitted" "$st")
[ "$resent" -ge 1 ] || fail "restart: nothing was in flight, the test proves nothing"
for f in b1 b2; do
	ipfixDump --rfc5610 -i "$T/$f.ipfix" >"$T/$f.dump" 2>"$T/$f.dumperr" ||
		fail "restart: ipfixDump $f"
	! grep -qi "missing external template" "$T/$f.dump" "$T/$f.dumperr" ||
		fail "restart: $f: data before templates"
	grep -q "sourcePodName\|destinationPodName\|podName" "$T/$f.dump" ||
		fail "restart: $f: label elements not decoded"
done
u=$(python3 "$UNION" "$T/b1.dump" "$T/b2.dump") || fail "restart: sequence numbers: $u"
echo "restart: $u"
expect_eq "restart: packets received" "$(echo "$u" | sed 's/.*packets=\([0-9]*\).*/\1/')" \
	"$(kv ip_packets "$T/b.truth")"
expect_eq "restart: octets received" "$(echo "$u" | sed 's/.*octets=\([0-9]*\).*/\1/')" \
	"$(kv ip_octets "$T/b.truth")"
expect_eq "restart: records received twice" \
	"$(echo "$u" | sed 's/.*duplicates=\([0-9]*\).*/\1/')" 0
echo "ok: restart: first collector saved $(cat "$T/b1.ipfix.count") messages; $resent resent"

# 2. A collector whose certificate another CA issued: no handshake completes, nothing is
# sent, every attempt is counted and the reason logged once.
port=$(free_port tcp)
tg=target.tls:127.0.0.1:$port
conf other.pem "$T/other.conf" 1500
"$LF_MKPCAP" -o "$T/c.pcap" --truth "$T/c.truth" --packets 2000 --flows 200 --seed 22 >/dev/null
bg python3 "$COLLECTOR" "$port" "$T/c.ipfix" --tls "$T/col.pem" "$T/col.key"
wait_for 10 test -e "$T/c.ipfix.ready" || fail "wrong CA: collector did not start"
"$LABELFLOWD" -c "$T/other.conf" -r "$T/c.pcap" -e "tls:127.0.0.1:$port" \
	--stats-file "$T/c.stats" --log-level warn 2>"$T/c.log" || fail "wrong CA: labelflowd failed"
st=$T/c.stats
expect_eq "wrong CA: connections" "$(kv "$tg.connects" "$st")" 0
expect_eq "wrong CA: messages sent" "$(kv "$tg.msgs_sent" "$st")" 0
[ "$(kv "$tg.connect_failures" "$st")" -ge 2 ] || fail "wrong CA: failed handshakes not counted"
[ ! -s "$T/c.ipfix" ] || fail "wrong CA: the collector received data"
expect_eq "wrong CA: failures logged" \
	"$(grep -c "'tls:127.0.0.1:$port': cannot connect (TLS handshake: certificate verify failed" \
		"$T/c.log")" 1
