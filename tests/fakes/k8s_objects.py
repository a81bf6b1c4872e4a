#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Build Kubernetes objects for fake_apiserver.py, shaped as an API server stores them.

  k8s_objects.py KIND ARGS...   print one line {"resource": R, "object": {...}}
  k8s_objects.py state          read such lines on stdin, print a --state file
  k8s_objects.py op OP          read such lines on stdin, print a control command (OP is
                                add, modify or apply; several lines make one "batch")

Every uid is derived from kind/namespace/name, so ownerReferences name their owners' real
uids without coordination. KINDs: pod, replicaset, job, node, namespace, service,
endpointslice (see KIND --help).
"""
import argparse
import json
import sys
import uuid

CREATED = "2026-01-05T10:00:00Z"


def uid(kind, namespace, name):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "k8s/%s/%s/%s" % (kind, namespace, name)))


API = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1",
       "DaemonSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1", "Node": "v1",
       "Service": "v1"}


def owner_ref(spec, namespace):
    kind, name = spec.split("/", 1)
    return {"apiVersion": API.get(kind, "v1"), "kind": kind, "name": name,
            "uid": uid(kind, namespace, name), "controller": True, "blockOwnerDeletion": True}


def labels(pairs):
    out = {}
    for p in pairs or []:
        k, v = p.split("=", 1)
        out[k] = v
    return out


def meta(kind, name, namespace, args):
    md = {"name": name, "uid": uid(kind, namespace or "", name), "creationTimestamp": CREATED}
    if namespace:
        md["namespace"] = namespace
    lab = labels(getattr(args, "label", None))
    if lab:
        md["labels"] = lab
    if getattr(args, "owner", None):
        md["ownerReferences"] = [owner_ref(args.owner, namespace)]
        if kind == "Pod":
            md["generateName"] = name.rsplit("-", 1)[0] + "-"
    return md


def pod(a):
    obj = {"metadata": meta("Pod", a.name, a.namespace, a),
           "spec": {"nodeName": a.node, "restartPolicy": "Always",
                    "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9"}],
                    "serviceAccountName": "default"},
           "status": {"phase": a.phase, "podIP": a.ip, "podIPs": [{"ip": a.ip}],
                      "startTime": CREATED,
                      "conditions": [{"type": "Ready", "status": "True"}]}}
    if a.host_ip:
        obj["status"]["hostIP"] = a.host_ip
        obj["status"]["hostIPs"] = [{"ip": a.host_ip}]
    if a.host_network:
        obj["spec"]["hostNetwork"] = True
    return "pods", obj


def replicaset(a):
    return "replicasets", {"metadata": meta("ReplicaSet", a.name, a.namespace, a),
                           "spec": {"replicas": 1}, "status": {"replicas": 1}}


def job(a):
    return "jobs", {"metadata": meta("Job", a.name, a.namespace, a),
                    "spec": {"completions": 1}, "status": {"active": 1}}


def node(a):
    md = meta("Node", a.name, None, a)
    lab = md.setdefault("labels", {})
    lab.update({"kubernetes.io/hostname": a.name, "kubernetes.io/os": "linux"})
    if a.zone:
        lab["topology.kubernetes.io/zone"] = a.zone
    if a.region:
        lab["topology.kubernetes.io/region"] = a.region
    spec = {}
    if a.pod_cidr:
        spec = {"podCIDR": a.pod_cidr, "podCIDRs": [a.pod_cidr]}
    if a.provider_id:
        spec["providerID"] = a.provider_id
    return "nodes", {"metadata": md, "spec": spec,
                     "status": {"addresses": [{"type": "InternalIP", "address": a.ip},
                                              {"type": "Hostname", "address": a.name}],
                                "conditions": [{"type": "Ready", "status": "True"}]}}


def namespace(a):
    md = meta("Namespace", a.name, None, a)
    md.setdefault("labels", {})["kubernetes.io/metadata.name"] = a.name
    return "namespaces", {"metadata": md, "spec": {"finalizers": ["kubernetes"]},
                          "status": {"phase": "Active"}}


def service(a):
    return "services", {"metadata": meta("Service", a.name, a.namespace, a),
                        "spec": {"type": "ClusterIP", "clusterIP": a.cluster_ip,
                                 "clusterIPs": [a.cluster_ip], "ipFamilies": ["IPv4"],
                                 "selector": labels(a.selector),
                                 "ports": [{"name": "p", "port": a.port, "protocol": "TCP",
                                            "targetPort": a.port}]},
                        "status": {"loadBalancer": {}}}


def endpointslice(a):
    md = meta("EndpointSlice", a.name, a.namespace, a)
    md.setdefault("labels", {}).update({
        "kubernetes.io/service-name": a.service,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"})
    md["ownerReferences"] = [owner_ref("Service/" + a.service, a.namespace)]
    eps = []
    for e in a.endpoint or []:
        ip, rest = e.split("=", 1)
        podname, _, where = rest.partition("@")
        nodename, _, zone = where.partition(",")
        ep = {"addresses": [ip], "conditions": {"ready": True, "serving": True,
                                                "terminating": False},
              "targetRef": {"kind": "Pod", "namespace": a.namespace, "name": podname,
                            "uid": uid("Pod", a.namespace, podname)}}
        if nodename:
            ep["nodeName"] = nodename
        if zone:
            ep["zone"] = zone
        eps.append(ep)
    return "endpointslices", {"metadata": md, "addressType": "IPv4", "endpoints": eps,
                              "ports": [{"name": "p", "port": a.port, "protocol": "TCP"}]}


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("state", "op"):
        lines = [json.loads(x) for x in sys.stdin if x.strip()]
        if sys.argv[1] == "state":
            objs = {}
            for x in lines:
                objs.setdefault(x["resource"], []).append(x["object"])
            print(json.dumps({"objects": objs}, indent=1))
        else:
            ops = [{"op": sys.argv[2], "resource": x["resource"], "object": x["object"]}
                   for x in lines]
            print(json.dumps(ops[0] if len(ops) == 1 else {"op": "batch", "ops": ops}))
        return
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="kind", required=True)
    p = sub.add_parser("pod")
    p.add_argument("namespace")
    p.add_argument("name")
    p.add_argument("ip")
    p.add_argument("--node", required=True)
    p.add_argument("--host-ip")
    p.add_argument("--owner", help="KIND/NAME of the controller")
    p.add_argument("--label", action="append", help="KEY=VALUE")
    p.add_argument("--phase", default="Running")
    p.add_argument("--host-network", action="store_true")
    p.set_defaults(fn=pod)
    for kind, fn in (("replicaset", replicaset), ("job", job)):
        p = sub.add_parser(kind)
        p.add_argument("namespace")
        p.add_argument("name")
        p.add_argument("--owner", help="KIND/NAME of the controller")
        p.add_argument("--label", action="append")
        p.set_defaults(fn=fn)
    p = sub.add_parser("node")
    p.add_argument("name")
    p.add_argument("--ip", required=True)
    p.add_argument("--zone")
    p.add_argument("--region")
    p.add_argument("--pod-cidr")
    p.add_argument("--provider-id")
    p.add_argument("--label", action="append")
    p.set_defaults(fn=node, namespace=None)
    p = sub.add_parser("namespace")
    p.add_argument("name")
    p.add_argument("--label", action="append")
    p.set_defaults(fn=namespace, namespace=None)
    p = sub.add_parser("service")
    p.add_argument("namespace")
    p.add_argument("name")
    p.add_argument("--cluster-ip", required=True)
    p.add_argument("--selector", action="append", help="KEY=VALUE")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--label", action="append")
    p.set_defaults(fn=service)
    p = sub.add_parser("endpointslice")
    p.add_argument("namespace")
    p.add_argument("name")
    p.add_argument("--service", required=True)
    p.add_argument("--endpoint", action="append", help="IP=POD[@NODE[,ZONE]]")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--label", action="append")
    p.set_defaults(fn=endpointslice)
    a = ap.parse_args()
    resource, obj = a.fn(a)
    print(json.dumps({"resource": resource, "object": obj}, separators=(",", ":")))


if __name__ == "__main__":
    main()
