#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Overlay decoding offline: captures of VXLAN (ports 4789 and 8472), Geneve, IPIP, GRE and
# NVGRE written by lf-mkpcap --tunnel, and a hand-made one with 802.1Q and QinQ tags, read
# with labelflowd -r. Totals must equal the generator's truth; the flow table (inner keys,
# outermost VLAN, tunnel type and VNI/key, packets and octets per flow, outer endpoints)
# must equal the one tshark decodes from the same file, flow by flow.
. "$top_srcdir/tests/e2e/lib.sh"

need ipfixDump python3 tshark
"$LF_MKPCAP" --help | grep -q -- '--tunnel' || fail "lf-mkpcap has no --tunnel option"

VNI=5001
FLOWS="python3 $top_srcdir/tests/e2e/pcap_flows.py"

# run TAG PCAP: labelflowd reads PCAP; its records are decoded to $T/TAG.dump.
run() {
	"$LABELFLOWD" -r "$2" -e "file:$T/$1.ipfix" --stats-file "$T/$1.stats" --log-level warn
	ipfixDump --rfc5610 -i "$T/$1.ipfix" >"$T/$1.dump"
}

# same_flows TAG PCAP [TSHARK-ARGS...]: labelflowd's flow table equals tshark's.
same_flows() {
	tag=$1
	pcap=$2
	shift 2
	$FLOWS pcap "$pcap" "$@" >"$T/$tag.want" || fail "$tag: tshark could not decode $pcap"
	$FLOWS records "$T/$tag.dump" >"$T/$tag.got"
	[ -s "$T/$tag.want" ] || fail "$tag: tshark found no flows"
	diff -u "$T/$tag.want" "$T/$tag.got" >"$T/$tag.diff" ||
		fail "$tag: flows differ (- tshark, + labelflowd): $(head -n 40 "$T/$tag.diff")"
	echo "ok: $tag: $(wc -l <"$T/$tag.want") flows equal to tshark's, key by key"
}

# values TAG FIELD: the distinct values of FIELD over TAG's flow records.
values() {
	python3 "$top_srcdir/tests/tools/ipfix-records.py" values "$T/$1.dump" "$2"
}

# ---------------------------------------------------------------------------- lf-mkpcap

# tunnel KIND TYPE [OPTIONS...] [-- TSHARK-ARGS...]: lf-mkpcap --tunnel KIND (with its
# OPTIONS, e.g. --outer-ipv6) wraps every packet; read it in the inner view (the default)
# and in the outer view, and compare with the generator's truth and with tshark.
tunnel() {
	kind=$1
	type=$2
	shift 2
	tag=tun-$kind
	gen=""
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		gen="$gen $1"
		tag="$tag$1"
		shift
	done
	[ $# -gt 0 ] && shift
	truth=$T/$tag.truth
	[ "$kind" = ipip ] || gen="--vni $VNI $gen" # IP-in-IP has no tunnel id
	# shellcheck disable=SC2086 # $gen holds options
	"$LF_MKPCAP" -o "$T/$tag.pcap" --truth "$truth" --tunnel "$kind" $gen \
		--packets 3000 --flows 60 --seed 23 >/dev/null || fail "lf-mkpcap --tunnel $kind failed"
	expect_eq "$tag: the generator wrapped every packet" "$(kv tunnel_packets "$truth")" \
		"$(kv ip_packets "$truth")"

	# Inner view: one record per inner flow, with the inner packet's length.
	run "$tag" "$T/$tag.pcap"
	expect_eq "$tag: packets" "$(ipfix_sum "$T/$tag.ipfix" packetDeltaCount)" \
		"$(kv ip_packets "$truth")"
	expect_eq "$tag: octets (inner IP)" "$(ipfix_sum "$T/$tag.ipfix" octetDeltaCount)" \
		"$(kv ip_octets "$truth")"
	expect_eq "$tag: export.packets" "$(kv export.packets "$T/$tag.stats")" \
		"$(kv ip_packets "$truth")"
	expect_eq "$tag: flows" "$($FLOWS records "$T/$tag.dump" | wc -l)" "$(kv flows "$truth")"
	# Every flow came out of the tunnel, and says which one.
	expect_eq "$tag: tunnelType of every record" "$(values "$tag" tunnelType)" "$type"
	expect_eq "$tag: layer2SegmentId of every record" "$(values "$tag" layer2SegmentId)" \
		"$(kv tunnel_id "$truth")"
	same_flows "$tag" "$T/$tag.pcap" "$@"

	# Outer view: the same frames as the outer packets they are.
	echo 'capture: { tunnel_view = "outer"; };' >"$T/outer.conf"
	"$LABELFLOWD" -c "$T/outer.conf" -r "$T/$tag.pcap" -e "file:$T/$tag-outer.ipfix" \
		--stats-file "$T/$tag-outer.stats" --log-level warn
	ipfixDump --rfc5610 -i "$T/$tag-outer.ipfix" >"$T/$tag-outer.dump"
	expect_eq "$tag (outer view): packets" "$(ipfix_sum "$T/$tag-outer.ipfix" packetDeltaCount)" \
		"$(kv ip_packets "$truth")"
	expect_eq "$tag (outer view): octets (outer IP)" \
		"$(ipfix_sum "$T/$tag-outer.ipfix" octetDeltaCount)" "$(kv outer_ip_octets "$truth")"
	expect_eq "$tag (outer view): flows" "$($FLOWS records "$T/$tag-outer.dump" | wc -l)" \
		"$(kv outer_flows "$truth")"
}

tunnel vxlan vxlan
tunnel vxlan8472 vxlan -- -d udp.port==8472,vxlan # Flannel's port
tunnel geneve geneve
tunnel ipip ipip
tunnel gre gre
tunnel nvgre nvgre
# Underlay over IPv6 (tunnel endpoints in tunnelSource/DestinationIPv6Address), and a VLAN
# tag inside the overlay's Ethernet frame (not the outer frame's: vlanId stays 0).
tunnel vxlan vxlan --outer-ipv6
tunnel gre gre --outer-ipv6
tunnel geneve geneve --inner-vlan 7
tunnel nvgre nvgre --inner-vlan 7

# ---------------------------------------------------------------------------- VLAN

# A capture written here, frame by frame: untagged UDP, 802.1Q TCP, QinQ ICMP (0x88a8 then
# 0x8100) and VXLAN inside an 802.1Q tag. vlanId is the outermost tag, dot1qCustomerVlanId
# the second.
python3 - "$T/vlan.pcap" <<'EOF'
import socket, struct, sys

def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b + b"\0" * (len(b) % 2)))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF

def ipv4(src, dst, proto, payload, ident):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload

def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data

def tcp(sport, dport, data):
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, 0x10, 65535, 0, 0) + data

def icmp_echo(seq):
    b = struct.pack("!BBHHH", 8, 0, 0, 7, seq) + b"p" * 56
    return b[:2] + struct.pack("!H", csum(b)) + b[4:]

def eth(tags, ethertype, payload):
    b = bytes.fromhex("020000000002020000000001")
    for tpid, vid in tags:
        b += struct.pack("!HH", tpid, vid)
    return b + struct.pack("!H", ethertype) + payload

frames = []
for i in range(5):
    frames.append(eth([], 0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000, 2000, b"u" * 100), i)))
for i in range(7):
    frames.append(eth([(0x8100, 100)], 0x0800,
                      ipv4("10.0.1.1", "10.0.1.2", 6, tcp(1111, 80, b"t" * 50), i)))
for i in range(3):
    frames.append(eth([(0x88A8, 200), (0x8100, 300)], 0x0800,
                      ipv4("10.0.2.1", "10.0.2.2", 1, icmp_echo(i), i)))
for i in range(4):
    inner = eth([], 0x0800, ipv4("10.9.0.1", "10.9.0.2", 17, udp(5353, 53, b"d" * 30), i))
    vx = struct.pack("!II", 0x08000000, 4242 << 8) + inner
    frames.append(eth([(0x8100, 400)], 0x0800,
                      ipv4("192.168.60.1", "192.168.60.2", 17, udp(40000 + i, 4789, vx), i)))
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for n, fr in enumerate(frames):
        f.write(struct.pack("<IIII", 1700000000, n * 1000, len(fr), len(fr)) + fr)
EOF
run vlan "$T/vlan.pcap"
same_flows vlan "$T/vlan.pcap"
# vlan_rec FIELD SRC: FIELD of the record(s) from SRC.
vlan_rec() {
	python3 "$top_srcdir/tests/tools/ipfix-records.py" values "$T/vlan.dump" "$1" \
		sourceIPv4Address="$2"
}
expect_eq "untagged: vlanId" "$(vlan_rec vlanId 10.0.0.1)" 0
expect_eq "802.1Q: vlanId" "$(vlan_rec vlanId 10.0.1.1)" 100
expect_eq "802.1Q: dot1qCustomerVlanId" "$(vlan_rec dot1qCustomerVlanId 10.0.1.1)" 0
expect_eq "QinQ: vlanId (outer tag)" "$(vlan_rec vlanId 10.0.2.1)" 200
expect_eq "QinQ: dot1qCustomerVlanId (inner tag)" "$(vlan_rec dot1qCustomerVlanId 10.0.2.1)" 300
expect_eq "VXLAN in 802.1Q: vlanId" "$(vlan_rec vlanId 10.9.0.1)" 400
expect_eq "VXLAN in 802.1Q: layer2SegmentId" "$(vlan_rec layer2SegmentId 10.9.0.1)" 4242
expect_eq "VXLAN in 802.1Q: tunnel endpoints" "$(vlan_rec tunnelSourceIPv4Address 10.9.0.1) \
$(vlan_rec tunnelDestinationIPv4Address 10.9.0.1)" "192.168.60.1 192.168.60.2"
# 5 x 128 + 7 x 90 + 3 x 84 + 4 x 58 (inner IP lengths).
expect_eq "VLAN capture: packets" "$(ipfix_sum "$T/vlan.ipfix" packetDeltaCount)" 19
expect_eq "VLAN capture: octets" "$(ipfix_sum "$T/vlan.ipfix" octetDeltaCount)" \
	$((5 * 128 + 7 * 90 + 3 * 84 + 4 * 58))
