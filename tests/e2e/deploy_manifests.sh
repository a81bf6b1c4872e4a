#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# deploy/kubernetes: every manifest parses, the kinds and required fields are there, RBAC
# grants exactly get/list/watch on exactly the seven resources the Kubernetes source reads,
# the DaemonSet has the host network, DNS policy, downward API, capabilities, mounts and
# tolerations it needs, and the ConfigMap's configuration passes labelflowd --check-config.
# Tampered copies must fail, so the checks themselves are tested. Needs python3-yaml.
. "$top_srcdir/tests/e2e/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import yaml' 2>/dev/null ||
	skip "Debian's python3-yaml is not installed (scripts/install-deps installs it)"
DEPLOY=$top_srcdir/deploy/kubernetes

cat >"$T/check.py" <<'EOF'
import os
import sys

import yaml

d, conf_out = sys.argv[1], sys.argv[2]
errors = []


def err(msg):
    errors.append(msg)


docs = {}
for fn in sorted(os.listdir(d)):
    if not fn.endswith(".yaml"):
        continue
    with open(os.path.join(d, fn)) as f:
        try:
            items = [x for x in yaml.safe_load_all(f) if x is not None]
        except yaml.YAMLError as e:
            err("%s: %s" % (fn, e))
            continue
    if len(items) != 1 or not isinstance(items[0], dict):
        err("%s: want exactly one mapping document, got %d" % (fn, len(items)))
        continue
    docs[fn] = items[0]

want_kinds = {"serviceaccount.yaml": ("v1", "ServiceAccount"),
              "clusterrole.yaml": ("rbac.authorization.k8s.io/v1", "ClusterRole"),
              "clusterrolebinding.yaml": ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
              "configmap.yaml": ("v1", "ConfigMap"),
              "daemonset.yaml": ("apps/v1", "DaemonSet"),
              "kustomization.yaml": ("kustomize.config.k8s.io/v1beta1", "Kustomization")}
for fn, (api, kind) in want_kinds.items():
    x = docs.get(fn)
    if x is None:
        err("%s: missing" % fn)
        continue
    if (x.get("apiVersion"), x.get("kind")) != (api, kind):
        err("%s: apiVersion/kind %s/%s, want %s/%s" % (fn, x.get("apiVersion"), x.get("kind"),
                                                       api, kind))
    if kind != "Kustomization" and not (x.get("metadata") or {}).get("name"):
        err("%s: no metadata.name" % fn)
if errors:
    sys.exit("\n".join(errors))

sa, cr, crb, cm, ds, kz = (docs[f] for f in (
    "serviceaccount.yaml", "clusterrole.yaml", "clusterrolebinding.yaml", "configmap.yaml",
    "daemonset.yaml", "kustomization.yaml"))
ns = kz.get("namespace")
for fn, x in (("serviceaccount.yaml", sa), ("configmap.yaml", cm), ("daemonset.yaml", ds)):
    if x["metadata"].get("namespace") != ns:
        err("%s: namespace %r, kustomization says %r" % (fn, x["metadata"].get("namespace"), ns))
for fn, x in (("clusterrole.yaml", cr), ("clusterrolebinding.yaml", crb)):
    if "namespace" in x["metadata"]:
        err("%s: a cluster-scoped object with a namespace" % fn)
if sorted(kz.get("resources") or []) != sorted(f for f in want_kinds if f != "kustomization.yaml"):
    err("kustomization resources %r" % kz.get("resources"))
imgs = kz.get("images") or []
if not any(i.get("name") == "labelflow/labelflowd" for i in imgs):
    err("kustomization: no image entry for labelflow/labelflowd")

# RBAC: exactly get/list/watch on exactly these resources.
want = {("", "pods"), ("", "services"), ("", "nodes"), ("", "namespaces"),
        ("discovery.k8s.io", "endpointslices"), ("apps", "replicasets"), ("batch", "jobs")}
got = set()
for i, r in enumerate(cr.get("rules") or []):
    extra = set(r) - {"apiGroups", "resources", "verbs"}
    if extra:
        err("clusterrole rule %d: unexpected %s" % (i, sorted(extra)))
    if sorted(r.get("verbs") or []) != ["get", "list", "watch"]:
        err("clusterrole rule %d: verbs %r, want exactly get/list/watch" % (i, r.get("verbs")))
    for g in r.get("apiGroups") or []:
        for res in r.get("resources") or []:
            if "*" in (g, res) or "/" in res:
                err("clusterrole rule %d: wildcard or subresource %r/%r" % (i, g, res))
            got.add((g, res))
if got != want:
    err("clusterrole grants %s; missing %s, extra %s" % (
        sorted(got), sorted(want - got), sorted(got - want)))
if crb.get("roleRef") != {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                          "name": cr["metadata"]["name"]}:
    err("clusterrolebinding roleRef %r" % crb.get("roleRef"))
if crb.get("subjects") != [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                            "namespace": sa["metadata"]["namespace"]}]:
    err("clusterrolebinding subjects %r" % crb.get("subjects"))

# DaemonSet.
spec = ds.get("spec") or {}
tpl = spec.get("template") or {}
pod = tpl.get("spec") or {}
sel = (spec.get("selector") or {}).get("matchLabels") or {}
tlabels = (tpl.get("metadata") or {}).get("labels") or {}
if not sel or any(tlabels.get(k) != v for k, v in sel.items()):
    err("daemonset: selector %r does not match the template labels %r" % (sel, tlabels))
for k, v in (("serviceAccountName", sa["metadata"]["name"]), ("hostNetwork", True),
             ("dnsPolicy", "ClusterFirstWithHostNet")):
    if pod.get(k) != v:
        err("daemonset: %s = %r, want %r" % (k, pod.get(k), v))
if pod.get("hostPID", False) is not False:
    err("daemonset: hostPID must be false")
if {"operator": "Exists"} not in (pod.get("tolerations") or []):
    err("daemonset: no toleration {operator: Exists} (runs on every node)")
cs = pod.get("containers") or []
if len(cs) != 1:
    err("daemonset: want one container, got %d" % len(cs))
    sys.exit("\n".join(errors))
c = cs[0]
if c.get("image") != "labelflow/labelflowd:VERSION":
    err("daemonset: image %r, want the placeholder labelflow/labelflowd:VERSION" % c.get("image"))
env = {e.get("name"): e for e in c.get("env") or []}
if (env.get("NODE_NAME") or {}).get("valueFrom") != {"fieldRef": {"fieldPath": "spec.nodeName"}}:
    err("daemonset: NODE_NAME must come from fieldRef spec.nodeName")
sc = c.get("securityContext") or {}
caps = sc.get("capabilities") or {}
if caps.get("drop") != ["ALL"]:
    err("daemonset: capabilities.drop %r, want [ALL]" % caps.get("drop"))
if sorted(caps.get("add") or []) != ["BPF", "NET_ADMIN", "PERFMON"]:
    err("daemonset: capabilities.add %r, want BPF, PERFMON, NET_ADMIN" % caps.get("add"))
if sc.get("privileged") or sc.get("allowPrivilegeEscalation") is not False:
    err("daemonset: must not be privileged nor allow privilege escalation")
res = c.get("resources") or {}
if not (res.get("requests") or {}).get("memory") or not (res.get("limits") or {}).get("memory"):
    err("daemonset: memory request and limit required")
args = c.get("args") or []
if "-c" not in args or args.index("-c") + 1 >= len(args):
    err("daemonset: no -c CONFIG argument")
    sys.exit("\n".join(errors))
conf_path = args[args.index("-c") + 1]
vols = {v.get("name"): v for v in pod.get("volumes") or []}
mounts = {m.get("mountPath"): m for m in c.get("volumeMounts") or []}
conf_dir, conf_file = os.path.split(conf_path)
m = mounts.get(conf_dir)
if not m or not m.get("readOnly"):
    err("daemonset: %s must be a read-only mount" % conf_dir)
else:
    v = vols.get(m.get("name")) or {}
    cmv = v.get("configMap") or {}
    if cmv.get("name") != cm["metadata"]["name"]:
        err("daemonset: %s is not the ConfigMap %s" % (conf_dir, cm["metadata"]["name"]))
    items = {i.get("path"): i.get("key") for i in cmv.get("items") or []}
    key = items.get(conf_file) if items else conf_file
    if key not in (cm.get("data") or {}):
        err("daemonset: %s is not a key of the ConfigMap" % conf_path)
m = mounts.get("/run/libvirt")
if not m or not m.get("readOnly") or \
        ((vols.get(m.get("name")) or {}).get("hostPath") or {}).get("path") != "/run/libvirt":
    err("daemonset: /run/libvirt must be a read-only hostPath mount")

# The configuration, for labelflowd --check-config.
text = (cm.get("data") or {}).get(conf_file)
if not text:
    err("configmap: no %s" % conf_file)
else:
    with open(conf_out, "w") as f:
        f.write(text)
if errors:
    sys.exit("\n".join(errors))
print("ok: %d manifests; RBAC %d resources x get/list/watch; DaemonSet and ConfigMap" %
      (len(docs), len(got)))
EOF

"$PY" "$T/check.py" "$DEPLOY" "$T/labelflowd.conf" || fail "deploy/kubernetes does not validate"

# The checks fail on tampered copies: one mutation each, every one must be caught.
mutate() { # NAME SED-EXPR FILE
	rm -rf "$T/bad"
	cp -r "$DEPLOY" "$T/bad"
	sed -i "$2" "$T/bad/$3"
	cmp -s "$DEPLOY/$3" "$T/bad/$3" && fail "mutation '$1' changed nothing"
	if "$PY" "$T/check.py" "$T/bad" "$T/bad.conf" >"$T/bad.out" 2>&1; then
		fail "mutation '$1' was not caught"
	fi
	echo "ok: caught $1: $(tail -n 1 "$T/bad.out")"
}
mutate "a write verb" 's/"watch"\]/"watch", "delete"]/' clusterrole.yaml
mutate "secrets" 's/"namespaces"\]/"namespaces", "secrets"]/' clusterrole.yaml
mutate "jobs dropped" 's/resources: \["jobs"\]/resources: ["cronjobs"]/' clusterrole.yaml
mutate "no host network" 's/hostNetwork: true/hostNetwork: false/' daemonset.yaml
mutate "hostPID" 's/hostPID: false/hostPID: true/' daemonset.yaml
mutate "default DNS policy" 's/dnsPolicy: ClusterFirstWithHostNet/dnsPolicy: ClusterFirst/' \
	daemonset.yaml
mutate "SYS_ADMIN" 's/add: \["BPF", "PERFMON", "NET_ADMIN"\]/add: ["SYS_ADMIN"]/' daemonset.yaml
mutate "NODE_NAME" 's/fieldPath: spec.nodeName/fieldPath: metadata.name/' daemonset.yaml
mutate "broken YAML" 's/^kind: ConfigMap$/kind: ConfigMap\n  bad: [/' configmap.yaml
mutate "binding to another account" 's/    name: labelflowd$/    name: default/' \
	clusterrolebinding.yaml

# The ConfigMap's configuration, as labelflowd reads it.
if "$LABELFLOWD" --check-config -c "$T/labelflowd.conf" >"$T/check.out" 2>&1; then
	echo "ok: labelflowd --check-config accepts the ConfigMap's labelflowd.conf"
else
	printf 'kubernetes: { enabled = false; };\ncapture: { backend = "ebpf"; };\n' \
		>"$T/probe.conf"
	if ! "$LABELFLOWD" --check-config -c "$T/probe.conf" >/dev/null 2>&1; then
		echo "note: this labelflowd lacks the kubernetes/ebpf settings; --check-config of" \
			"the ConfigMap skipped: $(tail -n 1 "$T/check.out")"
	else
		fail "labelflowd --check-config rejects the ConfigMap: $(cat "$T/check.out")"
	fi
fi
