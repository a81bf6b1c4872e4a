#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# libfixbuf's ipfixDump with the collector kit's registry XML: an export without RFC 5610
# records is decoded with names and types from the generated XML exactly as ipfixDump
# decodes an export that carries RFC 5610 records; the XML follows --pen and a changed
# registry (an extra element appears in the XML and in the decoded records).
. "$top_srcdir/tests/e2e/lib.sh"
need ipfixDump python3

pcap=$top_srcdir/tests/data/sample.pcap
inv=$top_srcdir/tests/data/sample-inventory.json
"$LABELFLOWD" --print-collector-config=xml >"$T/elements.xml"
expect_eq "records in the generated XML" "$(grep -c '<record>' "$T/elements.xml")" \
	"$(grep -c '<record>' "$LABELFLOW_DATADIR/labelflow-elements.xml")"

"$LABELFLOWD" -r "$pcap" --inventory "$inv" -e "file:$T/typed.ipfix" --log-level warn
"$LABELFLOWD" -r "$pcap" --inventory "$inv" --no-rfc5610 -e "file:$T/plain.ipfix" \
	--log-level warn
ipfixDump --rfc5610 -i "$T/typed.ipfix" >"$T/typed.dump"
ipfixDump -i "$T/plain.ipfix" >"$T/plain-bare.dump"
ipfixDump --element-file "$T/elements.xml" -i "$T/plain.ipfix" >"$T/plain.dump"
grep -q "tid: 65520" "$T/plain.dump" && fail "type records sent despite --no-rfc5610"
grep -q "sourcePodName" "$T/plain-bare.dump" && fail "names without RFC 5610 records or XML"

# Names and values from the XML alone.
for f in 'sourcePodName : (len: 20) cart-7d9f8b6c5-x2x9k' \
	'sourcePodNamespace : (len: 4) shop' \
	'sourceWorkloadName : (len: 4) cart' \
	'(32473/13)                   sourceVpcId : (len: 12) vpc-0a1b2c3d' \
	'destinationWorkloadKind : (len: 11) StatefulSet' \
	'sourcePodLabels : (len: 59) {"app":"cart","pod-template-hash":"7d9f8b6c5","tier":"web"}' \
	'tunnelSourceIPv4Address : 0.0.0.0'; do
	grep -qF "$f" "$T/plain.dump" || fail "ipfixDump with the generated XML lacks: $f"
done
echo "ok: ipfixDump names the elements from the generated XML"

# Same records, element by element, as learnt from the RFC 5610 records.
python3 - "$top_srcdir/tests/tools/ipfix-records.py" "$T/typed.dump" "$T/plain.dump" <<'EOF' ||
import runpy
import sys

records = runpy.run_path(sys.argv[1])["records"]

typed, plain = records(sys.argv[2]), records(sys.argv[3])
if len(typed) != len(plain) or not typed:
    sys.exit(f"{len(typed)} records with RFC 5610, {len(plain)} with the XML")
for i, (a, b) in enumerate(zip(typed, plain)):
    if a != b:
        sys.exit(f"record {i}: {set(a.items()) ^ set(b.items())}")
print(f"ok: {len(typed)} records decode alike from RFC 5610 records and from the XML")
EOF
	fail "RFC 5610 and XML decodings differ"

# Types too: the template listings name and type every field alike.
ipfixDump --rfc5610 -t -i "$T/typed.ipfix" | grep 'ent: 32473' | sort -u >"$T/typed.tmpl"
ipfixDump --element-file "$T/elements.xml" -t -i "$T/plain.ipfix" | grep 'ent: 32473' |
	sort -u >"$T/plain.tmpl"
[ -s "$T/typed.tmpl" ] || fail "no enterprise fields in the templates"
cmp -s "$T/typed.tmpl" "$T/plain.tmpl" ||
	{ diff "$T/typed.tmpl" "$T/plain.tmpl"; fail "template fields typed differently"; }
grep -q 'id:   202  type: ipv4 ' "$T/plain.tmpl" || fail "ipv4Address type not read"
echo "ok: field types from the XML equal those of the RFC 5610 records"

# The XML carries the configured PEN.
"$LABELFLOWD" --pen 54321 --print-collector-config=xml >"$T/pen.xml"
"$LABELFLOWD" -r "$pcap" --inventory "$inv" --pen 54321 --no-rfc5610 -e "file:$T/pen.ipfix" \
	--log-level warn
ipfixDump --element-file "$T/pen.xml" -i "$T/pen.ipfix" |
	grep -qF '(54321/3)                  sourcePodName : (len: 20) cart-7d9f8b6c5-x2x9k' ||
	fail "XML for PEN 54321 does not name the elements"
ipfixDump --element-file "$T/elements.xml" -i "$T/pen.ipfix" | grep -q sourcePodName &&
	fail "the PEN 32473 XML named PEN 54321 elements"
echo "ok: the XML follows --pen"

# Change the registry: one more element, in the registry and the IPv4 template.
mkdir "$T/reg"
python3 - "$LABELFLOW_DATADIR" "$T/reg" <<'EOF'
import sys

src, dst = sys.argv[1], sys.argv[2]
xml = open(src + "/labelflow-elements.xml").read()
record = """    <record>
      <name>sourceKitProbe</name>
      <dataType>unsigned32</dataType>
      <dataTypeSemantics>identifier</dataTypeSemantics>
      <elementId>18</elementId>
      <enterpriseId>32473</enterpriseId>
      <description><paragraph>Test element &amp; more.</paragraph></description>
    </record>
  </registry>"""
at = xml.rindex("</registry>", 0, xml.rindex("</registry>"))
open(dst + "/labelflow-elements.xml", "w").write(xml[:at] + record + xml[at + 11:])
conf = open(src + "/labelflow-templates.conf").read()
conf = conf.replace('"sourceEntityKind",', '"sourceEntityKind", "sourceKitProbe",', 1)
open(dst + "/labelflow-templates.conf", "w").write(conf)
EOF
LABELFLOW_DATADIR=$T/reg "$LABELFLOWD" --print-collector-config=xml >"$T/probe.xml"
grep -A2 '<name>sourceKitProbe</name>' "$T/probe.xml" | grep -q '<dataType>unsigned32' ||
	fail "the added element is not in the generated XML"
LABELFLOW_DATADIR=$T/reg "$LABELFLOWD" -r "$pcap" --inventory "$inv" --no-rfc5610 \
	-e "file:$T/probe.ipfix" --log-level warn
ipfixDump --element-file "$T/probe.xml" -i "$T/probe.ipfix" |
	grep -qF '(32473/18)                sourceKitProbe : 0' ||
	fail "ipfixDump did not name the added element"
echo "ok: a changed registry changes the XML"
