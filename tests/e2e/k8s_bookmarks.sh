#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Kubernetes client: BOOKMARKs move the resourceVersion a watch resumes from. Changes to a
# resource labelflowd does not watch push the server's history window (--history 20) past
# every event labelflowd saw; bookmarks carry it along, so re-watching after the server
# ends the watches needs no relist. The control run without bookmarks must relist.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/k8s_lib.sh"
k8s_scenario --bookmark-interval-ms 300 --history 20
k8s_scenario_conf ""
k8s_scenario_start
flow_labelled 40001 127.0.0.2 client-0
expect_eq "watches that asked for bookmarks" "$(k8s_stat 'sum(j["watch_bookmarks"].values())')" 7

# churn N: N changes to a Deployment (a resource labelflowd does not watch).
churn() {
	python3 -c 'import json, sys
dep = {"metadata": {"name": "churn", "namespace": "shop"}, "spec": {"replicas": 1}}
ops = [{"op": "apply", "resource": "deployments",
        "object": dict(dep, spec={"replicas": i})} for i in range(int(sys.argv[1]))]
print(json.dumps({"op": "batch", "ops": ops}))' "$1" >"$T/churn.json"
	k8s_ctl "$(cat "$T/churn.json")" >/dev/null
}

R0=$(lf_counter kubernetes.relists)
E0=$(lf_counter kubernetes.events)
B0=$(lf_counter kubernetes.bookmarks)
L0=$(k8s_lists)
RV0=$(k8s_stat 'j["rv"]')
churn 40
FLOOR=$(k8s_stat 'j["floor"]')
[ "$FLOOR" -gt "$RV0" ] || fail "the churn did not move the history window ($FLOOR <= $RV0)"
bookmarked() { # every watched resource got a bookmark at or after the churn
	k8s_stat "all(int(j['bookmark_rv'].get(r, 0)) >= $FLOOR for r in '$K8S_WATCHED'.split())" |
		grep -q True
}
wait_for 5 bookmarked || fail "bookmarks did not reach every watch: $(k8s_stat 'j["bookmark_rv"]')"
sleep 0.5
[ "$(lf_counter kubernetes.bookmarks)" -gt "$B0" ] || fail "kubernetes.bookmarks did not grow"
k8s_ctl '{"op":"close-watches","how":"clean"}' >/dev/null
sleep 0.5
lf_settle
expect_eq "re-watches from a bookmarked RV: none too old" \
	"$(k8s_stat 'sum(j["errors_sent"].values())')" 0
expect_eq "no HTTP 410" "$(k8s_stat 'j["codes"].get("410", 0)')" 0
expect_eq "server: LISTs" "$(k8s_lists)" "$L0"
expect_eq "pods watch resumed from" \
	"$(k8s_stat 'int(j["watch_from_rv"]["pods"]) >= int(j["floor"])')" True
sleep 0.5
expect_eq "kubernetes.relists" "$(lf_counter kubernetes.relists)" "$R0"
expect_eq "kubernetes.events (the churn is not watched)" "$(lf_counter kubernetes.events)" "$E0"
flow_labelled 40002 127.0.0.2 client-0

# Control: no bookmarks for a while, the same churn and the same end of the watches. The
# resourceVersions labelflowd holds are now compacted: every resource relists.
k8s_ctl '{"op":"set","bookmark_interval_ms":3600000}' >/dev/null
k8s_ctl '{"op":"close-watches","how":"clean"}' >/dev/null # restart the bookmark timers
lf_settle
churn 40
k8s_ctl '{"op":"close-watches","how":"clean"}' >/dev/null
wait_for 10 lf_counter_ge kubernetes.relists $((R0 + 7)) ||
	fail "without bookmarks: $(($(lf_counter kubernetes.relists) - R0)) relists, want 7"
lf_settle
echo "ok: without bookmarks every resource relisted"
flow_labelled 40003 127.0.0.2 client-0
lf_stop
