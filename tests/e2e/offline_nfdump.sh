#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# nfdump's collector: labelflowd exports over UDP to nfcapd on loopback; nfdump reads the
# standard fields back. Packet and octet totals equal the capture's ground truth exactly,
# and a known flow of the sample capture shows its addresses, ports, protocol and counts.
. "$top_srcdir/tests/e2e/lib.sh"
need nfcapd nfdump

# collect NAME PCAP: export PCAP over UDP to a fresh nfcapd; leaves CSV in $T/NAME.csv.
collect() {
	port=$(free_port udp)
	mkdir -p "$T/$1"
	bg nfcapd -b 127.0.0.1 -p "$port" -w "$T/$1" -B 16777216 -t 3600
	pid=$LF_LAST_PID
	# nfcapd binds before it logs; wait until the port is taken.
	wait_for 10 sh -c "grep -q ':$(printf %04X "$port") ' /proc/net/udp" ||
		fail "nfcapd did not start"
	"$LABELFLOWD" -r "$2" -e "udp:127.0.0.1:$port" --stats-file "$T/$1.stats" \
		--log-level warn
	sleep 0.5 # the last datagrams are in nfcapd's socket buffer
	kill -TERM "$pid"
	wait "$pid" || true
	nfdump -R "$T/$1" -o csv >"$T/$1.csv"
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
