#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# IPFIX over UDP to a collector that starts late. labelflowd captures live UDP flows on a
# veth and exports them to a port nobody listens on yet; the collector comes up seconds
# later. Twice: once with template refresh by time (template_refresh_ms), once by message
# count (template_refresh_msgs). Each time the collector must receive the templates within
# the refresh interval, and from that message on every data record labelflowd sent, with
# no gap in sequence numbers up to the final flush; every flow that began after the
# templates arrived counts exactly the datagrams its sender sent.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/live_lib.sh"

need_root
need ip python3 ipfixDump

COLLECTOR=$top_srcdir/tests/fakes/ipfix_udp_collector.py
TRAFFIC=$top_srcdir/tests/tools/udp-traffic.py
RECORDS=$top_srcdir/tests/tools/ipfix-records.py
MSGS=$top_srcdir/tests/tools/ipfix-msgs.py

NA=lf-udplate-a-$$
NB=lf-udplate-b-$$
A4=10.97.0.1
B4=10.97.0.2
FLOW_PKTS=10      # datagrams per flow, 20 ms apart: each flow lasts 0.2 s
N_FLOWS=36        # one flow after another, from source ports 43000, 43001, ...
LATE_S=3          # the collector starts this long after labelflowd
DGRAM_OCTETS=92   # 64 bytes of payload + UDP + IPv4 headers

ns_add "$NA"
ns_add "$NB"
ip -n "$NA" link add vA type veth peer name vB netns "$NB" || fail "cannot create veth pair"
ip -n "$NA" addr add "$A4/24" dev vA
ip -n "$NB" addr add "$B4/24" dev vB
ip -n "$NA" link set vA up
ip -n "$NB" link set vB up

# A sink on A, so the datagrams cause no ICMP errors.
bg ip netns exec "$NA" python3 "$TRAFFIC" sink "$A4" 5000 "$T/sink.ready"
wait_for 10 test -e "$T/sink.ready" || fail "UDP sink did not start"

# The type records (RFC 5610) of one template send: labelflowd writes them once to a file.
"$LF_MKPCAP" -o "$T/one.pcap" --packets 1 --flows 1 --seed 1 >/dev/null ||
	fail "cannot generate a capture"
"$LABELFLOWD" -r "$T/one.pcap" -e "file:$T/one.ipfix" --log-level warn ||
	fail "labelflowd -r one.pcap failed"
TYPE_RECORDS=$(python3 "$MSGS" "$T/one.ipfix" | jget 'j["records_by_tid"]["65520"]')
[ "${TYPE_RECORDS:-0}" -gt 0 ] || fail "labelflowd sent no RFC 5610 type records"

# run TAG WHAT EXPORT-CONF: one run with the collector LATE_MS late; sets FIRST (the index of
# the first message with templates among those received) and DELAY (ms from the collector's
# start to that message).
run() {
	tag=$1
	port=$(free_port udp)
	cat >"$T/$tag.conf" <<CONF
flow: { idle_timeout_ms = 300; active_timeout_ms = 1000; };
export: { udp_max_msg_bytes = 1400; $3 };
CONF
	lfd_start "$tag" "$NB" -c "$T/$tag.conf" -i vB -e "udp:127.0.0.1:$port"
	wait_attached "$tag" vB
	# The sender: one flow after another; "SPORT FIRST_MS LAST_MS" per flow.
	(
		i=0
		while [ $i -lt $N_FLOWS ]; do
			sp=$((43000 + i))
			ft=$(ip netns exec "$NB" python3 "$TRAFFIC" send "$A4" 5000 --sport $sp \
				--count $FLOW_PKTS --interval-ms 20) || exit 1
			echo "$sp $ft"
			i=$((i + 1))
		done
	) >"$T/$tag.sent" &
	sender=$!
	sleep "$LATE_S"
	lfd_alive "$tag" "$LFD_PID"
	bg ip netns exec "$NB" python3 "$COLLECTOR" "$port" "$T/$tag.ipfix"
	col=$LF_LAST_PID
	wait_for 10 test -e "$T/$tag.ipfix.ready" || fail "$tag: collector did not start"
	ready=$(now_ms)
	wait "$sender" || fail "$tag: the sender failed"
	lfd_stop "$tag" "$LFD_PID"
	# The exit flush went out on loopback before labelflowd exited; let the collector
	# store it.
	sleep 0.5
	kill "$col" 2>/dev/null || true
	[ ! -e "$T/$tag.ipfix.rejected" ] || fail "$tag: the collector rejected datagrams"
	[ -s "$T/$tag.ipfix" ] || fail "$tag: the collector received nothing"
	st=$T/$tag.stats
	tg=target.udp:127.0.0.1:$port
	[ "$(kv "$tg.send_errors" "$st")" -gt 0 ] ||
		fail "$tag: no send error was counted while the collector was down"

	m=$(python3 "$MSGS" "$T/$tag.ipfix" "$T/$tag.ipfix.arrivals") ||
		fail "$tag: cannot parse what the collector received"
	echo "$tag: $m"
	FIRST=$(echo "$m" | jget 'j["first_template"]')
	[ "$FIRST" != None ] || fail "$tag: no template ever reached the collector"
	DELAY=$(($(echo "$m" | jget 'j["first_template_ms"]') - ready))
	# From the first template on, every data set decodes and no record is missing: the
	# sequence numbers run without a gap up to the last message, which ends at every data
	# record labelflowd sent (flow records plus the type records of each template send).
	expect_eq "$tag: data sets without their template after the first template" \
		"$(echo "$m" | jget 'j["unknown_after"]')" 0
	expect_eq "$tag: sequence gaps after the first template" "$(echo "$m" | jget 'j["gaps"]')" 0
	expect_eq "$tag: data records up to the last message" \
		"$(echo "$m" | jget 'j["end_sequence"]')" \
		$(($(kv "$tg.template_sends" "$st") * TYPE_RECORDS + $(kv export.records "$st")))

	# What a real collector makes of it: ipfixDump from the first template message on.
	# Every flow that began after the templates arrived counts exactly what was sent.
	skip_bytes=$(head -n "$FIRST" "$T/$tag.ipfix.arrivals" | awk '{ n += $3 } END { print n + 0 }')
	tail -n +"$((FIRST + 1))" "$T/$tag.ipfix.arrivals" >"$T/$tag.tail.arrivals"
	tail -c +"$((skip_bytes + 1))" "$T/$tag.ipfix" >"$T/$tag.tail.ipfix"
	ipfixDump --rfc5610 -i "$T/$tag.tail.ipfix" >"$T/$tag.dump" 2>"$T/$tag.dump.err" ||
		fail "$tag: ipfixDump: $(cat "$T/$tag.dump.err")"
	! grep -q "out of sequence" "$T/$tag.dump.err" ||
		fail "$tag: libfixbuf saw sequence numbers out of order: $(grep -m1 "out of sequence" \
			"$T/$tag.dump.err")"
	python3 "$RECORDS" decode "$T/$tag.dump" "$T/$tag.tail.arrivals" >"$T/$tag.jsonl" ||
		fail "$tag: cannot decode the ipfixDump output"
	tmpl_ms=$(echo "$m" | jget 'j["first_template_ms"]')
	late=0
	while read -r sp first_ms _; do
		[ "$first_ms" -gt "$tmpl_ms" ] || continue
		late=$((late + 1))
		expect_eq "$tag: flow from port $sp: packets" "$(python3 "$RECORDS" check \
			"$T/$tag.jsonl" --where sourceTransportPort=$sp --sum packetDeltaCount)" $FLOW_PKTS
		expect_eq "$tag: flow from port $sp: octets" "$(python3 "$RECORDS" check \
			"$T/$tag.jsonl" --where sourceTransportPort=$sp --sum octetDeltaCount)" \
			$((FLOW_PKTS * DGRAM_OCTETS))
	done <"$T/$tag.sent"
	[ $late -ge 5 ] || fail "$tag: only $late flows began after the templates arrived"
	echo "ok: $tag: templates $DELAY ms after the collector started (message $FIRST)," \
		"then every record; $late later flows exact"
}

# 1. Refresh by time, once a second (the count is out of reach).
run time "by time" "template_refresh_ms = 1000; template_refresh_msgs = 100000;"
# A tick (labelflowd's export clock) is 100 ms; the first send after the interval carries
# the templates, and messages go out at least every active timeout (1000 ms).
[ "$DELAY" -le 1600 ] ||
	fail "time: templates reached the collector $DELAY ms after it started (refresh 1000 ms)"

# 2. Refresh every 5 messages (the time is out of reach).
run count "by count" "template_refresh_ms = 3600000; template_refresh_msgs = 5;"
[ "$FIRST" -le 5 ] ||
	fail "count: $FIRST messages reached the collector before the templates (refresh 5)"
