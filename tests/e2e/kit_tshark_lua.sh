#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tshark with the collector kit's Lua plugin: the sample capture's IPFIX, as UDP datagrams to
# port 4739 in a pcap, shows every label element as a named field labelflow.<elementName>
# with the values ipfixDump decodes from the same export; display filters on label fields
# select exactly the records that carry the value; the PEN follows --pen and the plugin's
# preference; truncated and malformed messages give expert infos, never Lua errors.
. "$top_srcdir/tests/e2e/lib.sh"
need tshark ipfixDump python3

# pcap.py wrap IPFIX PCAP: every IPFIX message of the file as one UDP datagram.
# pcap.py craft PCAP: hand-made messages (escaped JSON, long strings, truncations).
cat >"$T/pcap.py" <<'EOF'
import struct
import sys


def messages(path):
    data, off = open(path, "rb").read(), 0
    while off + 4 <= len(data):
        n = struct.unpack("!H", data[off + 2:off + 4])[0]
        yield data[off:off + n]
        off += n


def write_pcap(path, payloads):
    def csum(b):
        b += b"\0" * (len(b) % 2)
        s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
        s = (s >> 16) + (s & 0xFFFF)
        return ~(s + (s >> 16)) & 0xFFFF

    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i, m in enumerate(payloads):
            udp = struct.pack("!HHHH", 40000, 4739, 8 + len(m), 0) + m
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                             b"\x7f\0\0\x01", b"\x7f\0\0\x01")
            ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
            frame = b"\0" * 12 + b"\x08\x00" + ip + udp
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(frame), len(frame)) + frame)


def craft(pen):
    def msg(sets):
        body = b"".join(struct.pack("!HH", sid, 4 + len(d)) + d for sid, d in sets)
        return struct.pack("!HHIII", 10, 16 + len(body), 1700000000, 0, 7) + body

    def varlen(b):
        return (bytes([len(b)]) if len(b) < 255 else b"\xff" + struct.pack("!H", len(b))) + b

    # sourcePodName, sourcePodLabels (variable length), tunnelSourceIPv4Address.
    fields = [(3, 65535), (10, 65535), (202, 4)]
    tmpl = struct.pack("!HH", 300, len(fields)) + b"".join(
        struct.pack("!HHI", 0x8000 | i, n, pen) for i, n in fields)
    labels = '{"a\\"b" : "x\\u00e9\\ud83d\\ude00", "n":5, "long":"' + "y" * 300 + '"}'
    rec = varlen(b"web-1") + varlen(labels.encode()) + bytes([10, 0, 0, 9])
    cut = msg([(300, rec)])[:-6]
    cut = cut[:2] + struct.pack("!H", len(cut)) + cut[4:]
    return [
        msg([(2, tmpl), (300, rec)]),     # 1: one good record
        msg([(300, rec[:-2])]),           # 2: the record misses 2 octets
        cut,                              # 3: the set runs past the message
        msg([(300, b"\x20short")]),       # 4: a string longer than its set
        msg([(2, tmpl[:-3])]),            # 5: a template cut in its last field
        msg([(300, rec)]),                # 6: still a good record
    ]


if sys.argv[1] == "wrap":
    write_pcap(sys.argv[3], list(messages(sys.argv[2])))
else:
    write_pcap(sys.argv[2], craft(int(sys.argv[3])))
EOF

inv=$top_srcdir/tests/data/sample-inventory.json
"$LABELFLOWD" --print-collector-config=wireshark >"$T/labelflow.lua"
"$LABELFLOWD" -r "$top_srcdir/tests/data/sample.pcap" --inventory "$inv" \
	-e "file:$T/sample.ipfix" --stats-file "$T/stats" --log-level warn
ipfixDump --rfc5610 -i "$T/sample.ipfix" >"$T/sample.dump"
python3 "$T/pcap.py" wrap "$T/sample.ipfix" "$T/sample.pcap"

# lua PCAP [tshark options]: tshark with the plugin; a Lua error anywhere fails the test.
lua() {
	lua_pcap=$1
	shift
	tshark -n -r "$lua_pcap" -X "lua_script:$T/labelflow.lua" "$@" 2>"$T/tshark.err" \
		>"$T/tshark.out" || { cat "$T/tshark.err"; fail "tshark failed: $*"; }
	if grep -q "Lua" "$T/tshark.err" "$T/tshark.out"; then
		grep "Lua" "$T/tshark.err" "$T/tshark.out" | head -5
		fail "Lua error with: $*"
	fi
	cat "$T/tshark.out"
}

# Every registry element is a field of the plugin, with its name.
tshark -G fields -X "lua_script:$T/labelflow.lua" 2>/dev/null |
	awk -F'\t' '$1 == "F" && $5 == "labelflow" { print $3 }' | sort >"$T/fields"
sed -n 's|.*<name>\(.*\)</name>.*|labelflow.\1|p' "$LABELFLOW_DATADIR/labelflow-elements.xml" |
	sort >"$T/names"
[ -s "$T/names" ] || fail "no element names in the registry"
missing=$(comm -23 "$T/names" "$T/fields")
[ -z "$missing" ] || fail "plugin lacks fields: $missing"
expect_eq "sourcePodName field type" "$(tshark -G fields -X "lua_script:$T/labelflow.lua" \
	2>/dev/null | awk -F'\t' '$3 == "labelflow.sourcePodName" { print $4 }')" FT_STRING
expect_eq "tunnelSourceIPv4Address field type" "$(tshark -G fields \
	-X "lua_script:$T/labelflow.lua" 2>/dev/null |
	awk -F'\t' '$3 == "labelflow.tunnelSourceIPv4Address" { print $4 }')" FT_IPv4

# Named fields in the packet details.
lua "$T/sample.pcap" -V >"$T/details"
for f in 'sourcePodName: cart-7d9f8b6c5-x2x9k' 'sourcePodNamespace: shop' \
	'sourceWorkloadName: cart' 'destinationWorkloadKind: StatefulSet' \
	'sourceVpcId: vpc-0a1b2c3d' 'destinationSubnetId: subnet-0f1a2b3c4d5e6f701' \
	'sourcePodLabels: {"app":"cart","pod-template-hash":"7d9f8b6c5","tier":"web"}' \
	'sourcePodLabels label: app=cart' 'destinationPodLabels label: app=redis' \
	'sourceEntityKind: external' 'tunnelSourceIPv4Address: 0.0.0.0'; do
	grep -qF "$f" "$T/details" || fail "tshark details lack: $f"
done
echo "ok: tshark shows the label elements by name"

# Every record, every label element: the values ipfixDump decodes, in the same order.
set --
while read -r name; do
	set -- "$@" -e "$name"
done <"$T/names"
lua "$T/sample.pcap" -T fields -E occurrence=a -E aggregator='|' "$@" >"$T/fields.tsv"
python3 - "$top_srcdir/tests/tools/ipfix-records.py" "$T/sample.dump" "$T/fields.tsv" \
	"$T/names" <<'EOF' ||
import ipaddress
import runpy
import sys

records = runpy.run_path(sys.argv[1])["records"]


def canon(v):
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return v


names = [n[len("labelflow."):] for n in open(sys.argv[4]).read().split()]
want = [[canon(r.get(n, "")) for n in names] for r in records(sys.argv[2])]
if any("|" in v for rec in want for v in rec):
    sys.exit("a value contains the aggregator '|'")
got = []
for line in open(sys.argv[3]):
    cols = line.rstrip("\n").split("\t")
    if not any(cols):
        continue
    per = [c.split("|") for c in cols]
    if len({len(p) for p in per}) != 1:
        sys.exit(f"fields with different record counts in one packet: {line!r}")
    got += [[canon(p[i]) for p in per] for i in range(len(per[0]))]
if len(got) != len(want):
    sys.exit(f"{len(got)} records in tshark, {len(want)} in ipfixDump")
for i, (g, w) in enumerate(zip(got, want)):
    if g != w:
        diff = {n: (a, b) for n, a, b in zip(names, g, w) if a != b}
        sys.exit(f"record {i}: tshark vs ipfixDump {diff}")
print(f"ok: {len(got)} records x {len(names)} label elements equal to ipfixDump")
EOF
	fail "tshark's values differ from ipfixDump's"
expect_eq "records shown" "$(lua "$T/sample.pcap" -T fields -e labelflow.template |
	tr ',' '\n' | grep -c .)" "$(kv export.records "$T/stats")"

# filtered FILTER FIELD VALUE: occurrences of VALUE in FIELD over the packets FILTER selects;
# also checks that FILTER selects exactly the packets where FIELD has VALUE.
filtered() {
	lua "$T/sample.pcap" -T fields -e frame.number -e "$2" -E aggregator='|' |
		awk -F'\t' -v v="$3" '{ n = split($2, a, "|"); for (i = 1; i <= n; i++)
			if (a[i] == v) { print $1; break } }' >"$T/want.frames"
	lua "$T/sample.pcap" -Y "$1" -T fields -e frame.number >"$T/got.frames"
	cmp -s "$T/want.frames" "$T/got.frames" ||
		fail "filter '$1' selects frames $(tr '\n' ' ' <"$T/got.frames"), want $(tr '\n' ' ' <"$T/want.frames")"
	lua "$T/sample.pcap" -Y "$1" -T fields -e "$2" -E aggregator='|' | tr '|' '\n' |
		grep -cxF "$3"
}
expect_eq "records with sourcePodName == cart-7d9f8b6c5-x2x9k" \
	"$(filtered 'labelflow.sourcePodName == "cart-7d9f8b6c5-x2x9k"' labelflow.sourcePodName \
		cart-7d9f8b6c5-x2x9k)" \
	"$(python3 "$top_srcdir/tests/tools/ipfix-records.py" count "$T/sample.dump" \
		sourcePodName=cart-7d9f8b6c5-x2x9k)"
expect_eq "records with destinationWorkloadName == redis" \
	"$(filtered 'labelflow.destinationWorkloadName == "redis"' labelflow.destinationWorkloadName \
		redis)" \
	"$(python3 "$top_srcdir/tests/tools/ipfix-records.py" count "$T/sample.dump" \
		destinationWorkloadName=redis)"
# label_count KEY VALUE [SIDE...]: records whose labels (JSON) of SIDE map KEY to VALUE.
label_count() {
	python3 - "$top_srcdir/tests/tools/ipfix-records.py" "$T/sample.dump" "$@" <<'EOF'
import json
import runpy
import sys

records = runpy.run_path(sys.argv[1])["records"]

key, value, sides = sys.argv[3], sys.argv[4], sys.argv[5:]
print(sum(json.loads(r.get(s + "PodLabels") or "{}").get(key) == value
          for r in records(sys.argv[2]) for s in sides))
EOF
}
want=$(label_count app redis source)
[ "$want" -gt 0 ] || fail "no record with a source label app=redis in the sample"
expect_eq "sourcePodLabels.label == app=redis" \
	"$(filtered 'labelflow.sourcePodLabels.label == "app=redis"' \
		labelflow.sourcePodLabels.label app=redis)" "$want"
expect_eq "label.app == redis (either end)" \
	"$(filtered 'labelflow.label.app == "redis"' labelflow.label.app redis)" \
	"$(label_count app redis source destination)"
export LABELFLOW_LABEL_KEYS=role
expect_eq "LABELFLOW_LABEL_KEYS=role: label.role == primary" \
	"$(filtered 'labelflow.label.role == "primary"' labelflow.label.role primary)" \
	"$(label_count role primary source destination)"
unset LABELFLOW_LABEL_KEYS
echo "ok: display filters select exactly the labelled records"

# The PEN comes from the registry (--pen) and from the plugin's preference.
"$LABELFLOWD" -r "$top_srcdir/tests/data/sample.pcap" --inventory "$inv" --pen 54321 \
	-e "file:$T/pen.ipfix" --log-level warn
python3 "$T/pcap.py" wrap "$T/pen.ipfix" "$T/pen.pcap"
expect_eq "PEN 54321 with the 32473 plugin" \
	"$(lua "$T/pen.pcap" -Y 'labelflow.sourcePodName' | wc -l)" 0
n_pen=$(lua "$T/pen.pcap" -o labelflow.pen:54321 -Y 'labelflow.sourcePodName' | wc -l)
[ "$n_pen" -gt 0 ] || fail "labelflow.pen preference not used"
cp "$T/labelflow.lua" "$T/labelflow-32473.lua"
"$LABELFLOWD" --pen 54321 --print-collector-config=wireshark >"$T/labelflow.lua"
grep -qx 'local PEN = 54321' "$T/labelflow.lua" || fail "plugin not generated for PEN 54321"
expect_eq "PEN 54321 plugin" "$(lua "$T/pen.pcap" -Y 'labelflow.sourcePodName' | wc -l)" \
	"$n_pen"
cp "$T/labelflow-32473.lua" "$T/labelflow.lua"

# Hostile input: every truncation is an expert info; good records around them decode.
python3 "$T/pcap.py" craft "$T/crafted.pcap" 32473
lua "$T/crafted.pcap" -T fields -e frame.number -e labelflow.sourcePodName \
	-e labelflow.tunnelSourceIPv4Address -e labelflow.sourcePodLabels.label \
	-e _ws.expert.message -E aggregator='|' >"$T/crafted.tsv"
printf '1\tweb-1\t10.0.0.9\ta"b=x\303\251\360\237\230\200|n=5|long=%s\n' \
	"$(python3 -c 'print("y" * 300)')" >"$T/crafted.want"
head -1 "$T/crafted.tsv" | cut -f1-4 | cmp -s - "$T/crafted.want" ||
	{ head -1 "$T/crafted.tsv" | cut -c1-120; fail "crafted record 1 not decoded"; }
for frame in 2 3 4 5; do
	awk -F'\t' -v f="$frame" '$1 == f' "$T/crafted.tsv" | cut -f2 | grep -q . &&
		fail "frame $frame: a truncated record was shown"
	awk -F'\t' -v f="$frame" '$1 == f' "$T/crafted.tsv" | grep -q "at offset 16" ||
		fail "frame $frame: no labelflow expert info"
done
awk -F'\t' '$1 == 6' "$T/crafted.tsv" | cut -f2 | grep -qx web-1 ||
	fail "frame 6: the record after the bad messages was not decoded"
echo "ok: truncated messages are flagged, never shown half"
