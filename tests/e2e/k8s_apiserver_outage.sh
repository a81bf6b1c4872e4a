#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Kubernetes client: the API server answers 503 with Retry-After: 4 for eight seconds. The
# last view stays in use (flows during the outage are labelled, synced stays 1), the
# client waits at least Retry-After between attempts, and after the outage it resumes its
# watches without relisting and picks up what changed.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/k8s_lib.sh"
k8s_scenario
k8s_scenario_conf ""
k8s_scenario_start
flow_labelled 40001 127.0.0.2 client-0

R0=$(lf_counter kubernetes.relists)
E0=$(lf_counter kubernetes.events)
C0=$(k8s_committed)
S0=$(k8s_stat 'j["codes"].get("503", 0)')
T0=$(k8s_ctl '{"op":"pause","mode":"503","retry_after":4,"duration_ms":8000,
	"drop_watches":true}' | jget 'j["time_ms"]')
T1=$((T0 + 8000))
sleep 0.5
flow_labelled 40002 127.0.0.2 client-0
expect_eq "kubernetes.synced during the outage" "$(lf_counter kubernetes.synced)" 1
mkobj pod shop late-0 127.0.0.4 --node node-1 --owner StatefulSet/late --label app=late |
	k8s_change add >/dev/null
[ "$(now_ms)" -lt "$T1" ] || fail "the checks during the outage took too long"
check --where sourceTransportPort=40002 --after "$T0" --before "$T1" \
	--expect sourcePodName=client-0 >/dev/null ||
	fail "no labelled record received during the outage"
resumed() { [ "$(k8s_stat 'j["paused"]')" = None ]; }
wait_for 10 resumed || fail "the server did not resume"
N503=$(($(k8s_stat 'j["codes"].get("503", 0)') - S0))
# Seven resources: each first retries after the cut (<= 1 s), then at most once per
# Retry-After (4 s) until the outage ends at 8 s: at most 3 each. Ignoring Retry-After, a
# 200 ms doubling backoff alone would try 5 or 6 times each.
[ "$N503" -ge 7 ] || fail "only $N503 requests got 503"
[ "$N503" -le 21 ] || fail "$N503 requests in an 8 s outage with Retry-After: 4"
echo "ok: $N503 requests answered 503 over $((T1 - T0)) ms (Retry-After: 4)"
lf_settle
wait_for 5 lf_counter_ge kubernetes.events $((E0 + 1)) ||
	fail "the change made during the outage was lost"
expect_eq "events after the outage = commits" "$(($(lf_counter kubernetes.events) - E0))" \
	"$(($(k8s_committed) - C0))"
expect_eq "relists after the outage" "$(lf_counter kubernetes.relists)" "$R0"
flow_labelled 40003 127.0.0.4 late-0
lf_stop
expect_eq "kubernetes.synced at exit" "$(kv kubernetes.synced "$T/lf.stats")" 1
