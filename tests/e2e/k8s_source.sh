#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Labels from the Kubernetes API, live. A node namespace wired like the CNI bridge plugin
# (cni0 10.244.0.1/24, one veth per pod namespace) runs the fake API server, an IPFIX
# collector and labelflowd capturing 'veth*'. The server lists pods with exactly the pods'
# addresses; both ends of every record must carry the right namespace, pod, workload,
# service, node and zone. Then a pod is added, one deleted mid-flow, and its address reused
# by a new pod: flows carry the new labels within one second of each change, and the flow
# that started before the deletion keeps the deleted pod's labels.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/k8s_lib.sh"
need_root
need ip ping curl openssl python3 ipfixDump
lf_need_k8s

NODE=lf-k8s-node-$$
K8S_NS=$NODE
PODS="a b c d e"
K8S_NETNS=""
k8s_netns_cleanup() {
	for ns in $K8S_NETNS; do ip netns del "$ns" 2>/dev/null || true; done
}
LF_CLEANUPS="$LF_CLEANUPS k8s_netns_cleanup"

# NAME: a namespace without IPv6 chatter, loopback up, removed at exit. Fresh ephemeral
# source ports never take the test's fixed ones (41000-42999).
netns_add() {
	ip netns add "$1" || skip "cannot create network namespace '$1'"
	K8S_NETNS="$1 $K8S_NETNS"
	ip netns exec "$1" sysctl -qw net.ipv4.ip_local_reserved_ports=41000-42999 \
		net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null
	ip -n "$1" link set lo up
}
pns() { echo "lf-k8s-$1-$$"; }                                    # pod namespace
pveth() { echo "veth$(printf '%s' "$NODE-$1" | md5sum | cut -c1-8)"; } # host side
in_pod() { # POD CMD...
	p=$1
	shift
	ip netns exec "$(pns "$p")" "$@"
}

# ---------------------------------------------------------------------------- topology
# Every pod namespace exists from the start (the sandbox precedes the API's pod IP); d and
# e get their address when the test says so. e will reuse c's address.
netns_add "$NODE"
ip -n "$NODE" link add cni0 type bridge mcast_snooping 0
ip -n "$NODE" addr add 10.244.0.1/24 dev cni0
ip -n "$NODE" link set cni0 up
for p in $PODS; do
	netns_add "$(pns "$p")"
	ip -n "$NODE" link add "$(pveth "$p")" type veth peer name eth0 netns "$(pns "$p")"
	ip -n "$NODE" link set "$(pveth "$p")" master cni0
	ip -n "$NODE" link set "$(pveth "$p")" up
done
pod_up() { # POD IP: give the pod its address and bring its eth0 up
	in_pod "$1" ip addr add "$2/24" dev eth0
	in_pod "$1" ip link set eth0 up
	in_pod "$1" ip route add default via 10.244.0.1
	wait_for 10 sh -c "ip -n $NODE -o link show $(pveth "$1") | grep -q LOWER_UP" ||
		fail "$(pveth "$1") never came up"
}
A=10.244.0.2
B=10.244.0.3
C=10.244.0.4
D=10.244.0.5
E=$C
pod_up a $A
pod_up b $B
pod_up c $C
for p in a b; do
	bg ip netns exec "$(pns "$p")" python3 "$K8S_TRAFFIC" sink 0.0.0.0 5000 "$T/sink.$p"
	wait_for 10 test -e "$T/sink.$p" || fail "UDP sink in pod $p did not start"
done

# ---------------------------------------------------------------------------- the cluster
POD_A=web-5d8f7c9b4-x1a2b
POD_B=db-0
POD_C=report-28374650-q7m2x
POD_D=web-5d8f7c9b4-k9z8y
POD_E=api-6c7b9d8f5-p2q4r
pod_a() { mkobj pod shop $POD_A $A --node node-1 --owner ReplicaSet/web-5d8f7c9b4 \
	--label app=web --label pod-template-hash=5d8f7c9b4; }
pod_b() { mkobj pod shop $POD_B $B --node node-2 --owner StatefulSet/db --label app=db; }
pod_c() { mkobj pod batch $POD_C $C --node node-1 --owner Job/report-28374650 \
	--label app=report; }
pod_d() { mkobj pod shop $POD_D $D --node node-1 --owner ReplicaSet/web-5d8f7c9b4 \
	--label app=web --label pod-template-hash=5d8f7c9b4; }
pod_e() { mkobj pod shop $POD_E $E --node node-2 --owner ReplicaSet/api-6c7b9d8f5 \
	--label app=api --label pod-template-hash=6c7b9d8f5; }
slice_web() { # ENDPOINT...: the web service's EndpointSlice with these endpoints
	mkobj endpointslice shop web-7xk2p --service web --port 8080 "$@"
}
{
	mkobj node node-1 --ip 172.18.0.11 --zone zone-a --region region-1 --pod-cidr 10.244.0.0/24
	mkobj node node-2 --ip 172.18.0.12 --zone zone-b --region region-1 --pod-cidr 10.244.1.0/24
	for n in default kube-system shop batch; do mkobj namespace $n; done
	mkobj replicaset shop web-5d8f7c9b4 --owner Deployment/web --label app=web
	mkobj replicaset shop api-6c7b9d8f5 --owner Deployment/api --label app=api
	mkobj job batch report-28374650 --owner CronJob/report
	mkobj service shop web --cluster-ip 10.96.0.50 --selector app=web --port 8080
	mkobj service shop db --cluster-ip 10.96.0.60 --selector app=db --port 5432
	slice_web --endpoint "$A=$POD_A@node-1,zone-a"
	mkobj endpointslice shop db-q8m4n --service db --port 5432 \
		--endpoint "$B=$POD_B@node-2,zone-b"
	pod_a
	pod_b
	pod_c
} | python3 "$K8S_OBJECTS" state >"$T/state.json"
uid_of() { # NS NAME: the uid the object builder gives pod NS/NAME
	python3 -c 'import sys, uuid
print(uuid.uuid5(uuid.NAMESPACE_URL, "k8s/Pod/%s/%s" % (sys.argv[1], sys.argv[2])))' "$1" "$2"
}

k8s_start "$T/k8s" --state "$T/state.json" --seed $$
collector_start 4739
cat >"$T/lf.conf" <<EOF
flow: { idle_timeout_ms = 1000; active_timeout_ms = 1000; };
kubernetes: {
	enabled = true;
	kubeconfig = "$K8S_KUBECONFIG";
	cluster_name = "test";
	label_keys = [ "app" ];
	tombstone_ms = 60000;
	sync_timeout_ms = 10000;
};
daemon: { stats_interval_ms = 100; };
EOF
lf_start_k8s "$T/lf.conf" -i 'veth*' --backend pcap --kubeconfig "$K8S_KUBECONFIG"
E0=$(lf_counter kubernetes.events)
C0=$(k8s_committed)
echo "ok: labelflowd synced with the API server (events $E0, server commits $C0)"

# Labels of each pod, as --expect arguments for side S (source or destination).
labels_a() { echo "--expect ${1}ClusterName=test --expect ${1}PodNamespace=shop
	--expect ${1}PodName=$POD_A --expect ${1}PodUid=$(uid_of shop $POD_A)
	--expect ${1}WorkloadKind=Deployment --expect ${1}WorkloadName=web
	--expect ${1}ReplicaSetName=web-5d8f7c9b4 --expect ${1}ServiceName=web
	--expect ${1}NodeName=node-1 --expect ${1}Zone=zone-a --expect ${1}Region=region-1
	--expect ${1}PodLabels={\"app\":\"web\"} --expect ${1}EntityKind=pod"; }
labels_b() { echo "--expect ${1}ClusterName=test --expect ${1}PodNamespace=shop
	--expect ${1}PodName=$POD_B --expect ${1}WorkloadKind=StatefulSet
	--expect ${1}WorkloadName=db --expect ${1}ServiceName=db --expect ${1}NodeName=node-2
	--expect ${1}Zone=zone-b --expect ${1}PodLabels={\"app\":\"db\"}"; }
labels_c() { echo "--expect ${1}PodNamespace=batch --expect ${1}PodName=$POD_C
	--expect ${1}WorkloadKind=CronJob --expect ${1}WorkloadName=report
	--expect ${1}ServiceName= --expect ${1}NodeName=node-1 --expect ${1}Zone=zone-a"; }
labels_d() { echo "--expect ${1}PodNamespace=shop --expect ${1}PodName=$POD_D
	--expect ${1}WorkloadKind=Deployment --expect ${1}WorkloadName=web
	--expect ${1}ServiceName=web --expect ${1}NodeName=node-1 --expect ${1}Zone=zone-a"; }
labels_e() { echo "--expect ${1}PodNamespace=shop --expect ${1}PodName=$POD_E
	--expect ${1}WorkloadKind=Deployment --expect ${1}WorkloadName=api
	--expect ${1}ReplicaSetName=api-6c7b9d8f5 --expect ${1}ServiceName=
	--expect ${1}NodeName=node-2 --expect ${1}Zone=zone-b
	--expect ${1}PodLabels={\"app\":\"api\"}"; }

# udp POD DST SPORT COUNT INTERVAL_MS: datagrams to DST:5000 (SPORT 0: a new flow each).
udp() {
	in_pod "$1" python3 "$K8S_TRAFFIC" send "$2" 5000 --sport "$3" --count "$4" \
		--interval-ms "$5" >/dev/null || fail "UDP from pod $1 to $2 failed"
}
# udp_bg ARGS...: udp in the background; sets SENDER.
udp_bg() {
	bg ip netns exec "$(pns "$1")" python3 "$K8S_TRAFFIC" send "$2" 5000 --sport "$3" \
		--count "$4" --interval-ms "$5" >/dev/null
	SENDER=$LF_LAST_PID
}
# seen WHERE...: at least one record matching WHERE has been received.
seen() {
	records
	check "$@" >/dev/null 2>&1
}
# expect_labels WHAT CHECK-ARGS...: check, with a message.
expect_labels() {
	what=$1
	shift
	n=$(check "$@") || fail "$what: $(check "$@" 2>&1)"
	echo "ok: $what ($n records)"
}

# ---------------------------------------------------------------------------- 1: both ends
udp a $B 41000 5 20
udp c $A 41001 5 20
udp c 10.96.0.50 41002 3 20
in_pod a ping -q -c 3 -i 0.05 -W 2 $B >/dev/null || fail "ping a -> b"
wait_for 10 seen --where sourceTransportPort=41000 || fail "no record of a -> b"
wait_for 10 seen --where sourceTransportPort=41001 || fail "no record of c -> a"
wait_for 10 seen --where sourceTransportPort=41002 || fail "no record of c -> ClusterIP"
wait_for 10 seen --where sourceIPv4Address=$B --where protocolIdentifier=1 ||
	fail "no record of the echo replies"
# shellcheck disable=SC2046
{
	expect_labels "a -> b: source labels" --where sourceTransportPort=41000 $(labels_a source)
	expect_labels "a -> b: destination labels" --where sourceTransportPort=41000 \
		$(labels_b destination)
	expect_labels "ping a -> b" --where sourceIPv4Address=$A --where protocolIdentifier=1 \
		$(labels_a source) $(labels_b destination)
	expect_labels "echo reply b -> a" --where sourceIPv4Address=$B \
		--where protocolIdentifier=1 $(labels_b source) $(labels_a destination)
	expect_labels "c (a CronJob's pod) -> a" --where sourceTransportPort=41001 \
		$(labels_c source) $(labels_a destination)
	expect_labels "c -> the web ClusterIP" --where sourceTransportPort=41002 \
		$(labels_c source) --expect destinationServiceName=web \
		--expect destinationPodNamespace=shop --expect destinationEntityKind=service \
		--expect destinationPodName=
}

# ---------------------------------------------------------------------------- 2: a new pod
# d sends one flow every 50 ms for 6 s; after 3 s the API learns about it (and the web
# EndpointSlice gains it). Records received before the change have no pod; records
# received from one second after it on carry d's labels.
pod_up d $D
udp_bg d $A 0 120 50
sleep 3
E1=$(lf_counter kubernetes.events)
T1=$( {
	pod_d
	slice_web --endpoint "$A=$POD_A@node-1,zone-a" --endpoint "$D=$POD_D@node-1,zone-a"
} | k8s_change apply)
wait "$SENDER" || fail "sender in pod d"
wait_for 10 seen --where sourceIPv4Address=$D --after $((T1 + 2500)) ||
	fail "no record from d after the change"
# shellcheck disable=SC2046
{
	expect_labels "d before it was in the API: no pod" --where sourceIPv4Address=$D \
		--before "$T1" --expect sourcePodName=
	expect_labels "d one second after ADDED" --where sourceIPv4Address=$D \
		--after $((T1 + 1000)) $(labels_d source) $(labels_a destination)
}
# For the log: when the counters (reported once a second, with the flow ticks) first
# showed the events, and when the first labelled record arrived.
FIRST=$(check --where sourceIPv4Address=$D --where sourcePodName=$POD_D --first)
APPLIED=$(lf_counter_ms kubernetes.events $((E1 + 2)))
[ -n "$APPLIED" ] && [ $((APPLIED - T1)) -le 2000 ] ||
	fail "the ADDED and MODIFIED events were not reported by the next tick (${APPLIED:-never})"
echo "ok: new pod: events reported after $((APPLIED - T1)) ms," \
	"first labelled record after $((FIRST - T1)) ms"

# ---------------------------------------------------------------------------- 3: deletion
# One long flow c -> b (20 datagrams/s for 4 s, reported every second); c is deleted
# gracefully 1.5 s in (MODIFIED with deletionTimestamp, then DELETED). Every report of
# the flow, also those sent after the deletion, carries c's labels.
udp_bg c $B 42000 80 50
sleep 1.5
E2=$(lf_counter kubernetes.events)
T2=$(k8s_ctl "{\"op\":\"delete\",\"resource\":\"pods\",\"namespace\":\"batch\",
	\"name\":\"$POD_C\",\"grace\":true}" | jget 'j["time_ms"]')
wait "$SENDER" || fail "sender in pod c"
# reported N: the c -> b flow's records count exactly N packets: N/2 received on c's veth,
# N/2 sent on b's, none anywhere else. The flow is matched by its whole 5-tuple, as d's
# fresh ephemeral source ports (section 2) may include 42000. Counts only grow: a count
# above N never becomes N, and the wait fails. Sets REPORTED to the counts seen last.
reported() {
	rep_n=$1
	records
	set -- --where sourceIPv4Address=$C --where destinationIPv4Address=$B \
		--where protocolIdentifier=17 --where sourceTransportPort=42000 \
		--where destinationTransportPort=5000 --min 0 --sum packetDeltaCount
	rep_all=$(check "$@" 2>/dev/null) || return 1
	rep_in=$(check "$@" --where interfaceName="$(pveth c)" --where flowDirection=0 \
		2>/dev/null) || return 1
	rep_out=$(check "$@" --where interfaceName="$(pveth b)" --where flowDirection=1 \
		2>/dev/null) || return 1
	REPORTED="$rep_all packets: $rep_in received on c's veth, $rep_out sent on b's"
	[ "$rep_all" = "$rep_n" ] && [ "$rep_in" = $((rep_n / 2)) ] &&
		[ "$rep_out" = $((rep_n / 2)) ]
}
REPORTED="no record yet"
wait_for 10 reported 160 || fail "the c -> b flow was not counted exactly: $REPORTED" \
	"(want 2 x 80)"
# shellcheck disable=SC2046
{
	expect_labels "c -> b reported after c's deletion" --where sourceTransportPort=42000 \
		--after $((T2 + 1000)) $(labels_c source) $(labels_b destination)
	expect_labels "c -> b, every report" --where sourceTransportPort=42000 --min 3 \
		$(labels_c source)
}
APPLIED=$(lf_counter_ms kubernetes.events $((E2 + 2)))
[ -n "$APPLIED" ] && [ $((APPLIED - T2)) -le 2000 ] ||
	fail "the deletion was not reported by the next tick (${APPLIED:-never})"
echo "ok: deletion reported after $((APPLIED - T2)) ms"

# ---------------------------------------------------------------------------- 4: IP reuse
# c's sandbox is gone; e gets the same address. e sends one flow every 50 ms for 6 s; after
# 3 s the API has e. Before: the address still carries the deleted c's labels (tombstone);
# from one second after the change: e's.
in_pod c ip addr flush dev eth0
in_pod c ip link set eth0 down
in_pod a ip neigh flush all
pod_up e $E
udp_bg e $A 0 120 50
sleep 3
E3=$(lf_counter kubernetes.events)
T3=$(pod_e | k8s_change add)
wait "$SENDER" || fail "sender in pod e"
wait_for 10 seen --where sourceIPv4Address=$E --where destinationIPv4Address=$A \
	--after $((T3 + 2500)) || fail "no record from e after the change"
# shellcheck disable=SC2046
{
	expect_labels "reused address before e's ADDED: the deleted c (tombstone)" \
		--where sourceIPv4Address=$E --where destinationIPv4Address=$A --before "$T3" \
		--expect sourcePodName=$POD_C --expect sourcePodNamespace=batch
	expect_labels "reused address one second after e's ADDED: e" \
		--where sourceIPv4Address=$E --where destinationIPv4Address=$A \
		--after $((T3 + 1000)) $(labels_e source) $(labels_a destination)
}
FIRST=$(check --where sourceIPv4Address=$E --where sourcePodName=$POD_E --first)
APPLIED=$(lf_counter_ms kubernetes.events $((E3 + 1)))
[ -n "$APPLIED" ] && [ $((APPLIED - T3)) -le 2000 ] ||
	fail "e's ADDED was not reported by the next tick (${APPLIED:-never})"
echo "ok: IP reuse: event reported after $((APPLIED - T3)) ms," \
	"first labelled record after $((FIRST - T3)) ms"

# ---------------------------------------------------------------------------- counters
COMMITTED=$(($(k8s_committed) - C0))
expect_eq "changes the server committed (d, slice, c twice, e)" "$COMMITTED" 5
sleep 1.5
lf_stop
st=$T/lf.stats
expect_eq "kubernetes.synced" "$(kv kubernetes.synced "$st")" 1
expect_eq "kubernetes.events: every committed change, once" \
	"$(($(kv kubernetes.events "$st") - E0))" "$COMMITTED"
expect_eq "kubernetes.relists" "$(kv kubernetes.relists "$st")" 0
all_received() {
	records
	[ "$(wc -l <"$T/records.jsonl")" = "$(kv export.records "$st")" ]
}
wait_for 5 all_received || true
expect_eq "export.records = records the collector decoded" "$(kv export.records "$st")" \
	"$(wc -l <"$T/records.jsonl")"
expect_eq "export.labelled_src = records with any source label" \
	"$(kv export.labelled_src "$st")" "$(python3 -c 'import json, sys
dims = ("ClusterName PodNamespace PodName PodUid NodeName WorkloadKind WorkloadName "
        "ReplicaSetName ServiceName PodLabels Zone Region VpcId SubnetId VmName InstanceId "
        "EntityKind").split()
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    n += any(r.get("source" + d) for d in dims)
print(n)' "$T/records.jsonl")"
[ ! -e "$T/flows.ipfix.rejected" ] || fail "the collector got non-IPFIX datagrams"
