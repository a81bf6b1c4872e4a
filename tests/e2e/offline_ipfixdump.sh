#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# libfixbuf's ipfixDump decodes the export: label names learnt from the RFC 5610 records
# in the stream, or from the registry XML when those records are switched off; label
# values for both ends of known flows; totals equal to the capture's ground truth.
. "$top_srcdir/tests/e2e/lib.sh"
need ipfixDump python3

inv=$top_srcdir/tests/data/sample-inventory.json
"$LABELFLOWD" -r "$top_srcdir/tests/data/sample.pcap" --inventory "$inv" \
	-e "file:$T/sample.ipfix" --stats-file "$T/sample.stats" --log-level warn
ipfixDump --rfc5610 -i "$T/sample.ipfix" >"$T/sample.dump"

# Totals of the sample capture (tests/data/README.md): 203 IP packets, 20820 octets.
expect_eq "sample packets" "$(python3 "$top_srcdir/tests/tools/ipfix-records.py" sum \
	"$T/sample.dump" packetDeltaCount)" 203
expect_eq "sample octets" "$(python3 "$top_srcdir/tests/tools/ipfix-records.py" sum \
	"$T/sample.dump" octetDeltaCount)" 20820
expect_eq "every record labelled at the source" "$(kv export.labelled_src "$T/sample.stats")" \
	"$(kv export.records "$T/sample.stats")"

# The cart -> redis flow, as a collector sees it: both ends labelled.
python3 "$top_srcdir/tests/tools/flowtable.py" <"$T/sample.dump" >"$T/sample.table"
grep -q "10.244.0.12:46210 shop/cart-7d9f8b6c5-x2x9k (Deployment cart) \[us-east-1a vpc-0a1b2c3d\]  ->  10.244.0.30:6379 shop/redis-0 (StatefulSet redis) \[us-east-1a vpc-0a1b2c3d\]" \
	"$T/sample.table" || { cat "$T/sample.table"; fail "cart -> redis flow not labelled"; }
grep -q "service shop/cart" "$T/sample.table" || fail "ClusterIP not labelled as a service"
grep -q "vm billing-vm-01" "$T/sample.table" || fail "VM not labelled"
for f in 'sourcePodLabels : (len: 59) {"app":"cart","pod-template-hash":"7d9f8b6c5","tier":"web"}' \
	'destinationWorkloadKind : (len: 11) StatefulSet' \
	'(32473/13)                   sourceVpcId : (len: 12) vpc-0a1b2c3d' \
	'destinationSubnetId : (len: 24) subnet-0f1a2b3c4d5e6f701' \
	'sourceEntityKind : (len: 8) external'; do
	grep -qF "$f" "$T/sample.dump" || fail "ipfixDump output lacks: $f"
done
echo "ok: labels of both ends decoded by ipfixDump --rfc5610"

# Without RFC 5610 records, ipfixDump learns the names from the registry XML instead.
"$LABELFLOWD" -r "$top_srcdir/tests/data/sample.pcap" --inventory "$inv" --no-rfc5610 \
	-e "file:$T/plain.ipfix" --log-level warn
ipfixDump -i "$T/plain.ipfix" >"$T/plain-noxml.dump"
grep -q "sourcePodName" "$T/plain-noxml.dump" && fail "names present without RFC 5610 or XML"
ipfixDump --element-file "$LABELFLOW_DATADIR/labelflow-elements.xml" -i "$T/plain.ipfix" \
	>"$T/plain.dump"
grep -qF 'sourcePodName : (len: 20) cart-7d9f8b6c5-x2x9k' "$T/plain.dump" ||
	fail "registry XML did not name the elements"
grep -q "tid: 65520" "$T/plain.dump" && fail "type records sent despite --no-rfc5610"
echo "ok: ipfixDump --element-file names the elements"

# A configured PEN re-homes every label element.
"$LABELFLOWD" -r "$top_srcdir/tests/data/sample.pcap" --inventory "$inv" --pen 54321 \
	-e "file:$T/pen.ipfix" --log-level warn
ipfixDump --rfc5610 -i "$T/pen.ipfix" | grep -qF '(54321/3)                  sourcePodName' ||
	fail "PEN 54321 not used"
echo "ok: --pen 54321"

# A larger mixed capture: exact totals through the collector.
"$LF_MKPCAP" -o "$T/mix.pcap" --truth "$T/mix.truth" --packets 100000 --flows 10000 --mix \
	--seed 11 >/dev/null
"$LABELFLOWD" -r "$T/mix.pcap" -e "file:$T/mix.ipfix" --log-level warn
expect_eq "mixed capture packets" "$(ipfix_sum "$T/mix.ipfix" packetDeltaCount)" \
	"$(kv ip_packets "$T/mix.truth")"
expect_eq "mixed capture octets" "$(ipfix_sum "$T/mix.ipfix" octetDeltaCount)" \
	"$(kv ip_octets "$T/mix.truth")"
