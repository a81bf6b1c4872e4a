#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Live inventory reload: a rewritten inventory file labels the flows that follow it, a
# broken one is refused with its file and line named and the last good one kept, and
# SIGHUP reloads on demand. Captures UDP to a private port on lo only.
. "$top_srcdir/tests/e2e/lib.sh"
need_root
need python3 ipfixDump

port=$(free_port udp)
cat >"$T/lf.conf" <<CONF
capture: { filter = "udp and port $port"; };
flow: { idle_timeout_ms = 1000; };
daemon: { stats_interval_ms = 100; };
CONF

inventory() { # POD: map 127.0.0.1 to pod POD in ns1, written atomically
	cat >"$T/inv.tmp" <<JSON
{ "endpoints": [ { "ip": "127.0.0.1", "kind": "pod", "cluster": "e2e",
  "namespace": "ns1", "pod": "$1" } ] }
JSON
	mv "$T/inv.tmp" "$T/inv.json"
}

send() { # SRC-PORT: three datagrams from 127.0.0.1:SRC-PORT to the capture port
	python3 -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
for i in range(3):
    s.sendto(b"labelflow-e2e", ("127.0.0.1", int(sys.argv[2])))' "$1" "$port"
}

# Labels are taken when a flow is exported: wait for each flow's idle export before
# changing the inventory. exported N: the periodic counters show at least N records.
exported() {
	got=$(grep -o "counter export.records=[0-9]*" "$T/lf.log" | tail -n 1 | cut -d= -f2)
	[ "${got:-0}" -ge "$1" ]
}

inventory before-0
bg "$LABELFLOWD" -c "$T/lf.conf" -i lo -e "file:$T/out.ipfix" --inventory "$T/inv.json" \
	--stats-file "$T/stats" --log-level info 2>"$T/lf.log"
lf=$LF_LAST_PID
wait_for 10 grep -q "capturing on interface" "$T/lf.log" || fail "capture did not start"

s1=$(free_port udp)
s2=$(free_port udp)
s3=$(free_port udp)
s4=$(free_port udp)

send "$s1"
wait_for 10 exported 1 || fail "flow 1 not exported"
inventory after-0
loads() { # N: at least N successful loads logged
	[ "$(grep -c "inv.json.: 1 endpoints" "$T/lf.log")" -ge "$1" ]
}
wait_for 10 loads 2 ||
	fail "the rewritten inventory was not reloaded"
send "$s2"
wait_for 10 exported 2 || fail "flow 2 not exported"
printf '{ "endpoints": [ { "ip": "127.0.0.1", "pod": "broken-0" \n,, ] }\n' >"$T/inv.tmp"
mv "$T/inv.tmp" "$T/inv.json"
wait_for 10 grep -q "keeping the last good" "$T/lf.log" ||
	{ cat "$T/lf.log"; fail "no error for a broken inventory"; }
send "$s3"
wait_for 10 exported 3 || fail "flow 3 not exported"
inventory hup-0
kill -HUP "$lf"
wait_for 10 loads 3 ||
	fail "SIGHUP did not reload the inventory"
send "$s4"
sleep 0.3
kill -TERM "$lf"
wait "$lf" || { cat "$T/lf.log"; fail "labelflowd failed"; }

grep -q "inv.json: line 2" "$T/lf.log" ||
	{ cat "$T/lf.log"; fail "the broken inventory error names no file and line"; }
[ "$(kv inventory.loads_failed "$T/stats")" -ge 1 ] || fail "inventory.loads_failed = 0"
[ "$(kv inventory.loads_ok "$T/stats")" -ge 3 ] || fail "inventory.loads_ok < 3"

ipfixDump --rfc5610 -i "$T/out.ipfix" >"$T/out.dump" || fail "ipfixDump"
# pod_of SRC-PORT: sourcePodName of the record(s) with that source port.
pod_of() {
	python3 - "$1" "$T/out.dump" <<'PY'
import re, sys
port, pods, rec = sys.argv[1], set(), {}
def done():
    if rec.get("sourceTransportPort") == port:
        pods.add(rec.get("sourcePodName", "-"))
for line in open(sys.argv[2]):
    if "tid:" in line:
        done(); rec = {}
        continue
    m = re.match(r"^\s*\(\d+(?:/\d+)?\)\s+(?:\(S\)\s+)?(\w+) : (.*)$", line)
    if m:
        v = re.sub(r"^\(len: \d+\) ?", "", m.group(2))
        rec[m.group(1)] = v.strip()
done()
print(",".join(sorted(pods)) or "none")
PY
}
expect_eq "pod before the reload" "$(pod_of "$s1")" before-0
expect_eq "pod after the reload" "$(pod_of "$s2")" after-0
expect_eq "pod after a broken inventory" "$(pod_of "$s3")" after-0
expect_eq "pod after SIGHUP" "$(pod_of "$s4")" hup-0
