#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# nfdump's collector: labelflowd exports over UDP to nfcapd on loopback; nfdump reads the
# standard fields back. Packet and octet totals equal the capture's ground truth exactly,
# and a known flow of the sample capture shows its addresses, ports, protocol and counts.
# With 1-in-N sampling nfdump scales every record by N (from options template 261): its
# totals are N times those of the frames the sampler took.
. "$top_srcdir/tests/e2e/lib.sh"
need nfcapd nfdump python3

# collect NAME PCAP [ARGS...]: export PCAP over UDP to a fresh nfcapd (ARGS go to
# labelflowd); leaves CSV in $T/NAME.csv and port in $port.
collect() {
	name=$1 pcap=$2
	shift 2
	port=$(free_port udp)
	mkdir -p "$T/$name"
	bg nfcapd -b 127.0.0.1 -p "$port" -w "$T/$name" -B 16777216 -t 3600
	pid=$LF_LAST_PID
	# nfcapd binds before it logs; wait until the port is taken.
	wait_for 10 sh -c "grep -q ':$(printf %04X "$port") ' /proc/net/udp" ||
		fail "nfcapd did not start"
	"$LABELFLOWD" -r "$pcap" -e "udp:127.0.0.1:$port" --stats-file "$T/$name.stats" \
		--log-level warn "$@"
	sleep 0.5 # the last datagrams are in nfcapd's socket buffer
	kill -TERM "$pid"
	wait "$pid" || true
	nfdump -R "$T/$name" -o csv >"$T/$name.csv"
}

# column NAME CSV: sum of the named column over the data rows of nfdump's CSV.
column_sum() {
	awk -F, -v col="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		/^Summary/ { exit } c && $c ~ /^[0-9]+$/ { s += $c } END { printf "%d\n", s }' "$2"
}

"$LF_MKPCAP" -o "$T/mix.pcap" --truth "$T/mix.truth" --packets 30000 --flows 3000 --mix \
	--seed 21 >/dev/null
collect mix "$T/mix.pcap"
expect_eq "nfdump packets" "$(column_sum ipkt "$T/mix.csv")" "$(kv ip_packets "$T/mix.truth")"
expect_eq "nfdump octets" "$(column_sum ibyt "$T/mix.csv")" "$(kv ip_octets "$T/mix.truth")"
expect_eq "nfdump records" "$(awk '/^Summary/ { exit } /^[0-9]/ { n++ } END { print n }' "$T/mix.csv")" \
	"$(kv export.records "$T/mix.stats")"

collect sample "$top_srcdir/tests/data/sample.pcap"
expect_eq "sample packets" "$(column_sum ipkt "$T/sample.csv")" 203
expect_eq "sample octets" "$(column_sum ibyt "$T/sample.csv")" 20820
# The first cart -> redis session: 9 packets, 443 octets, SYN..FIN.
grep -q ',10.244.0.12,10.244.0.30,46210,6379,TCP,...AP.SF,0,0,9,443,' "$T/sample.csv" ||
	{ grep 46210 "$T/sample.csv"; fail "cart -> redis flow not decoded as expected"; }
echo "ok: nfdump shows the cart -> redis flow with its standard fields"

# ---------------------------------------------------------------- sampling
# 1 in 10 of a plain IPv4 capture (every frame an IP packet), the template set (with both
# sampling reports) resent every 10 messages. Truth: the sampler takes frames 1, 11,
# 21, ..., so packets = ceil(frames / 10) and octets = the IP lengths of exactly those
# frames, read from the capture here; nfdump multiplies both by 10.
N=10
sampled_truth "$N"
printf 'flow: { sampling_interval = %s; };\nexport: { template_refresh_msgs = 10; };\n' \
	"$N" >"$T/samp.conf"
collect samp "$T/plain.pcap" -c "$T/samp.conf"
st=$T/samp.stats
tg=target.udp:127.0.0.1:$port
expect_eq "sampling.selected" "$(kv sampling.selected "$st")" "$sel_f"
expect_eq "export.packets (sampled, not scaled)" "$(kv export.packets "$st")" "$sel_f"
expect_eq "export.octets (sampled, not scaled)" "$(kv export.octets "$st")" "$sel_o"
[ "$(kv "$tg.template_sends" "$st")" -ge 3 ] || fail "sampled IPFIX: templates not refreshed"
expect_eq "sampled: nfdump packets = $N x sampled" "$(column_sum ipkt "$T/samp.csv")" \
	$((sel_f * N))
expect_eq "sampled: nfdump octets = $N x sampled" "$(column_sum ibyt "$T/samp.csv")" \
	$((sel_o * N))
expect_eq "sampled: nfdump records" \
	"$(awk '/^Summary/ { exit } /^[0-9]/ { n++ } END { print n + 0 }' "$T/samp.csv")" \
	"$(kv export.records "$st")"
# Every record went through the announced sampler, none unscaled.
expect_eq "sampled: records flagged sampled" \
	"$(nfdump -R "$T/samp" -o raw | grep -c 'Flags .*, Sampled$')" "$(kv export.records "$st")"
# nfdump's sampler table: 1 packet taken, 9 skipped.
nfdump -E "$(ls "$T"/samp/nfcapd.* | head -1)" >"$T/samp.exporters"
grep -q 'Generic Sampler: algorithm: 0, packet interval: 1, packet space: 9$' \
	"$T/samp.exporters" || { cat "$T/samp.exporters"; fail "nfdump has no 1-in-10 sampler"; }
echo "ok: nfdump scales sampled IPFIX by the reported interval"
