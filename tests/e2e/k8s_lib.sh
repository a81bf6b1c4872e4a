# SPDX-License-Identifier: Apache-2.0
# Helpers of the Kubernetes-source tests, sourced after lib.sh: the fake API server
# (tests/fakes/fake_apiserver.py) and its control port, object building, labelflowd's
# periodic counters, and a UDP IPFIX collector that records when each message arrived.

K8S_FAKE=$top_srcdir/tests/fakes/fake_apiserver.py
K8S_OBJECTS=$top_srcdir/tests/fakes/k8s_objects.py
K8S_RECORDS=$top_srcdir/tests/tools/ipfix-records.py
K8S_COLLECTOR=$top_srcdir/tests/fakes/ipfix_udp_collector.py
K8S_TRAFFIC=$top_srcdir/tests/tools/udp-traffic.py
K8S_FIXTURES=${K8S_FIXTURES:-/work/shared/fixtures/k8s}
K8S_NS=${K8S_NS:-} # network namespace the server, collector and daemon run in ("": this one)

# k8s_in CMD...: run CMD in $K8S_NS.
k8s_in() {
	if [ -n "$K8S_NS" ]; then ip netns exec "$K8S_NS" "$@"; else "$@"; fi
}

# k8s_bg CMD...: bg CMD in $K8S_NS. (Not "bg k8s_in": a function would run in a subshell,
# and stopping the subshell at exit would leave CMD running.)
k8s_bg() {
	if [ -n "$K8S_NS" ]; then bg ip netns exec "$K8S_NS" "$@"; else bg "$@"; fi
}

# k8s_start DIR ARGS...: start the fake API server (work files in DIR, log in DIR.log) and
# wait for READY; sets K8S_PORT, K8S_CTL, K8S_DIR, K8S_KUBECONFIG.
k8s_start() {
	K8S_DIR=$1
	shift
	mkdir -p "$K8S_DIR"
	k8s_bg python3 "$K8S_FAKE" --dir "$K8S_DIR" "$@" >"$K8S_DIR.ready" 2>"$K8S_DIR.log"
	wait_for 30 grep -q '^READY ' "$K8S_DIR.ready" ||
		fail "fake API server did not start: $(cat "$K8S_DIR.log")"
	K8S_PORT=$(sed -n 's/^READY port=\([0-9]*\) .*/\1/p' "$K8S_DIR.ready")
	K8S_CTL=$(sed -n 's/^READY .*control=\([0-9]*\) .*/\1/p' "$K8S_DIR.ready")
	K8S_KUBECONFIG=$(sed -n 's/^READY .*kubeconfig=\(.*\)$/\1/p' "$K8S_DIR.ready")
	[ -n "$K8S_PORT" ] && [ -n "$K8S_CTL" ] && [ -f "$K8S_KUBECONFIG" ] ||
		fail "bad READY line: $(cat "$K8S_DIR.ready")"
}

# k8s_ctl JSON: one control command; prints the answer, fails on an error answer.
k8s_ctl() {
	k8s_in curl -sS --fail-with-body -X POST --data-binary "$1" \
		"http://127.0.0.1:$K8S_CTL/" || fail "control command failed: $1"
}

# k8s_stat PY-EXPR: jget PY-EXPR over the server's /stats object.
k8s_stat() {
	k8s_in curl -sS --fail "http://127.0.0.1:$K8S_CTL/stats" | jget "$1"
}

# mkobj KIND ARGS...: one object line (see tests/fakes/k8s_objects.py --help).
mkobj() {
	python3 "$K8S_OBJECTS" "$@" || fail "k8s_objects.py $*"
}

# k8s_change OP: apply the object lines on stdin (add, modify or apply, one batch);
# prints the change's wall-clock time in ms.
k8s_change() {
	k8s_ctl "$(python3 "$K8S_OBJECTS" op "$1")" | jget 'j["time_ms"]'
}

# The resources labelflowd lists and watches.
K8S_WATCHED="pods services nodes namespaces endpointslices replicasets jobs"

# k8s_committed: events the server committed on the watched resources so far.
k8s_committed() {
	k8s_stat "sum(j['committed'].get(r, 0) for r in '$K8S_WATCHED'.split())"
}

# k8s_lists: LIST requests (first pages) on the watched resources so far.
k8s_lists() {
	k8s_stat "sum(j['lists'].get(r, 0) for r in '$K8S_WATCHED'.split())"
}

# ---- labelflowd -------------------------------------------------------------------

# lf_counter NAME: the newest periodic "counter NAME=V" value in $LF_LOG (empty if none).
lf_counter() {
	grep -o "counter $1=[0-9]*" "$LF_LOG" 2>/dev/null | tail -n 1 | cut -d= -f2
}

# lf_counter_ge NAME MIN: the newest value of NAME is at least MIN.
lf_counter_ge() {
	v=$(lf_counter "$1")
	[ -n "$v" ] && [ "$v" -ge "$2" ]
}

# lf_counter_ms NAME MIN: wall-clock ms of the first log line showing NAME >= MIN.
lf_counter_ms() {
	python3 - "$LF_LOG" "$1" "$2" <<'EOF'
import datetime, re, sys
pat = re.compile(r"^(\S+)Z labelflowd\[\w+\]: counter " + re.escape(sys.argv[2]) + r"=(\d+)$")
for line in open(sys.argv[1], errors="replace"):
    m = pat.match(line.strip())
    if m and int(m.group(2)) >= int(sys.argv[3]):
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
        print(int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000))
        break
EOF
}

# now_ms: wall clock in ms.
now_ms() {
	python3 -c 'import time; print(int(time.time() * 1000))'
}

# lf_need_k8s: skip unless labelflowd has the Kubernetes source.
lf_need_k8s() {
	"$LABELFLOWD" --help 2>&1 | grep -q -- --kubeconfig ||
		skip "labelflowd has no --kubeconfig option yet"
	printf 'kubernetes: { enabled = true; cluster_name = "probe"; };\n' >"$T/probe.conf"
	"$LABELFLOWD" --check-config -c "$T/probe.conf" >"$T/probe.out" 2>&1 ||
		skip "labelflowd lacks the kubernetes settings: $(head -c 300 "$T/probe.out")"
}

# lf_start_k8s CONF EXTRA-ARGS...: start labelflowd in $K8S_NS (with the NAME=VALUE
# words of $LF_ENV in its environment), exporting to the collector; sets LF_PID and
# LF_LOG (a new one each start); waits for the first sync.
lf_start_k8s() {
	lf_conf=$1
	shift
	LF_RUN=$((${LF_RUN:-0} + 1))
	LF_LOG=$T/lf.$LF_RUN.log
	# shellcheck disable=SC2086
	k8s_bg env ${LF_ENV:-} "$LABELFLOWD" -c "$lf_conf" -e "udp:127.0.0.1:$COLLECTOR_PORT" \
		--stats-file "$T/lf.stats" --log-level info "$@" 2>"$LF_LOG"
	LF_PID=$LF_LAST_PID
	wait_for 20 lf_counter_ge kubernetes.synced 1 ||
		fail "labelflowd did not sync with the API server: $(tail -n 30 "$LF_LOG")"
}

# lf_stop: SIGTERM labelflowd, wait, require exit 0 and the stats file.
lf_stop() {
	kill -TERM "$LF_PID"
	lf_rc=0
	wait "$LF_PID" || lf_rc=$?
	[ "$lf_rc" = 0 ] || fail "labelflowd exited with $lf_rc: $(tail -n 30 "$LF_LOG")"
	[ -s "$T/lf.stats" ] || fail "no stats file"
}

# ---- collector --------------------------------------------------------------------

# collector_start PORT: IPFIX over UDP into $T/flows.ipfix, arrival times in
# $T/flows.ipfix.arrivals; runs in $K8S_NS.
collector_start() {
	COLLECTOR_PORT=$1
	k8s_bg python3 "$K8S_COLLECTOR" "$COLLECTOR_PORT" "$T/flows.ipfix"
	wait_for 10 test -e "$T/flows.ipfix.ready" || fail "collector did not start"
}

# records: decode every message received so far into $T/records.jsonl (one flow record a
# line, with its message's arrival_ms). Only messages the arrivals file lists are read, so a
# message being written is never half-decoded.
records() {
	awk 'NF == 3' "$T/flows.ipfix.arrivals" >"$T/snap.arrivals"
	head -c "$(awk '{ n += $3 } END { print n + 0 }' "$T/snap.arrivals")" "$T/flows.ipfix" \
		>"$T/snap.ipfix"
	ipfixDump --rfc5610 -i "$T/snap.ipfix" >"$T/flows.dump" 2>"$T/flows.dump.err" ||
		fail "ipfixDump: $(cat "$T/flows.dump.err")"
	python3 "$K8S_RECORDS" decode "$T/flows.dump" "$T/snap.arrivals" >"$T/records.jsonl" ||
		fail "cannot decode the ipfixDump output"
}

# check ARGS...: ipfix-records.py check over $T/records.jsonl (see its --help).
check() {
	python3 "$K8S_RECORDS" check "$T/records.jsonl" "$@"
}

# ---- the protocol scenarios (k8s_relist_410.sh, k8s_continue_410.sh, ...) ----------------
# One private namespace; its loopback carries everything: the fake API server, the
# collector, and "pods" client-0 (127.0.0.2) -> server-0 (127.0.0.3:5000) that labelflowd
# captures on lo. Extra objects for the state come from the function named in
# $K8S_EXTRA_OBJECTS (if set).

k8s_scenario_cleanup() {
	ip netns del "$K8S_NS" 2>/dev/null || true
}

# k8s_scenario SERVER-ARGS...: namespace, state, server, collector and UDP sink.
k8s_scenario() {
	need_root
	need ip curl openssl python3 ipfixDump
	lf_need_k8s
	K8S_NS=lf-k8s-p-$$
	ip netns add "$K8S_NS" || skip "cannot create network namespaces"
	LF_CLEANUPS="$LF_CLEANUPS k8s_scenario_cleanup"
	ip -n "$K8S_NS" link set lo up
	{
		mkobj node node-1 --ip 172.18.0.11 --zone zone-a --region region-1
		mkobj namespace shop
		mkobj pod shop client-0 127.0.0.2 --node node-1 --owner StatefulSet/client \
			--label app=client
		mkobj pod shop server-0 127.0.0.3 --node node-1 --owner StatefulSet/server \
			--label app=server
		[ -z "${K8S_EXTRA_OBJECTS:-}" ] || "$K8S_EXTRA_OBJECTS"
	} | python3 "$K8S_OBJECTS" state >"$T/state.json"
	k8s_start "$T/k8s" --state "$T/state.json" --seed $$ "$@"
	collector_start 4739
	k8s_bg python3 "$K8S_TRAFFIC" sink 127.0.0.3 5000 "$T/sink.ready"
	wait_for 10 test -e "$T/sink.ready" || fail "UDP sink did not start"
}

# k8s_scenario_conf EXTRA-KUBERNETES-SETTINGS: $T/lf.conf for the scenarios.
k8s_scenario_conf() {
	cat >"$T/lf.conf" <<CONF
capture: { exclude = [ ]; filter = "udp and dst port 5000"; };
flow: { idle_timeout_ms = 1000; active_timeout_ms = 1000; };
kubernetes: {
	enabled = true;
	cluster_name = "test";
	label_keys = [ "app" ];
	tombstone_ms = 60000;
	sync_timeout_ms = 10000;
	$1
};
daemon: { stats_interval_ms = 100; };
CONF
}

# k8s_scenario_start [KUBECONFIG]: labelflowd on lo with that kubeconfig (default: the
# server's, static token; "-": none, in-cluster); waits for the first sync.
k8s_scenario_start() {
	if [ "${1:-}" = - ]; then
		lf_start_k8s "$T/lf.conf" -i lo --backend pcap
	else
		lf_start_k8s "$T/lf.conf" -i lo --backend pcap --kubeconfig "${1:-$K8S_KUBECONFIG}"
	fi
}

# flow_labelled SPORT SRC POD [CHECK-ARGS...]: three datagrams SRC:SPORT -> server-0; the
# records of that flow (all of them) name POD as the source, server-0 as the destination.
flow_labelled() {
	lf_fl_sport=$1
	lf_fl_src=$2
	lf_fl_pod=$3
	shift 3
	k8s_in python3 "$K8S_TRAFFIC" send 127.0.0.3 5000 --src "$lf_fl_src" \
		--sport "$lf_fl_sport" --count 3 --interval-ms 20 >/dev/null || fail "UDP send"
	lf_fl_seen() {
		records
		check --where sourceTransportPort="$lf_fl_sport" >/dev/null 2>&1
	}
	wait_for 10 lf_fl_seen || fail "no record of the flow from $lf_fl_src:$lf_fl_sport"
	check --where sourceTransportPort="$lf_fl_sport" --expect sourcePodName="$lf_fl_pod" \
		--expect sourcePodNamespace=shop --expect sourceClusterName=test \
		--expect destinationPodName=server-0 "$@" >/dev/null ||
		fail "flow from $lf_fl_src:$lf_fl_sport: $(check --where \
			sourceTransportPort="$lf_fl_sport" --expect sourcePodName="$lf_fl_pod" \
			--expect destinationPodName=server-0 "$@" 2>&1)"
	echo "ok: flow from $lf_fl_src:$lf_fl_sport labelled $lf_fl_pod -> server-0"
}

# watches_open N: the server has N watches open.
watches_open() {
	[ "$(k8s_stat 'sum(j["watch_open"].values())')" = "$1" ]
}

# lf_settle: wait until labelflowd has every watch open again (7).
lf_settle() {
	wait_for 20 watches_open 7 || fail "labelflowd did not re-establish its 7 watches: \
$(k8s_stat 'j["watch_open"]'); $(tail -n 20 "$LF_LOG")"
}
