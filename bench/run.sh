#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Offline benchmark of labelflowd (run by `make bench`): packets per second, CPU seconds and
# peak RSS on a deterministic 1M-packet mixed capture, then memory per active flow from two
# runs holding 1k and 1M concurrent flows. See bench/README.md for what the numbers mean.
set -euo pipefail

die() {
	echo "bench: $*" >&2
	exit 1
}

: "${LABELFLOWD:?set LABELFLOWD to the labelflowd binary (make bench does)}"
: "${LF_MKPCAP:?set LF_MKPCAP to the lf-mkpcap binary (make bench does)}"
: "${LABELFLOW_DATADIR:?set LABELFLOW_DATADIR to the templates directory (make bench does)}"
export LABELFLOW_DATADIR

RUNS=${BENCH_RUNS:-3}
PACKETS=${BENCH_PACKETS:-1000000}
FLOWS=${BENCH_FLOWS:-100000}
BIG_FLOWS=${BENCH_BIG_FLOWS:-1000000}
SMALL_FLOWS=${BENCH_SMALL_FLOWS:-1000}
SNAPLEN=${BENCH_SNAPLEN:-256}
SEED=${BENCH_SEED:-42}
GNU_TIME=/usr/bin/time

[ -x "$LABELFLOWD" ] || die "LABELFLOWD '$LABELFLOWD' is not an executable"
[ -x "$LF_MKPCAP" ] || die "LF_MKPCAP '$LF_MKPCAP' is not an executable"
if ! [ -x "$GNU_TIME" ] || ! "$GNU_TIME" -v true >/dev/null 2>&1; then
	die "$GNU_TIME -v does not work: install GNU time (Debian/Ubuntu package 'time')"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/lf-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

WARNINGS=0
warn() {
	echo "bench: WARNING: $*" >&2
	WARNINGS=$((WARNINGS + 1))
}

# kv KEY FILE: value of KEY in a key=value file, or empty.
kv() {
	sed -n "s/^$1=//p" "$2" | head -n1
}

# tv FIELD FILE: a value from GNU time -v output.
tv() {
	sed -n "s/^[[:space:]]*$1: //p" "$2" | head -n1
}

# run_daemon TAG PCAP [CONFIG]: one timed run; sets R_WALL R_CPU R_RSS_KB R_STATS.
run_daemon() {
	local tag=$1 pcap=$2 cfg=${3:-} rc=0 t0 t1
	local out="$TMP/$tag.ipfix" tfile="$TMP/$tag.time" err="$TMP/$tag.err"
	local args=(-r "$pcap" -e "file:$out" --stats-file "$TMP/$tag.stats")

	[ -n "$cfg" ] && args=(-c "$cfg" "${args[@]}")
	rm -f "$out"
	t0=$(date +%s%N)
	"$GNU_TIME" -v -o "$tfile" "$LABELFLOWD" "${args[@]}" >"$TMP/$tag.out" 2>"$err" || rc=$?
	t1=$(date +%s%N)
	if [ "$rc" != 0 ]; then
		echo "bench: labelflowd failed (exit $rc) on run '$tag':" >&2
		echo "  $LABELFLOWD ${args[*]}" >&2
		sed 's/^/  | /' "$err" | tail -n 30 >&2
		exit 1
	fi
	[ -s "$out" ] || die "labelflowd exited 0 but wrote no IPFIX to '$out' (run '$tag')"
	rm -f "$out"
	[ -s "$TMP/$tag.stats" ] || die "labelflowd wrote no --stats-file (run '$tag')"
	# wall clock from date(1): GNU time only reports it in 10 ms steps
	R_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
	R_CPU=$(awk -v u="$(tv 'User time (seconds)' "$tfile")" \
		-v s="$(tv 'System time (seconds)' "$tfile")" 'BEGIN { printf "%.2f", u + s }')
	R_RSS_KB=$(tv 'Maximum resident set size (kbytes)' "$tfile")
	R_STATS="$TMP/$tag.stats"
	[ -n "$R_RSS_KB" ] || die "could not read peak RSS from GNU time output ($tfile)"
}

# check_counts TAG TRUTH: the daemon metered exactly the capture's IP packets and octets.
check_counts() {
	local tag=$1 truth=$2 got want
	for pair in flow.packets:ip_packets flow.octets:ip_octets; do
		got=$(kv "${pair%%:*}" "$R_STATS")
		want=$(kv "${pair##*:}" "$truth")
		[ "$got" = "$want" ] ||
			warn "run '$tag': ${pair%%:*}=${got:-missing}, the capture has ${pair##*:}=$want"
	done
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)
version=$("$LABELFLOWD" --version 2>&1 | head -n1 || true)
echo "labelflowd benchmark: ${version:-labelflowd}"
echo "machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, $(uname -sr)"
echo

# ---------------------------------------------------------------- throughput
echo "generating $PACKETS packets / $FLOWS conversations (--mix, snaplen $SNAPLEN, seed $SEED)..."
"$LF_MKPCAP" -o "$TMP/mix.pcap" --truth "$TMP/mix.truth" --mix --packets "$PACKETS" \
	--flows "$FLOWS" --snaplen "$SNAPLEN" --seed "$SEED" ||
	die "lf-mkpcap failed to generate the capture"
frames=$(kv frames "$TMP/mix.truth")
ip_packets=$(kv ip_packets "$TMP/mix.truth")
echo "capture: $frames frames, $ip_packets IP packets, $(kv flows "$TMP/mix.truth") flow keys," \
	"$(kv vlan_frames "$TMP/mix.truth") VLAN-tagged," \
	"$(($(stat -c %s "$TMP/mix.pcap") / 1048576)) MiB"
# one untimed run warms the page cache so every timed run reads from memory
run_daemon warmup "$TMP/mix.pcap"
check_counts warmup "$TMP/mix.truth"
echo
printf '%-6s %9s %12s %9s %13s\n' run wall_s frames/s cpu_s peak_rss_MiB
rows=""
for i in $(seq 1 "$RUNS"); do
	run_daemon "run$i" "$TMP/mix.pcap"
	check_counts "run$i" "$TMP/mix.truth"
	pps=$(awk -v p="$frames" -v w="$R_WALL" 'BEGIN { printf "%.0f", (w > 0 ? p / w : 0) }')
	rss=$(awk -v k="$R_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
	printf '%-6s %9s %12s %9s %13s\n' "$i" "$R_WALL" "$pps" "$R_CPU" "$rss"
	rows+="$R_WALL $pps $R_CPU $rss"$'\n'
done
median=$(printf '%s' "$rows" | sort -n | awk '{ r[NR] = $0 } END { print r[int((NR + 1) / 2)] }')
read -r _ m_pps m_cpu m_rss <<<"$median"
echo "median: $(awk -v p="$m_pps" 'BEGIN { printf "%.2f", p / 1e6 }') Mpps" \
	"(frames / wall clock), $m_cpu CPU s, $m_rss MiB peak RSS"
echo

# ---------------------------------------------------------------- memory per flow
# Every flow is one packet and all of them fall within 5 s, far inside the idle timeout,
# so at the end of the file all of them sit in the cache at once.
echo "memory per active flow: $SMALL_FLOWS vs $BIG_FLOWS concurrent flows..."
cat >"$TMP/small.conf" <<EOF
flow: { max_flows = $((SMALL_FLOWS * 2 + 48)); idle_timeout_ms = 60000; active_timeout_ms = 600000; };
EOF
cat >"$TMP/big.conf" <<EOF
flow: { max_flows = $((BIG_FLOWS + BIG_FLOWS / 10)); idle_timeout_ms = 60000; active_timeout_ms = 600000; };
EOF
printf '%-10s %10s %13s\n' flows max_flows peak_rss_MiB
declare -A RSS_KB
for size in small big; do
	n=$SMALL_FLOWS
	[ "$size" = big ] && n=$BIG_FLOWS
	gap=$((5000000 / n))
	[ "$gap" -ge 1 ] || gap=1
	"$LF_MKPCAP" -o "$TMP/$size.pcap" --truth "$TMP/$size.truth" --packets "$n" --flows "$n" \
		--gap-us "$gap" --seed "$SEED" || die "lf-mkpcap failed to generate the $size capture"
	run_daemon "$size" "$TMP/$size.pcap" "$TMP/$size.conf"
	check_counts "$size" "$TMP/$size.truth"
	created=$(kv flow.created "$R_STATS")
	forced=$(kv flow.ended.forced "$R_STATS")
	[ "$created" = "$n" ] || warn "$size run: flow.created=${created:-missing}, expected $n"
	[ "$forced" = "$n" ] ||
		warn "$size run: only ${forced:-?} of $n flows were still active at the end of input"
	printf '%-10s %10s %13s\n' "$n" "$(sed -n 's/.*max_flows = \([0-9]*\);.*/\1/p' "$TMP/$size.conf")" \
		"$(awk -v k="$R_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')"
	RSS_KB[$size]=$R_RSS_KB
done
awk -v b="${RSS_KB[big]}" -v s="${RSS_KB[small]}" -v nb="$BIG_FLOWS" -v ns="$SMALL_FLOWS" \
	'BEGIN { printf "=> %.0f bytes per active flow ((rss_big - rss_small) / %d flows)\n", \
		(b - s) * 1024 / (nb - ns), nb - ns }'

if [ "$WARNINGS" != 0 ]; then
	echo
	echo "bench: $WARNINGS warning(s) above: the daemon's counters disagree with the capture" >&2
	exit 1
fi
