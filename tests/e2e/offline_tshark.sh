#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Wireshark's dissector: the UDP export, captured on loopback, decodes as IPFIX; the
# templates carry the enterprise elements under PEN 32473 (and the RFC 5610 records name
# them); the packet counts of the decoded data records add up to the capture's truth.
. "$top_srcdir/tests/e2e/lib.sh"
need_root
need tshark

port=$(free_port udp)
bg tshark -q -n -i lo -f "udp and port $port" -w "$T/export.pcapng" 2>"$T/tshark.err"
tpid=$LF_LAST_PID
wait_for 20 grep -q "Capturing on" "$T/tshark.err" || fail "tshark did not start"
sleep 0.5 # the capture socket's filter is attached around the time of that message
"$LABELFLOWD" -r "$top_srcdir/tests/data/sample.pcap" \
	--inventory "$top_srcdir/tests/data/sample-inventory.json" \
	-e "udp:127.0.0.1:$port" --stats-file "$T/stats" --log-level error
sent=$(kv "target.udp:127.0.0.1:$port.msgs_sent" "$T/stats")
# Stop only once every datagram sent is in the capture file (it is written in batches).
captured() {
	[ "$(tshark -n -r "$T/export.pcapng" 2>/dev/null | wc -l)" -ge "$sent" ]
}
wait_for 20 captured || fail "tshark captured fewer than the $sent datagrams sent"
kill -INT "$tpid"
wait "$tpid" || true

dissect() {
	tshark -n -r "$T/export.pcapng" -d "udp.port==$port,cflow" "$@"
}
expect_eq "IPFIX version" "$(dissect -T fields -e cflow.version | sort -u | tr -d '\n')" 10
dissect -T fields -e cflow.template_ipfix_field_pen | tr ',' '\n' | sort -u >"$T/pens"
grep -qx 32473 "$T/pens" || { cat "$T/pens"; fail "no template field with PEN 32473"; }
# Both templates carry every element of the registry.
n_elements=$(grep -c '<record>' "$top_srcdir/templates/labelflow-elements.xml")
expect_eq "enterprise fields in templates 256 and 257" \
	"$(dissect -T fields -e cflow.template_ipfix_field_pen | tr ',' '\n' | grep -c '^32473$')" \
	$((2 * n_elements))
dissect -T fields -e cflow.information_element_name | tr ',' '\n' | sort -u >"$T/names"
for n in sourcePodName destinationPodNamespace destinationWorkloadName sourceVpcId; do
	grep -qx "$n" "$T/names" || fail "RFC 5610 record for $n not decoded"
done
echo "ok: tshark decodes the RFC 5610 element names"
expect_eq "packets in decoded records" \
	"$(dissect -T fields -e cflow.packets | tr ',' '\n' | awk '{ s += $1 } END { print s }')" 203
expect_eq "octets in decoded records" \
	"$(dissect -T fields -e cflow.octets | tr ',' '\n' | awk '{ s += $1 } END { print s }')" 20820
