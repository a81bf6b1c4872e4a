#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Kubernetes client: the bearer token rotates. The server refuses the old one (HTTP 401)
# and ends the open watches; labelflowd re-reads the token file at once (not only on its
# minute timer), resumes every watch without relisting and loses no event. Both ways a
# token file reaches it: a kubeconfig "tokenFile", and the in-cluster service account
# (KUBERNETES_SERVICE_HOST/PORT and incluster_dir), as in the DaemonSet.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/k8s_lib.sh"
k8s_scenario

# rotate N [FILE-DELAY-MS]: rotate the token (its files written FILE-DELAY-MS later), commit
# a change while the watches are down, and check that labelflowd came back with the new
# token, got the change as an event, and relisted nothing.
rotate() {
	R0=$(lf_counter kubernetes.relists)
	E0=$(lf_counter kubernetes.events)
	A0=$(lf_counter kubernetes.auth_failures)
	C0=$(k8s_committed)
	U0=$(k8s_stat 'j["codes"].get("401", 0)')
	k8s_ctl "{\"op\":\"batch\",\"ops\":[{\"op\":\"rotate-token\",\"token\":\"rotated-$1\",
		\"file_delay_ms\":${2:-0}},
		$(mkobj pod shop "new-$1" "127.0.2.$1" --node node-1 --owner StatefulSet/new \
		--label app=new | python3 "$K8S_OBJECTS" op add)]}" >/dev/null
	# With the files late, every 401 re-reads them and the backoff (200 ms doubling)
	# bounds the wait: the token is in use at most one backoff step after it is written.
	lf_settle
	[ "$(k8s_stat 'j["codes"].get("401", 0)')" -gt "$U0" ] ||
		fail "the old token was not refused"
	wait_for 5 lf_counter_ge kubernetes.events $((E0 + 1)) || fail "the change was lost"
	sleep 0.5
	[ "$(lf_counter kubernetes.auth_failures)" -gt "$A0" ] || fail "no 401 counted"
	expect_eq "events after the rotation = commits" \
		"$(($(lf_counter kubernetes.events) - E0))" \
		"$(($(k8s_committed) - C0))"
	expect_eq "relists after the rotation" "$(lf_counter kubernetes.relists)" "$R0"
	flow_labelled "4100$1" "127.0.2.$1" "new-$1"
}

# 1: a kubeconfig whose user has tokenFile; the periodic re-read is far away (1 hour).
k8s_scenario_conf "token_reread_ms = 3600000;"
k8s_scenario_start "$K8S_DIR/kubeconfig-tokenfile"
flow_labelled 40001 127.0.0.2 client-0
rotate 1
lf_stop

# 2: in-cluster, from the service account directory the server keeps up to date.
k8s_scenario_conf "incluster_dir = \"$K8S_DIR/serviceaccount\"; token_reread_ms = 3600000;"
LF_ENV="KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$K8S_PORT"
k8s_scenario_start -
grep -q "kubernetes: API server https://127.0.0.1:$K8S_PORT" "$LF_LOG" ||
	fail "in-cluster: not the server from KUBERNETES_SERVICE_HOST/PORT: $(head -n 5 "$LF_LOG")"
flow_labelled 40002 127.0.0.2 client-0
rotate 2
lf_stop

# 3: the token files lag 3 s behind the server (the first re-read after the 401 still finds
# the old token): each later 401 reads them again, and the new one is taken up.
k8s_scenario_conf "token_reread_ms = 3600000;"
k8s_scenario_start "$K8S_DIR/kubeconfig-tokenfile"
flow_labelled 40003 127.0.0.2 client-0
rotate 3 3000
lf_stop
