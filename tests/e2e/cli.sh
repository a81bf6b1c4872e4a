#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Command-line behaviour: version/help, config validation with file:line errors, option
# conflicts, bad targets, stdout handling when no target is given.
. "$top_srcdir/tests/e2e/lib.sh"
need script ipfixDump

"$LABELFLOWD" --version | grep -q '^labelflowd [0-9]' || fail "--version"
"$LABELFLOWD" --help | grep -q -- '--inventory FILE' || fail "--help lacks --inventory"
echo "ok: --version and --help"

# Every setting of the documented example config is accepted.
"$LABELFLOWD" -c "$top_srcdir/etc/labelflowd.conf" --check-config >"$T/out" 2>&1 ||
	{ cat "$T/out"; fail "example config rejected"; }
grep -q "configuration OK" "$T/out" || fail "--check-config did not confirm"
echo "ok: example config passes --check-config"

# A typo is reported with file and line, and exits 1.
printf 'flow:\n{\n\tmax_flow = 10;\n};\n' >"$T/typo.conf"
rc=0
"$LABELFLOWD" -c "$T/typo.conf" --check-config >"$T/out" 2>&1 || rc=$?
expect_eq "exit status for a config typo" "$rc" 1
grep -q "$T/typo.conf:3: unknown setting 'flow.max_flow'" "$T/out" || { cat "$T/out"; fail "no file:line"; }

# A broken inventory is refused by --check-config with its line and column.
printf '{"endpoints": [\n  {"ip": "10.0.0.1",\n   "pod": }\n]}\n' >"$T/bad.json"
rc=0
"$LABELFLOWD" --inventory "$T/bad.json" --check-config >"$T/out" 2>&1 || rc=$?
expect_eq "exit status for a broken inventory" "$rc" 1
grep -q "$T/bad.json.*line 3" "$T/out" || { cat "$T/out"; fail "no inventory line"; }

# Usage errors exit 2.
for args in "-r a.pcap -i lo" "--bogus" "-r a.pcap extra" "-r a.pcap --sampling 0" \
	"-r a.pcap --sampling 1k" "-r a.pcap --sampling 1000001"; do
	rc=0
	# shellcheck disable=SC2086
	"$LABELFLOWD" $args >"$T/out" 2>&1 || rc=$?
	expect_eq "exit status for '$args'" "$rc" 2
done
rc=0
"$LABELFLOWD" --backend afxdp -r /dev/null >"$T/out" 2>&1 || rc=$?
expect_eq "exit status for an unknown backend" "$rc" 2
grep -q "must be pcap or ebpf" "$T/out" || fail "no hint for a bad backend"
# No -r, no -i and nothing to follow in the config: a usage error, not an idle daemon.
printf 'capture: { include = [ ]; };\n' >"$T/empty.conf"
rc=0
timeout 10 "$LABELFLOWD" -c "$T/empty.conf" -e file:/dev/null >"$T/out" 2>&1 || rc=$?
expect_eq "exit status without input" "$rc" 2
grep -q "give -r FILE or -i PATTERN" "$T/out" || fail "no hint without input"

# A malformed target is refused before anything is read.
rc=0
"$LABELFLOWD" -r /dev/null -e udp:127.0.0.1 >"$T/out" 2>&1 || rc=$?
expect_eq "exit status for a target without port" "$rc" 1
grep -q "udp:127.0.0.1" "$T/out" || fail "bad target not quoted"

"$LF_MKPCAP" -o "$T/small.pcap" --packets 50 --flows 5 --seed 1 >/dev/null

# No target, stdout a terminal: refused with a clear message.
rc=0
script -qec "$LABELFLOWD -r $T/small.pcap" /dev/null >"$T/out" 2>&1 || rc=$?
expect_eq "exit status with a terminal on stdout" "$rc" 1
grep -q "standard output is a terminal" "$T/out" || { cat "$T/out"; fail "no tty message"; }

# No target, stdout a pipe: IPFIX on stdout, readable by a collector.
"$LABELFLOWD" -r "$T/small.pcap" --log-level warn | ipfixDump --rfc5610 -i - >"$T/dump"
grep -q "packetDeltaCount" "$T/dump" || fail "stdout export not decodable"
echo "ok: IPFIX on a piped stdout"

# --biflow and --sampling N do what flow.biflow and flow.sampling_interval do.
"$LF_MKPCAP" -o "$T/m.pcap" --truth "$T/m.truth" --packets 1000 --flows 50 --seed 5 >/dev/null
"$LABELFLOWD" -r "$T/m.pcap" --biflow --sampling 7 -e "file:$T/m.ipfix" \
	--stats-file "$T/m.stats" --log-level warn || fail "-r with --biflow --sampling 7"
frames=$(kv frames "$T/m.truth")
expect_eq "--sampling 7: interval" "$(kv sampling.interval "$T/m.stats")" 7
expect_eq "--sampling 7: frames observed" "$(kv sampling.observed "$T/m.stats")" "$frames"
expect_eq "--sampling 7: frames selected" "$(kv sampling.selected "$T/m.stats")" \
	$(((frames + 6) / 7))
[ "$(kv export.rev_packets "$T/m.stats")" -gt 0 ] || fail "--biflow: no reverse packets"
expect_eq "--biflow: forward + reverse packets" \
	$(($(kv export.packets "$T/m.stats") + $(kv export.rev_packets "$T/m.stats"))) \
	"$(kv flow.packets "$T/m.stats")"
ipfixDump -i "$T/m.ipfix" | grep -q "reversePacketDeltaCount" ||
	fail "--biflow: no reverse elements in the export"
echo "ok: --biflow and --sampling"
