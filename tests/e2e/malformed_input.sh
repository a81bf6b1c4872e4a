#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Malformed and truncated input: every frame of a capture full of damaged frames lands
# in exactly one exported record or one named drop counter, on every link type and with
# a snaplen; damaged files end cleanly; garbage headers are refused with a message.
. "$top_srcdir/tests/e2e/lib.sh"

check_capture() { # NAME MKPCAP-ARGS...
	name=$1
	shift
	"$LF_MKPCAP" -o "$T/$name.pcap" --truth "$T/$name.truth" "$@" >/dev/null
	"$LABELFLOWD" -r "$T/$name.pcap" -e "file:$T/$name.ipfix" --stats-file "$T/$name.stats" \
		--log-level error || fail "$name: labelflowd failed"
	tr=$T/$name.truth
	st=$T/$name.stats
	expect_eq "$name: frames" "$(kv decode.frames "$st")" "$(kv frames "$tr")"
	expect_eq "$name: decoded" "$(kv decode.decoded "$st")" "$(kv ip_packets "$tr")"
	for r in non_ip truncated_l2 bad_ip_version truncated_ip bad_ip_hdr_len \
		bad_ip_total_len bad_ipv6_ext; do
		expect_eq "$name: drop $r" "$(kv "decode.drop.$r" "$st")" "$(kv "drop_$r" "$tr")"
	done
	expect_eq "$name: exported packets" "$(kv export.packets "$st")" "$(kv ip_packets "$tr")"
	expect_eq "$name: exported octets" "$(kv export.octets "$st")" "$(kv ip_octets "$tr")"
	expect_eq "$name: flows in cache at exit" "$(kv flow.active "$st")" 0
}

check_capture mixed --packets 20000 --flows 2000 --mix --malformed --seed 7
for lt in linux_sll linux_sll2 raw null loop; do
	check_capture "$lt" --packets 3000 --flows 300 --mix --malformed --linktype "$lt" --seed 3
done
check_capture snapped --packets 5000 --flows 500 --mix --malformed --snaplen 128 --seed 5

# A collector agrees with the counters: the malformed capture's records, summed.
expect_eq "ipfixDump packets (mixed)" "$(ipfix_sum "$T/mixed.ipfix" packetDeltaCount)" \
	"$(kv ip_packets "$T/mixed.truth")"
expect_eq "ipfixDump octets (mixed)" "$(ipfix_sum "$T/mixed.ipfix" octetDeltaCount)" \
	"$(kv ip_octets "$T/mixed.truth")"

# A file whose last record is cut: the complete frames are exported, exit 0.
"$LF_MKPCAP" -o "$T/cut.pcap" --packets 100 --flows 10 --truth "$T/cut.truth" --cut-bytes 7 \
	>/dev/null
"$LABELFLOWD" -r "$T/cut.pcap" -e "file:$T/cut.ipfix" --stats-file "$T/cut.stats" \
	2>"$T/cut.err" || fail "damaged last record: labelflowd failed"
expect_eq "frames of a cut file" "$(kv decode.frames "$T/cut.stats")" \
	"$(($(kv frames "$T/cut.truth") - 1))"
grep -q "damaged record" "$T/cut.err" || fail "no warning for a damaged record"

# Garbage and empty files are refused with the file named.
"$LF_MKPCAP" --bad-pcap-header "$T/garbage.pcap" >/dev/null
: >"$T/empty.pcap"
for f in garbage empty; do
	rc=0
	"$LABELFLOWD" -r "$T/$f.pcap" -e "file:$T/$f.ipfix" 2>"$T/$f.err" || rc=$?
	expect_eq "exit status for a $f file" "$rc" 1
	grep -q "cannot read capture file '$T/$f.pcap'" "$T/$f.err" || { cat "$T/$f.err"; fail "$f"; }
done
