#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Kubernetes client: a compacted resourceVersion forces a relist, however the server says
# it: an ERROR 410 event in an open watch, or HTTP 410 for the next watch. Each relists
# exactly the expired resource once, changes made while the watch was gone are picked up
# by the relist, and the watch resumes after it (later events still label flows).
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/k8s_lib.sh"
k8s_scenario
k8s_scenario_conf ""
k8s_scenario_start
flow_labelled 40001 127.0.0.2 client-0 --expect sourcePodLabels='{"app":"client"}'

# 1: ERROR 410 in the open pods watch. The label change committed together with the
# compaction is never sent on the ending watch, and the old RV cannot be resumed: only the
# relist can show it.
R0=$(lf_counter kubernetes.relists)
E0=$(lf_counter kubernetes.events)
L0=$(k8s_stat 'j["lists"]["pods"]')
k8s_ctl '{"op":"batch","ops":[{"op":"expire","resource":"pods","how":"event"},
	{"op":"patch","resource":"pods","namespace":"shop","name":"client-0",
	"merge":{"metadata":{"labels":{"app":"client-v2"}}}}]}' >/dev/null
wait_for 10 lf_counter_ge kubernetes.relists $((R0 + 1)) || fail "no relist after ERROR 410"
lf_settle
expect_eq "ERROR 410 events the server sent" "$(k8s_stat 'j["errors_sent"]["pods"]')" 1
expect_eq "server: pods LISTs after the ERROR 410" "$(k8s_stat 'j["lists"]["pods"]')" \
	$((L0 + 1))
sleep 1
expect_eq "kubernetes.relists after ERROR 410" "$(lf_counter kubernetes.relists)" $((R0 + 1))
flow_labelled 40002 127.0.0.2 client-0 --expect sourcePodLabels='{"app":"client-v2"}'
expect_eq "events: the change came through the relist, not as an event" \
	"$(lf_counter kubernetes.events)" "$E0"

# 2: HTTP 410 for the next watch: the open watch ends cleanly, re-watching from the old
# RV gets 410 Gone, and labelflowd relists.
k8s_ctl '{"op":"batch","ops":[{"op":"expire","resource":"pods","how":"http"},
	{"op":"patch","resource":"pods","namespace":"shop","name":"client-0",
	"merge":{"metadata":{"labels":{"app":"client-v3"}}}}]}' >/dev/null
wait_for 10 lf_counter_ge kubernetes.relists $((R0 + 2)) || fail "no relist after HTTP 410"
lf_settle
[ "$(k8s_stat 'j["codes"].get("410", 0)')" -ge 1 ] || fail "the server sent no HTTP 410"
expect_eq "server: pods LISTs after HTTP 410" "$(k8s_stat 'j["lists"]["pods"]')" $((L0 + 2))
expect_eq "server: LISTs of other resources" \
	"$(k8s_stat 'sum(v for k, v in j["lists"].items() if k != "pods")')" 6
flow_labelled 40003 127.0.0.2 client-0 --expect sourcePodLabels='{"app":"client-v3"}'

# 3: the watch resumed after the relist: a new pod arrives as an event.
E0=$(lf_counter kubernetes.events)
expect_eq "server: events sent on pods watches so far" \
	"$(k8s_stat 'j["events_sent"].get("pods", 0)')" 0
mkobj pod shop late-0 127.0.0.4 --node node-1 --owner StatefulSet/late --label app=late |
	k8s_change add >/dev/null
wait_for 5 lf_counter_ge kubernetes.events $((E0 + 1)) || fail "the ADDED event was not applied"
flow_labelled 40004 127.0.0.4 late-0 --expect sourceWorkloadName=late
lf_stop
expect_eq "kubernetes.synced" "$(kv kubernetes.synced "$T/lf.stats")" 1
expect_eq "kubernetes.relists" "$(kv kubernetes.relists "$T/lf.stats")" $((R0 + 2))
