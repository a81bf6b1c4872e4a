#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Kubernetes client: the API server restarts. Every watch is cut with a TCP reset, new
# connections are reset for two seconds, and changes are committed meanwhile (etcd lives
# on). labelflowd reconnects with backoff (a bounded number of attempts, not a hot loop),
# resumes each watch from its last resourceVersion and gets every change exactly once,
# without relisting. A cut mid-event (FIN without the chunked terminator) is survived too.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/k8s_lib.sh"
k8s_scenario
k8s_scenario_conf ""
k8s_scenario_start
flow_labelled 40001 127.0.0.2 client-0 --expect sourcePodLabels='{"app":"client"}'

R0=$(lf_counter kubernetes.relists)
E0=$(lf_counter kubernetes.events)
C0=$(k8s_committed)
X0=$(k8s_stat 'j["refused"]')
k8s_ctl '{"op":"restart","down_ms":2000}' >/dev/null
# While it is down: a new pod, a label change, a deletion.
mkobj pod shop late-0 127.0.0.4 --node node-1 --owner StatefulSet/late --label app=late |
	k8s_change add >/dev/null
k8s_ctl '{"op":"patch","resource":"pods","namespace":"shop","name":"client-0",
	"merge":{"metadata":{"labels":{"app":"client-v2"}}}}' >/dev/null
mkobj pod shop gone-0 127.0.0.5 --node node-1 --label app=gone | k8s_change add >/dev/null
k8s_ctl '{"op":"delete","resource":"pods","namespace":"shop","name":"gone-0"}' >/dev/null
sleep 2
lf_settle
REFUSED=$(($(k8s_stat 'j["refused"]') - X0))
[ "$REFUSED" -ge 1 ] || fail "labelflowd never tried to reconnect while the server was down"
[ "$REFUSED" -le 70 ] || fail "$REFUSED connection attempts in 2 s for 7 watches: no backoff"
echo "ok: $REFUSED connection attempts while down (backoff)"
wait_for 5 lf_counter_ge kubernetes.events $((E0 + 4)) || fail "events lost over the restart"
sleep 0.5
expect_eq "events over the restart = commits" "$(($(lf_counter kubernetes.events) - E0))" \
	"$(($(k8s_committed) - C0))"
expect_eq "relists over the restart" "$(lf_counter kubernetes.relists)" "$R0"
flow_labelled 40002 127.0.0.4 late-0
flow_labelled 40003 127.0.0.2 client-0 --expect sourcePodLabels='{"app":"client-v2"}'

# The same with watches closed by FIN in the middle of the stream's chunked encoding.
E0=$(lf_counter kubernetes.events)
C0=$(k8s_committed)
k8s_ctl '{"op":"close-watches","how":"fin"}' >/dev/null
k8s_ctl '{"op":"patch","resource":"pods","namespace":"shop","name":"client-0",
	"merge":{"metadata":{"labels":{"app":"client-v3"}}}}' >/dev/null
lf_settle
wait_for 5 lf_counter_ge kubernetes.events $((E0 + 1)) || fail "event lost after a FIN"
expect_eq "relists after a FIN" "$(lf_counter kubernetes.relists)" "$R0"
flow_labelled 40004 127.0.0.2 client-0 --expect sourcePodLabels='{"app":"client-v3"}'
lf_stop
expect_eq "kubernetes.events at exit = all commits" \
	"$(kv kubernetes.events "$T/lf.stats")" "$(($(k8s_committed)))"
