#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# NetFlow v9 and v5 into nfdump's collector: one labelflowd run exports a generated capture
# to two nfcapd on loopback, netflow9: and netflow5:. v9 totals (packets, octets, records)
# equal the ground truth; v5 carries exactly the IPv4 part (IPv6 counted as dropped);
# first/last seen come back to the millisecond; no sequence errors in either stream.
# With 1-in-N sampling both report N (v9 options record, v5 header) and nfdump scales the
# sampled counts by N: its totals are N times those of the frames the sampler took.
. "$top_srcdir/tests/e2e/lib.sh"
need nfcapd nfdump python3

# start_nfcapd NAME: a fresh nfcapd writing into $T/NAME; sets PORT and NFCAPD_PID.
start_nfcapd() {
	PORT=$(free_port udp)
	mkdir -p "$T/$1"
	bg nfcapd -b 127.0.0.1 -p "$PORT" -w "$T/$1" -B 16777216 -t 3600
	NFCAPD_PID=$LF_LAST_PID
	wait_for 10 sh -c "grep -q ':$(printf %04X "$PORT") ' /proc/net/udp" ||
		fail "nfcapd did not start"
}

# stop_nfcapd PID NAME: stop it (it writes its file on exit); CSV and info of NAME.
stop_nfcapd() {
	kill -TERM "$1"
	wait "$1" || true
	nfdump -R "$T/$2" -o csv >"$T/$2.csv"
	nfdump -R "$T/$2" -I >"$T/$2.info"
}

# column_sum NAME CSV: sum of the named column over the data rows of nfdump's CSV.
column_sum() {
	awk -F, -v col="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		/^Summary/ { exit } c && $c ~ /^[0-9]+$/ { s += $c } END { printf "%d\n", s }' "$2"
}

rows() {
	awk '/^Summary/ { exit } /^[0-9]/ { n++ } END { print n + 0 }' "$1"
}

# first_last DIR [FILTER]: earliest first seen and latest last seen, in epoch ms (from
# nfdump's JSON: its raw-seconds %ter format is not reliable in 1.7).
first_last() {
	TZ=UTC nfdump -R "$1" -o json ${2:+"$2"} | python3 -c '
import datetime, json, sys
def ms(s):
    t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f")
    return round(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
r = json.load(sys.stdin)
print(min(ms(x["first"]) for x in r), max(ms(x["last"]) for x in r))'
}

info() {
	awk -F': ' -v k="$1" '$1 == k { print $2 }' "$2"
}

"$LF_MKPCAP" -o "$T/mix.pcap" --truth "$T/mix.truth" --packets 12000 --flows 1200 --mix \
	--seed 21 >/dev/null
start_nfcapd v9
p9=$PORT pid9=$NFCAPD_PID
start_nfcapd v5
p5=$PORT pid5=$NFCAPD_PID
"$LABELFLOWD" -r "$T/mix.pcap" -e "netflow9:127.0.0.1:$p9" -e "netflow5:127.0.0.1:$p5" \
	--stats-file "$T/mix.stats" --log-level warn
sleep 0.5 # the last datagrams are in the collectors' socket buffers
stop_nfcapd "$pid9" v9
stop_nfcapd "$pid5" v5
st=$T/mix.stats
t9=target.netflow9:127.0.0.1:$p9
t5=target.netflow5:127.0.0.1:$p5

# v9: everything, exactly.
expect_eq "v9 packets" "$(column_sum ipkt "$T/v9.csv")" "$(kv ip_packets "$T/mix.truth")"
expect_eq "v9 octets" "$(column_sum ibyt "$T/v9.csv")" "$(kv ip_octets "$T/mix.truth")"
expect_eq "v9 records" "$(rows "$T/v9.csv")" "$(kv export.records "$st")"
expect_eq "v9 records encoded" "$(kv "$t9.records" "$st")" "$(kv export.records "$st")"
# The transport resent the template packet (every 1000 datagrams by default) and numbered
# the datagrams after each copy on: nfdump sees no gap and no duplicate.
expect_eq "v9 datagrams" "$(kv "$t9.msgs_sent" "$st")" \
	"$(($(kv "$t9.data_msgs" "$st") + $(kv "$t9.template_sends" "$st")))"
[ "$(kv "$t9.template_sends" "$st")" -ge 3 ] || fail "v9 templates not refreshed"
expect_eq "v9 sequence failures" "$(info 'Sequence failures' "$T/v9.info")" 0
expect_eq "v9 first/last seen" "$(first_last "$T/v9")" \
	"$(kv first_ts_ms "$T/mix.truth") $(kv last_ts_ms "$T/mix.truth")"

# v5: the IPv4 part, exactly; the IPv6 records are counted, not lost silently.
expect_eq "v5 IPv6 records dropped + encoded" \
	"$(($(kv "$t5.records" "$st") + $(kv "$t5.v5_ipv6_dropped" "$st")))" \
	"$(kv export.records "$st")"
expect_eq "v5 records" "$(rows "$T/v5.csv")" \
	"$(($(kv "$t5.records" "$st") + $(kv "$t5.v5_split_records" "$st")))"
expect_eq "v5 records = IPv4 records of v9" "$(rows "$T/v5.csv")" \
	"$(nfdump -R "$T/v9" -q -o 'fmt:%pr' 'ipv4' | wc -l)"
expect_eq "v5 packets" "$(column_sum ipkt "$T/v5.csv")" "$(kv ipv4_packets "$T/mix.truth")"
expect_eq "v5 octets = IPv4 octets of v9" "$(column_sum ibyt "$T/v5.csv")" \
	"$(nfdump -R "$T/v9" -q -o 'fmt:%byt' -N 'ipv4' | awk '{ s += $1 } END { print s }')"
expect_eq "v5 first/last seen" "$(first_last "$T/v5")" "$(first_last "$T/v9" ipv4)"
expect_eq "v5 sequence failures" "$(info 'Sequence failures' "$T/v5.info")" 0
[ "$(kv "$t5.v5_ipv6_dropped" "$st")" -gt 0 ] || fail "the mix has IPv6 flows"

# ---------------------------------------------------------------- sampling
# 1 in 10 of a plain IPv4 capture (every frame an IP packet) to both versions at once; the
# template packet (with the v9 sampling report) is resent every 100 datagrams. Truth: the
# sampler takes frames 1, 11, 21, ..., so packets = ceil(frames / 10) and octets = the IP
# lengths of exactly those frames, read from the capture here; nfdump multiplies both by
# 10 (v9: SAMPLING_INTERVAL in the options record; v5: the header's sampling field).
N=10
sampled_truth "$N"
start_nfcapd n9
p9=$PORT pid9=$NFCAPD_PID
start_nfcapd n5
p5=$PORT pid5=$NFCAPD_PID
printf 'flow: { sampling_interval = %s; };\nexport: { template_refresh_msgs = 100; };\n' \
	"$N" >"$T/samp.conf"
"$LABELFLOWD" -c "$T/samp.conf" -r "$T/plain.pcap" -e "netflow9:127.0.0.1:$p9" \
	-e "netflow5:127.0.0.1:$p5" --stats-file "$T/samp.stats" --log-level warn
sleep 0.5
stop_nfcapd "$pid9" n9
stop_nfcapd "$pid5" n5
st=$T/samp.stats
t9=target.netflow9:127.0.0.1:$p9
expect_eq "sampling.selected" "$(kv sampling.selected "$st")" "$sel_f"
expect_eq "export.packets (sampled, not scaled)" "$(kv export.packets "$st")" "$sel_f"
expect_eq "export.octets (sampled, not scaled)" "$(kv export.octets "$st")" "$sel_o"
[ "$(kv "$t9.template_sends" "$st")" -ge 3 ] || fail "sampled v9: templates not refreshed"
for v in n9 n5; do
	expect_eq "$v: nfdump packets = $N x sampled" "$(column_sum ipkt "$T/$v.csv")" \
		$((sel_f * N))
	expect_eq "$v: nfdump octets = $N x sampled" "$(column_sum ibyt "$T/$v.csv")" \
		$((sel_o * N))
	expect_eq "$v: records" "$(rows "$T/$v.csv")" "$(kv export.records "$st")"
	expect_eq "$v: sequence failures" "$(info 'Sequence failures' "$T/$v.info")" 0
	# Every record went through the announced sampler, none unscaled.
	expect_eq "$v: records flagged sampled" \
		"$(nfdump -R "$T/$v" -o raw | grep -c 'Flags .*, Sampled$')" \
		"$(kv export.records "$st")"
done
# nfdump's sampler table: 1 packet taken, 9 skipped (v5: mode 1, deterministic).
nfdump -E "$(ls "$T"/n9/nfcapd.* | head -1)" >"$T/n9.exporters"
grep -q 'Generic Sampler: algorithm: 0, packet interval: 1, packet space: 9$' \
	"$T/n9.exporters" || { cat "$T/n9.exporters"; fail "v9: nfdump has no 1-in-10 sampler"; }
nfdump -E "$(ls "$T"/n5/nfcapd.* | head -1)" >"$T/n5.exporters"
grep -q 'Generic Sampler: algorithm: 1, packet interval: 1, packet space: 9$' \
	"$T/n5.exporters" || { cat "$T/n5.exporters"; fail "v5: nfdump has no 1-in-10 sampler"; }
echo "ok: nfdump scales sampled NetFlow v9 and v5 by the reported interval"

# The sample capture: the first cart -> redis session in both versions, all fields.
start_nfcapd s9
p9=$PORT pid9=$NFCAPD_PID
start_nfcapd s5
p5=$PORT pid5=$NFCAPD_PID
"$LABELFLOWD" -r "$top_srcdir/tests/data/sample.pcap" -e "netflow9:127.0.0.1:$p9" \
	-e "netflow5:127.0.0.1:$p5" --log-level warn
sleep 0.5
stop_nfcapd "$pid9" s9
stop_nfcapd "$pid5" s5
expect_eq "sample v9 packets" "$(column_sum ipkt "$T/s9.csv")" 203
expect_eq "sample v9 octets" "$(column_sum ibyt "$T/s9.csv")" 20820
expect_eq "sample v5 packets" "$(column_sum ipkt "$T/s5.csv")" 193
for v in s9 s5; do
	grep -q ',10.244.0.12,10.244.0.30,46210,6379,TCP,...AP.SF,0,0,9,443,' "$T/$v.csv" ||
		{ grep 46210 "$T/$v.csv"; fail "$v: cart -> redis flow not decoded as expected"; }
	# 10.244.0.17 pings the VM four times: ICMP echo request (8/0) in the port columns.
	nfdump -R "$T/$v" -q -o 'fmt:%sa %da %pr %dp %pkt' 'proto icmp and src ip 10.244.0.17' |
		grep -Eq '10\.244\.0\.17 +10\.0\.50\.10 +ICMP +8\.0 +4$' ||
		{ nfdump -R "$T/$v" -q 'proto icmp'; fail "$v: ICMP echo not decoded"; }
done
echo "ok: nfdump reads NetFlow v9 and v5 with exact totals"
