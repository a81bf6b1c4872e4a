#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The fake API server itself, through curl: TLS with its own CA, 401 on a bad token, LIST
# items without kind/apiVersion, paging with opaque continue tokens and 410 on an expired
# one, PartialObjectMetadataList, chunked WATCH with event lines split across chunks, history
# replay, BOOKMARKs, ERROR 410 and HTTP 410, token rotation, restart, 503 with Retry-After.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/k8s_lib.sh"
need curl openssl python3
F=$K8S_FIXTURES
[ -f "$F/README.md" ] || skip "Kubernetes fixtures not found in '$F' (set K8S_FIXTURES)"
SETS=kubeadm-v1.28-kube-system,kind-2020-victoriametrics,kind-metallb-2026-kubelb

# Five pods of our own next to the fixtures' objects.
{
	for i in 0 1 2 3 4; do
		node="node-a"
		[ $i -ge 3 ] && node="node-b"
		mkobj pod selftest "p$i" "10.250.0.$((i + 10))" --node $node --label app=x$((i % 2))
	done
	mkobj node node-a --ip 10.250.1.1 --zone zone-a --region r1
} | python3 "$K8S_OBJECTS" state >"$T/state.json"
k8s_start "$T/k8s" --fixtures "$F" --fixture-sets "$SETS" --state "$T/state.json" \
	--bookmark-interval-ms 300 --seed 7 --history 50 --too-large-wait-s 0.5
D=$K8S_DIR
B=https://127.0.0.1:$K8S_PORT
TOKEN=$(cat "$D/token")

# api PATH [CURL-ARGS...]: GET with the current token; body to $T/body, prints the code.
api() {
	p=$1
	shift
	curl -sS --cacert "$D/ca.crt" -H "Authorization: Bearer $TOKEN" -o "$T/body" \
		-w '%{http_code}' "$@" "$B$p"
}
body() { jget "$1" <"$T/body"; }

# ---- TLS and the files for clients
openssl verify -CAfile "$D/ca.crt" "$D/server.crt" >/dev/null || fail "server.crt not from ca.crt"
openssl x509 -in "$D/server.crt" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.1" ||
	fail "no 127.0.0.1 in the server certificate"
rc=0
curl -sS -o /dev/null "$B/version" 2>/dev/null || rc=$?
expect_eq "curl without the test CA (60: certificate problem)" "$rc" 60
grep -q "server: \"https://127.0.0.1:$K8S_PORT\"" "$K8S_KUBECONFIG" || fail "kubeconfig server"
grep -q "certificate-authority: \"$D/ca.crt\"" "$K8S_KUBECONFIG" || fail "kubeconfig CA"
grep -q "token: \"$TOKEN\"" "$K8S_KUBECONFIG" || fail "kubeconfig token"
grep -q "tokenFile: \"$D/token\"" "$D/kubeconfig-tokenfile" || fail "kubeconfig tokenFile"
cmp -s "$D/ca.crt" "$D/serviceaccount/ca.crt" || fail "serviceaccount/ca.crt"
expect_eq "serviceaccount token" "$(cat "$D/serviceaccount/token")" "$TOKEN"

# ---- authentication
expect_eq "/version without a token" "$(curl -sS --cacert "$D/ca.crt" -o /dev/null \
	-w '%{http_code}' "$B/version")" 200
expect_eq "pods without a token" "$(curl -sS --cacert "$D/ca.crt" -o "$T/body" \
	-w '%{http_code}' "$B/api/v1/pods")" 401
expect_eq "401 body" "$(body '(j["kind"], j["reason"], j["code"])')" \
	"('Status', 'Unauthorized', 401)"
expect_eq "pods with a wrong token" "$(curl -sS --cacert "$D/ca.crt" -o /dev/null \
	-H 'Authorization: Bearer nope' -w '%{http_code}' "$B/api/v1/pods")" 401

# ---- LIST: the fixtures' items plus ours, without kind/apiVersion, sorted by namespace/name
want_pods=$(python3 - "$F" "$SETS" <<'EOF'
import json, os, sys
names = set()
for s in sys.argv[2].split(","):
    p = os.path.join(sys.argv[1], s, "podlist.json")
    if os.path.exists(p):
        names |= {(i["metadata"]["namespace"], i["metadata"]["name"])
                  for i in json.load(open(p))["items"]}
names |= {("selftest", "p%d" % i) for i in range(5)}
print(" ".join("%s/%s" % n for n in sorted(names)))
EOF
)
expect_eq "LIST pods" "$(api /api/v1/pods)" 200
expect_eq "pod list" "$(body '" ".join("%s/%s" % (i["metadata"]["namespace"],
	i["metadata"]["name"]) for i in j["items"])')" "$want_pods"
expect_eq "list kind" "$(body '(j["kind"], j["apiVersion"])')" "('PodList', 'v1')"
expect_eq "items without kind/apiVersion" "$(body \
	'sum(1 for i in j["items"] if "kind" in i or "apiVersion" in i)')" 0
RV0=$(body 'j["metadata"]["resourceVersion"]')
expect_eq "list RV = the server's RV" "$RV0" "$(k8s_stat 'j["rv"]')"
want_svcs=$(python3 - "$F" <<'EOF'
import json, os, sys
f = sys.argv[1]
keys = {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in
        json.load(open(os.path.join(f, "kind-metallb-2026-kubelb/services-items.json")))}
for s in ("kubeadm-v1.28-kube-system", "kind-2020-victoriametrics"):
    keys |= {(i["metadata"]["namespace"], i["metadata"]["name"]) for i in
             json.load(open(os.path.join(f, s, "servicelist.json")))["items"]}
print(len(keys))
EOF
)
expect_eq "LIST services (the kubectl-form fixture unwrapped)" "$(api /api/v1/services)" 200
expect_eq "services" "$(body 'len(j["items"])')" "$want_svcs"
expect_eq "service items without kind" "$(body 'sum(1 for i in j["items"] if "kind" in i)')" 0
expect_eq "LIST endpointslices" "$(api /apis/discovery.k8s.io/v1/endpointslices)" 200
expect_eq "endpointslice list kind" "$(body 'j["kind"]')" EndpointSliceList
expect_eq "LIST jobs (none)" "$(api /apis/batch/v1/jobs)" 200
expect_eq "jobs" "$(body 'len(j["items"])')" 0
expect_eq "LIST nodes" "$(api /api/v1/nodes)" 200
expect_eq "unknown resource" "$(api /api/v1/foos)" 404
expect_eq "namespaced LIST" "$(api /api/v1/namespaces/selftest/pods)" 200
expect_eq "pods in selftest" "$(body 'len(j["items"])')" 5
expect_eq "fieldSelector spec.nodeName" \
	"$(api '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-b')" 200
expect_eq "pods on node-b" "$(body '[i["metadata"]["name"] for i in j["items"]]')" "['p3', 'p4']"
expect_eq "labelSelector" "$(api '/api/v1/namespaces/selftest/pods?labelSelector=app%3Dx1')" 200
expect_eq "pods with app=x1" "$(body '[i["metadata"]["name"] for i in j["items"]]')" "['p1', 'p3']"
expect_eq "GET one pod" "$(api /api/v1/namespaces/selftest/pods/p2)" 200
expect_eq "GET: typed object" "$(body '(j["kind"], j["apiVersion"], j["status"]["podIP"])')" \
	"('Pod', 'v1', '10.250.0.12')"

# ---- paging: follow continue tokens; the pages make up exactly the full list
python3 - "$B" "$D/ca.crt" "$TOKEN" "$want_pods" <<'EOF' || fail "paging"
import json, ssl, sys, urllib.parse, urllib.request
base, ca, tok, want = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
names, cont, rvs, sizes, remaining = [], "", set(), [], []
while True:
    q = "limit=2" + ("&continue=" + urllib.parse.quote(cont) if cont else "")
    req = urllib.request.Request(base + "/api/v1/pods?" + q,
                                 headers={"Authorization": "Bearer " + tok})
    d = json.load(urllib.request.urlopen(req, context=ctx))
    names += ["%s/%s" % (i["metadata"]["namespace"], i["metadata"]["name"]) for i in d["items"]]
    rvs.add(d["metadata"]["resourceVersion"])
    sizes.append(len(d["items"]))
    remaining.append(d["metadata"].get("remainingItemCount"))
    cont = d["metadata"].get("continue", "")
    if not cont:
        break
total = len(want.split())
assert names == want.split(), names
assert len(rvs) == 1, rvs
assert sizes == [2] * (total // 2) + ([total % 2] if total % 2 else []), sizes
assert remaining == [total - 2 * (i + 1) for i in range(len(sizes) - 1)] + [None], remaining
print("ok: %d pods in %d pages of 2, one RV, remainingItemCount exact" % (total, len(sizes)))
EOF

# ---- an expired continue token: 410 with the fixture's Status and a fresh token
api '/api/v1/pods?limit=2' >/dev/null
C1=$(body 'j["metadata"]["continue"]')
k8s_ctl '{"op":"expire-continue"}' >/dev/null
expect_eq "continue after compaction" "$(api "/api/v1/pods?limit=2&continue=$C1")" 410
python3 - "$T/body" "$F/constructed/list-continue-expired-410.json" <<'EOF' || fail "410 body"
import json, sys
got, want = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert got["metadata"]["continue"] and got["metadata"]["continue"] != \
    want["metadata"]["continue"], got
got["metadata"]["continue"] = want["metadata"]["continue"]
assert got == want, got
print("ok: 410 body = constructed/list-continue-expired-410.json with a fresh continue token")
EOF
C2=$(body 'j["metadata"]["continue"]')
expect_eq "the inconsistent continue token works" "$(api "/api/v1/pods?limit=2&continue=$C2")" 200
expect_eq "it continues after the first page" "$(body 'j["items"][0]["metadata"]["name"]')" \
	"$(echo "$want_pods" | cut -d' ' -f3 | cut -d/ -f2)"
expect_eq "a garbage continue token" "$(api '/api/v1/pods?limit=2&continue=xyz')" 400
api '/api/v1/pods?limit=2' >/dev/null
C3=$(body 'j["metadata"]["continue"]')
k8s_ctl '{"op":"expire-continue","on_page":2}' >/dev/null
expect_eq "armed one-shot: page 2" "$(api "/api/v1/pods?limit=2&continue=$C3")" 410
expect_eq "page 2 again" "$(api "/api/v1/pods?limit=2&continue=$C3")" 200
k8s_ctl '{"op":"set-page-size","max":3,"force":true}' >/dev/null
expect_eq "forced page size" "$(api /api/v1/pods)" 200
expect_eq "items in a forced page" "$(body '(len(j["items"]), "continue" in j["metadata"])')" \
	"(3, True)"
k8s_ctl '{"op":"set-page-size","max":0}' >/dev/null

# ---- PartialObjectMetadataList
PARTIAL='Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json'
expect_eq "metadata-only LIST" "$(api /apis/apps/v1/replicasets -H "$PARTIAL")" 200
expect_eq "PartialObjectMetadataList" "$(body '(j["kind"], j["apiVersion"], len(j["items"]))')" \
	"('PartialObjectMetadataList', 'meta.k8s.io/v1', 1)"
expect_eq "items: only kind/apiVersion/metadata" "$(body \
	'[(sorted(i), i["kind"], i["metadata"]["name"]) for i in j["items"]]')" \
	"[(['apiVersion', 'kind', 'metadata'], 'PartialObjectMetadata', 'coredns-5dd5756b68')]"
expect_eq "protobuf only: 406" \
	"$(api /api/v1/pods -H 'Accept: application/vnd.kubernetes.protobuf')" 406

# ---- WATCH: chunked, lines split across chunks, events replayed, bookmarks, clean end
# watch NAME QUERY: raw chunked watch of pods into $T/NAME.raw, in the background.
watch() {
	curl -sS --raw -N --cacert "$D/ca.crt" -H "Authorization: Bearer $TOKEN" \
		"$B/api/v1/pods?watch=1&$2" >"$T/$1.raw" 2>"$T/$1.err" &
	W_PID=$!
}
# unchunk NAME: check the chunked framing of $T/NAME.raw; print a JSON summary.
unchunk() {
	python3 - "$T/$1.raw" <<'EOF'
import json, sys
d = open(sys.argv[1], "rb").read()
i, chunks, terminated = 0, [], False
while i < len(d):
    j = d.index(b"\r\n", i)
    n = int(d[i:j], 16)
    if n == 0:
        terminated = d[j + 2:] == b"\r\n"
        break
    chunks.append(d[j + 2:j + 2 + n])
    assert d[j + 2 + n:j + 4 + n] == b"\r\n", "bad chunk trailer"
    i = j + 4 + n
events = [json.loads(x) for x in b"".join(chunks).decode().splitlines()]
print(json.dumps({
    "terminated": terminated,
    "mid_line_chunks": sum(1 for c in chunks if not c.endswith(b"\n")),
    "multi_event_chunks": sum(1 for c in chunks if c.count(b"\n") >= 2),
    "types": [e["type"] for e in events if e["type"] not in ("BOOKMARK", "ERROR")],
    "rvs": [int(e["object"]["metadata"]["resourceVersion"]) for e in events
            if e["type"] not in ("BOOKMARK", "ERROR")],
    "typed": all(e["object"].get("kind") == "Pod" and e["object"].get("apiVersion") == "v1"
                 for e in events if e["type"] != "ERROR"),
    "bookmarks": [e["object"] for e in events if e["type"] == "BOOKMARK"],
    "errors": [e["object"] for e in events if e["type"] == "ERROR"],
}))
EOF
}

t0=$(now_ms)
watch w1 "resourceVersion=$RV0&allowWatchBookmarks=true&timeoutSeconds=3"
sleep 0.5
{
	for i in 5 6 7 8 9; do mkobj pod selftest "p$i" "10.250.0.$((i + 10))" --node node-a; done
} | python3 "$K8S_OBJECTS" op add >"$T/batch.json"
RVS=$(k8s_ctl "$(cat "$T/batch.json")" | jget 'j["rvs"]')
R2=$(k8s_ctl '{"op":"patch","resource":"pods","namespace":"selftest","name":"p5",
	"merge":{"metadata":{"labels":{"app":"changed"}}}}' | jget 'j["rvs"]')
R3=$(k8s_ctl '{"op":"delete","resource":"pods","namespace":"selftest","name":"p6"}' |
	jget 'j["rvs"]')
wait $W_PID || fail "watch w1: $(cat "$T/w1.err")"
t1=$(now_ms)
unchunk w1 >"$T/w1.json"
jw() { jget "$1" <"$T/w1.json"; }
expect_eq "watch ended cleanly with the terminating chunk" "$(jw 'j["terminated"]')" True
[ $((t1 - t0)) -ge 2900 ] && [ $((t1 - t0)) -lt 4500 ] ||
	fail "timeoutSeconds=3 watch lasted $((t1 - t0)) ms"
echo "ok: timeoutSeconds=3 watch lasted $((t1 - t0)) ms"
[ "$(jw 'j["mid_line_chunks"]')" -ge 1 ] || fail "no chunk ends inside an event line"
[ "$(jw 'j["multi_event_chunks"]')" -ge 1 ] || fail "no chunk carries several events"
echo "ok: $(jw 'j["mid_line_chunks"]') chunks end mid-line," \
	"$(jw 'j["multi_event_chunks"]') carry several events"
expect_eq "event types" "$(jw 'j["types"]')" \
	"['ADDED', 'ADDED', 'ADDED', 'ADDED', 'ADDED', 'MODIFIED', 'DELETED']"
expect_eq "event RVs = the commits' RVs" "$(jw 'j["rvs"]')" \
	"$(python3 -c "print($RVS + $R2 + $R3)")"
expect_eq "event objects carry kind/apiVersion" "$(jw 'j["typed"]')" True
[ "$(jw 'len(j["bookmarks"])')" -ge 3 ] || fail "fewer than 3 bookmarks in 3 s at 300 ms"
expect_eq "bookmark objects: metadata.resourceVersion only" "$(jw \
	'all(set(b["metadata"]) <= {"resourceVersion", "creationTimestamp"}
	     for b in j["bookmarks"])')" True
expect_eq "last bookmark RV = the server's RV" \
	"$(jw 'j["bookmarks"][-1]["metadata"]["resourceVersion"]')" \
	"$(k8s_stat 'j["rv"]')"
RV1=$(k8s_stat 'j["rv"]')

watch w2 "resourceVersion=$RV0&timeoutSeconds=1"
wait $W_PID || fail "watch w2"
unchunk w2 >"$T/w2.json"
expect_eq "replay from history: same RVs" "$(jget 'j["rvs"]' <"$T/w2.json")" "$(jw 'j["rvs"]')"
expect_eq "no bookmarks unless allowed" "$(jget 'len(j["bookmarks"])' <"$T/w2.json")" 0

watch w3 "timeoutSeconds=1"
wait $W_PID || fail "watch w3"
unchunk w3 >"$T/w3.json"
expect_eq "watch without RV: ADDED for every current pod" \
	"$(jget 'len([t for t in j["types"] if t == "ADDED"])' <"$T/w3.json")" \
	"$(api /api/v1/pods >/dev/null && body 'len(j["items"])')"

watch w3b "resourceVersion=0&timeoutSeconds=1"
wait $W_PID || fail "watch w3b"
expect_eq "watch from resourceVersion=0 (any): the same ADDED events" \
	"$(unchunk w3b | jget 'len(j["types"])')" "$(jget 'len(j["types"])' <"$T/w3.json")"
watch w3c "sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan\
&timeoutSeconds=1"
wait $W_PID || fail "watch w3c"
expect_eq "sendInitialEvents: ADDED events, then the initial-events-end BOOKMARK" \
	"$(unchunk w3c | jget '(len(j["types"]), j["bookmarks"][0]["metadata"]["annotations"])')" \
	"($(jget 'len(j["types"])' <"$T/w3.json"), {'k8s.io/initial-events-end': 'true'})"

# ---- 410: compaction, in the stream and as HTTP; RV too large
k8s_ctl '{"op":"expire","how":"none"}' >/dev/null
FLOOR=$(k8s_stat 'j["floor"]')
watch w4 "resourceVersion=$RV1&timeoutSeconds=5"
wait $W_PID || fail "watch w4"
unchunk w4 >"$T/w4.json"
python3 - "$T/w4.json" "$F/constructed/watch-control-events.jsonl" "$RV1" "$FLOOR" <<'EOF' ||
import json, sys
got = json.load(open(sys.argv[1]))
want = [json.loads(x) for x in open(sys.argv[2]) if '"ERROR"' in x][0]["object"]
assert got["terminated"] and got["types"] == [], got
err = got["errors"]
assert len(err) == 1, err
want["message"] = "too old resource version: %s (%s)" % (sys.argv[3], sys.argv[4])
assert err[0] == want, (err[0], want)
print("ok: ERROR event shaped like constructed/watch-control-events.jsonl: " + want["message"])
EOF
	fail "ERROR 410 event"
k8s_ctl '{"op":"set","too_old":"http"}' >/dev/null
expect_eq "watch from a compacted RV, HTTP mode" \
	"$(api "/api/v1/pods?watch=1&resourceVersion=$RV1")" 410
expect_eq "HTTP 410 body" "$(body '(j["kind"], j["reason"], j["code"])')" \
	"('Status', 'Expired', 410)"
k8s_ctl '{"op":"set","too_old":"event"}' >/dev/null
RV2=$(k8s_stat 'j["rv"]')
watch w5 "resourceVersion=$RV2&timeoutSeconds=20"
sleep 0.5
t0=$(now_ms)
k8s_ctl '{"op":"expire","resource":"pods","how":"event"}' >/dev/null
wait $W_PID || fail "watch w5"
[ $(($(now_ms) - t0)) -lt 3000 ] || fail "expire how=event did not end the open watch"
unchunk w5 >"$T/w5.json"
expect_eq "open watch ends with ERROR 410" \
	"$(jget '[(e["code"], e["reason"]) for e in j["errors"]]' \
	<"$T/w5.json")" "[(410, 'Expired')]"
expect_eq "it ends cleanly" "$(jget 'j["terminated"]' <"$T/w5.json")" True
RV3=$(k8s_stat 'j["rv"]')
watch w6 "resourceVersion=$RV3&timeoutSeconds=20"
sleep 0.5
k8s_ctl '{"op":"expire","resource":"pods","how":"http"}' >/dev/null
wait $W_PID || fail "watch w6"
expect_eq "expire how=http: the open watch ends cleanly" \
	"$(unchunk w6 | jget '(j["terminated"], j["errors"])')" "(True, [])"
expect_eq "expire how=http: the next watch from the old RV" \
	"$(api "/api/v1/pods?watch=1&resourceVersion=$RV3")" 410
# The history window: 60 changes with --history 50 compact the oldest RVs away.
RV4=$(k8s_stat 'j["rv"]')
python3 -c 'import json
print(json.dumps({"op": "batch", "ops": [{"op": "patch", "resource": "pods",
  "namespace": "selftest", "name": "p7",
  "merge": {"metadata": {"annotations": {"n": str(i)}}}} for i in range(60)]}))' \
	>"$T/many.json"
k8s_ctl "$(cat "$T/many.json")" >/dev/null
watch w7 "resourceVersion=$RV4&timeoutSeconds=5"
wait $W_PID || fail "watch w7"
expect_eq "watch from beyond the history window" \
	"$(unchunk w7 | jget '[e["code"] for e in j["errors"]]')" "[410]"
watch w8 "resourceVersion=$((RV4 + 20))&timeoutSeconds=1"
wait $W_PID || fail "watch w8"
expect_eq "watch from inside the history window: replay" "$(unchunk w8 | jget 'len(j["rvs"])')" 40
expect_eq "RV too large" "$(api "/api/v1/pods?watch=1&resourceVersion=$((RV4 + 1000))")" 504
expect_eq "504 body" "$(body '(j["reason"], j["details"]["causes"][0]["reason"])')" \
	"('Timeout', 'ResourceVersionTooLarge')"

# ---- token rotation: open watches end, the old token gets 401, the files hold the new one
watch w9 "timeoutSeconds=20"
sleep 0.5
NEW=$(k8s_ctl '{"op":"rotate-token"}' | jget 'j["token"]')
wait $W_PID || fail "watch w9"
expect_eq "rotation ends open watches cleanly" "$(unchunk w9 | jget 'j["terminated"]')" True
expect_eq "old token" "$(api /api/v1/pods)" 401
expect_eq "token file" "$(cat "$D/token")" "$NEW"
expect_eq "service account token file" "$(cat "$D/serviceaccount/token")" "$NEW"
grep -q "token: \"$NEW\"" "$K8S_KUBECONFIG" || fail "kubeconfig not rewritten"
TOKEN=$NEW
expect_eq "new token" "$(api /api/v1/pods)" 200

# ---- restart: open watches reset, connections reset while down, then served again
watch w10 "timeoutSeconds=20"
sleep 0.5
k8s_ctl '{"op":"restart","down_ms":1500}' >/dev/null
rc=0
wait $W_PID || rc=$?
[ "$rc" != 0 ] || fail "a watch survived the restart"
expect_eq "the reset watch has no terminating chunk" "$(unchunk w10 | jget 'j["terminated"]')" False
echo "ok: restart reset the open watch (curl exit $rc)"
rc=0
api /api/v1/pods >/dev/null 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "a request succeeded while the server was down"
echo "ok: connection reset while down (curl exit $rc)"
wait_for 5 sh -c "[ \"\$(curl -sS --cacert '$D/ca.crt' -H 'Authorization: Bearer $TOKEN' \
	-o /dev/null -w '%{http_code}' '$B/api/v1/pods')\" = 200 ]" || fail "not back after restart"
[ "$(k8s_stat 'j["refused"]')" -ge 1 ] || fail "no refused connection counted"

# ---- outage: 503 with Retry-After, then back
k8s_ctl '{"op":"pause","mode":"503","retry_after":2}' >/dev/null
expect_eq "paused" "$(api /api/v1/pods -D "$T/headers")" 503
grep -qi '^Retry-After: 2' "$T/headers" || fail "no Retry-After: 2"
expect_eq "503 body" "$(body '(j["reason"], j["code"], j["details"]["retryAfterSeconds"])')" \
	"('ServiceUnavailable', 503, 2)"
k8s_ctl '{"op":"resume"}' >/dev/null
expect_eq "resumed" "$(api /api/v1/pods)" 200

# ---- the real watch capture of the fixtures, replayed
RVR=$(k8s_stat 'j["rv"]')
k8s_ctl "{\"op\":\"replay\",\"path\":\"$F/watch/pods-watch-kind-2023.jsonl\"}" >/dev/null
watch w11 "resourceVersion=$RVR&timeoutSeconds=1"
wait $W_PID || fail "watch w11"
expect_eq "fixture watch events replayed" "$(unchunk w11 | jget 'j["types"]')" \
	"['ADDED', 'ADDED', 'MODIFIED', 'MODIFIED', 'MODIFIED', 'DELETED']"
expect_eq "default namespace after the replay" \
	"$(api /api/v1/namespaces/default/pods >/dev/null &&
		body '[i["metadata"]["name"] for i in j["items"]]')" \
	"['network-tool1']"

# ---- the project's client against the server, when it is built
DUMP=${LF_K8S_DUMP:-${top_builddir:-$top_srcdir}/tests/tools/lf-k8s-dump}
if [ -x "$DUMP" ]; then
	"$DUMP" --kubeconfig "$K8S_KUBECONFIG" --wait-sync 10000 --lookup 10.250.0.11 \
		>"$T/dump.out" 2>"$T/dump.err" || fail "lf-k8s-dump: $(cat "$T/dump.err")"
	grep -q "p1" "$T/dump.out" && grep -q "selftest" "$T/dump.out" ||
		fail "lf-k8s-dump did not find selftest/p1: $(cat "$T/dump.out")"
	echo "ok: lf-k8s-dump resolves 10.250.0.11 to selftest/p1"
else
	echo "note: $DUMP not built; the client-side check is left to the k8s_* tests"
fi
echo "ok: fake API server self-test"
