#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Kubernetes client: LIST pages (kubernetes.page_limit = 2 over 7 pods) and a continue token
# that expires between pages (HTTP 410 with a fresh "inconsistent" token). The list is
# restarted from the first page, never completed from the inconsistent token, and every pod
# ends up known: at start, and again in a relist at run time.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/k8s_lib.sh"
extra_pods() {
	for i in 1 2 3 4 5; do
		mkobj pod shop "extra-$i" "127.0.1.$i" --node node-1 --owner StatefulSet/extra \
			--label app=extra
	done
}
K8S_EXTRA_OBJECTS=extra_pods
k8s_scenario
k8s_scenario_conf "page_limit = 2;"
# Pods sort as shop/client-0, shop/extra-1..5, shop/server-0: four pages of at most two.
k8s_ctl '{"op":"expire-continue","on_page":2}' >/dev/null
k8s_scenario_start
expect_eq "server: HTTP 410 for the expired continue token" \
	"$(k8s_stat 'j["codes"].get("410", 0)')" 1
expect_eq "server: pods LISTs (first, then restarted)" "$(k8s_stat 'j["lists"]["pods"]')" 2
expect_eq "server: pods pages (1 before the 410, then 4)" "$(k8s_stat 'j["list_pages"]["pods"]')" 5
expect_eq "server: continue requests for pods (1 expired, 3 served)" \
	"$(k8s_stat 'j["continues"]["pods"]')" 4
flow_labelled 40001 127.0.0.2 client-0
flow_labelled 40002 127.0.1.5 extra-5
flow_labelled 40003 127.0.0.3 server-0

# At run time: a relist (ERROR 410) whose second page fails again; a pod added meanwhile
# must be in the restarted list.
R0=$(lf_counter kubernetes.relists)
k8s_ctl '{"op":"expire-continue","on_page":2}' >/dev/null
mkobj pod shop extra-6 127.0.1.6 --node node-1 --owner StatefulSet/extra --label app=extra |
	python3 "$K8S_OBJECTS" op add >"$T/add.json"
k8s_ctl "{\"op\":\"batch\",\"ops\":[$(cat "$T/add.json")]}" >/dev/null
k8s_ctl '{"op":"expire","resource":"pods","how":"event"}' >/dev/null
wait_for 10 lf_counter_ge kubernetes.relists $((R0 + 1)) || fail "no relist"
lf_settle
expect_eq "server: HTTP 410s for continue tokens" "$(k8s_stat 'j["codes"].get("410", 0)')" 2
expect_eq "server: pods LISTs" "$(k8s_stat 'j["lists"]["pods"]')" 4
flow_labelled 40004 127.0.1.6 extra-6
flow_labelled 40005 127.0.1.1 extra-1
lf_stop
expect_eq "kubernetes.synced" "$(kv kubernetes.synced "$T/lf.stats")" 1
