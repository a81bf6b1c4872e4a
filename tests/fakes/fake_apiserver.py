#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""fake_apiserver: a Kubernetes API server for tests, python3 stdlib only.

Serves LIST (limit/continue, PartialObjectMetadataList), GET and WATCH (chunked, with event
lines deliberately split across chunks, history replay, BOOKMARKs, 410 handling) over HTTPS
with a generated test CA and Bearer-token auth. Objects come from the real fixtures
(--fixtures DIR, read in place) and from the test (--state FILE); a plain-HTTP control port
on 127.0.0.1 changes them and injects failures. See the CONTROL section of --help.
"""
import argparse
import base64
import copy
import datetime
import json
import os
import random
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CONTROL_HELP = """
CONTROL: POST a JSON object to http://127.0.0.1:CONTROL/ (or GET /stats, GET /objects/RES).
Every answer is JSON: {"ok": true, "rv": "<resourceVersion after the op>", "time_ms": <wall
clock of the change>, ...} or {"ok": false, "error": "..."} with HTTP 4xx.
  {"op":"add","resource":"pods","object":{...}}         ADDED (409 if it exists)
  {"op":"modify","resource":R,"object":{...}}            MODIFIED, full replacement (404 if absent)
  {"op":"apply","resource":R,"object":{...}}             add or modify
  {"op":"patch","resource":R,"namespace":NS,"name":N,"merge":{...}}   RFC 7386 merge patch
  {"op":"delete","resource":R,"namespace":NS,"name":N,"grace":false}  DELETED; grace=true
        first sends MODIFIED with metadata.deletionTimestamp, as a kubelet-driven delete does
  {"op":"batch","ops":[...]}             several changes at once (watchers wake once)
  {"op":"replay","path":FILE}            apply the watch events of a JSONL file (e.g. the
        fixtures' watch/*.jsonl): ADDED/MODIFIED -> add or modify, DELETED -> delete
  {"op":"expire","resource":R|null,"how":"event"|"http"|"none"}
        compaction: a fresh RV becomes the oldest watchable one. how=event: open watches get
        an ERROR 410 "too old resource version" event and end; how=http: open watches end
        cleanly and the next watch of R, if from a compacted RV, gets HTTP 410 instead of
        the ERROR event; how=none: watches stay open.
  {"op":"expire-continue","on_page":0}   outstanding continue tokens expire (HTTP 410 with
        a fresh inconsistent continue token); on_page=N>0 instead arms a one-shot: the
        next continue request for page N of any list gets the 410.
  {"op":"bookmark","resource":R|null}    BOOKMARK now on watches that allow bookmarks
  {"op":"close-watches","resource":R|null,"how":"clean"|"fin"|"rst"}
        end open watches: terminating chunk / FIN without it / TCP reset
  {"op":"restart","down_ms":0}           close every watch with a TCP reset; new connections
        are reset for down_ms (state survives, like etcd behind a restarted apiserver)
  {"op":"pause","mode":"503"|"429"|"refuse"|"hang","retry_after":1,"duration_ms":0,
        "drop_watches":true}             outage until resume (or duration_ms): 503/429 with
        Retry-After and a Status body, connections reset, or requests held unanswered
  {"op":"resume"}
  {"op":"rotate-token","token":T|null,"drop_watches":true,"file_delay_ms":0}   the old token
        gets 401; the new one is written to DIR/token, DIR/serviceaccount/token and both
        kubeconfigs (file_delay_ms later, if given)
  {"op":"set-page-size","max":N,"force":false}  cap LIST pages at N items (0: no cap);
        force also pages LISTs that sent no limit
  {"op":"set","bookmark_interval_ms":N,"split_delay_ms":N,"too_old":"event"|"http"}
"""

# resource -> (group, version, kind, namespaced)
RESOURCES = {
    "pods": ("", "v1", "Pod", True),
    "services": ("", "v1", "Service", True),
    "nodes": ("", "v1", "Node", False),
    "namespaces": ("", "v1", "Namespace", False),
    "endpointslices": ("discovery.k8s.io", "v1", "EndpointSlice", True),
    "replicasets": ("apps", "v1", "ReplicaSet", True),
    "deployments": ("apps", "v1", "Deployment", True),
    "daemonsets": ("apps", "v1", "DaemonSet", True),
    "statefulsets": ("apps", "v1", "StatefulSet", True),
    "jobs": ("batch", "v1", "Job", True),
    "cronjobs": ("batch", "v1", "CronJob", True),
}
KIND_TO_RESOURCE = {v[2]: k for k, v in RESOURCES.items()}
META_GV = "meta.k8s.io/v1"
PUBLIC_PATHS = ("/version", "/healthz", "/readyz", "/livez")

# Built-in shapes, replaced by the fixtures' constructed/ files when --fixtures is given.
GONE_CONTINUE = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": "The provided continue parameter is too old to display a consistent list "
    "result. You can start a new list without the continue parameter, or use the continue "
    "token in this response to retrieve the remainder of the results. Continuing with the "
    "provided token results in an inconsistent list - objects that were created, modified, "
    "or deleted between the time the first chunk was returned and now may show up in the "
    "list.", "reason": "Expired", "code": 410}
WATCH_ERROR_410 = {
    "type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "message": "too old resource version: "
                                "%d (%d)", "reason": "Expired", "code": 410}}
# The two real BOOKMARK object shapes: metadata only, and client-go's zero-valued Pod.
BOOKMARK_SHAPES = [{"metadata": {}},
                   {"metadata": {"creationTimestamp": None}, "spec": {"containers": None},
                    "status": {}}]

def log(msg):
    t = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(t)) + ".%03d" % (int(t * 1000) % 1000)
    sys.stderr.write("k8sfake %s %s\n" % (stamp, msg))
    sys.stderr.flush()


def now_ms():
    return int(time.time() * 1000)


def rfc3339(t=None):
    return datetime.datetime.fromtimestamp(t if t is not None else time.time(),
                                           datetime.timezone.utc).strftime(
                                               "%Y-%m-%dT%H:%M:%SZ")


def status(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


def api_version(resource):
    g, v = RESOURCES[resource][0], RESOURCES[resource][1]
    return "%s/%s" % (g, v) if g else v


def obj_key(obj):
    md = obj.get("metadata") or {}
    return (md.get("namespace") or "", md.get("name") or "")


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def field_value(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


class SelectorError(ValueError):
    pass


def parse_field_selector(text):
    terms = []
    for t in filter(None, (x.strip() for x in (text or "").split(","))):
        for op in ("!=", "==", "="):
            if op in t:
                k, v = t.split(op, 1)
                terms.append((k.strip(), "!=" if op == "!=" else "=", v.strip()))
                break
        else:
            raise SelectorError("invalid field selector term '%s'" % t)
    return terms


def split_top(text):
    """Split a label selector on commas outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [x.strip() for x in out if x.strip()]


def parse_label_selector(text):
    terms = []
    for t in split_top(text or ""):
        words = t.split()
        if len(words) >= 2 and words[1] in ("in", "notin"):
            rest = t.split(None, 2)[2].strip()
            if not (rest.startswith("(") and rest.endswith(")")):
                raise SelectorError("invalid label selector term '%s'" % t)
            vals = {v.strip() for v in rest[1:-1].split(",")}
            terms.append((words[0], words[1], vals))
        elif t.startswith("!"):
            terms.append((t[1:].strip(), "!exists", None))
        elif "!=" in t:
            k, v = t.split("!=", 1)
            terms.append((k.strip(), "!=", v.strip()))
        elif "==" in t or "=" in t:
            k, v = t.split("==", 1) if "==" in t else t.split("=", 1)
            terms.append((k.strip(), "=", v.strip()))
        else:
            terms.append((t, "exists", None))
    return terms


def selectors_match(obj, fields, labels):
    if obj is None:
        return False
    for k, op, v in fields:
        got = field_value(obj, k)
        if (got == v) != (op == "="):
            return False
    lab = (obj.get("metadata") or {}).get("labels") or {}
    for k, op, v in labels:
        if op == "exists" and k not in lab:
            return False
        if op == "!exists" and k in lab:
            return False
        if op == "=" and lab.get(k) != v:
            return False
        if op == "!=" and lab.get(k) == v:
            return False
        if op == "in" and lab.get(k) not in v:
            return False
        if op == "notin" and lab.get(k) in v:
            return False
    return True


class Watcher:
    """One open WATCH. Fields other than pending/flags belong to the handler thread."""

    def __init__(self, resource, namespace, fields, labels, partial, bookmarks, peer):
        self.resource = resource
        self.namespace = namespace
        self.fields = fields
        self.labels = labels
        self.partial = partial
        self.bookmarks = bookmarks
        self.peer = peer
        self.pending = []  # encoded event lines, guarded by the store lock
        self.flag = None  # "expire", "clean", "fin", "rst": guarded by the store lock
        self.start_rv = 0
        self.bookmark_now = False

    def matches(self, obj):
        if obj is None:
            return False
        if self.namespace and obj_key(obj)[0] != self.namespace:
            return False
        return selectors_match(obj, self.fields, self.labels)

    def translate(self, etype, old, new):
        """The event this watch sees for a change, or None (selector semantics)."""
        was, now = self.matches(old), self.matches(new)
        if etype == "DELETED":
            return ("DELETED", new) if was else None
        if etype == "ADDED":
            return ("ADDED", new) if now else None
        if was and now:
            return ("MODIFIED", new)
        if now:
            return ("ADDED", new)
        if was:
            return ("DELETED", new)
        return None


class Store:
    def __init__(self, args):
        self.cond = threading.Condition()
        self.rv = 0
        self.objects = {r: {} for r in RESOURCES}
        self.history = deque()  # (rv, resource, type, old, new), oldest first
        self.history_max = args.history
        self.floor = 0  # a watch from rv < floor is too old
        self.list_floor = 0  # continue tokens with rv < list_floor are expired
        self.snapshots = {}  # (resource, rv) -> (created, sorted list of objects)
        self.continue_ttl = args.continue_ttl
        self.watchers = set()
        self.tokens = set()
        self.page_max = 0
        self.page_force = False
        self.pause = None  # {"mode", "retry_after", "until"} or None
        self.http410_next = set()  # resources whose next watch gets HTTP 410
        self.continue_410_page = 0  # one-shot: fail the continue request of this page
        self.too_old = args.too_old
        self.bookmark_interval_ms = args.bookmark_interval_ms
        self.split_delay_ms = args.split_delay_ms
        self.rng = random.Random(args.seed)
        self.stats = {
            "requests": 0, "lists": {}, "list_pages": {}, "continues": {}, "watches": {},
            "watch_open": {}, "events_sent": {}, "bookmarks_sent": {}, "errors_sent": {},
            "committed": {}, "codes": {}, "refused": 0, "held": 0, "gets": {},
            "watch_from_rv": {}, "list_rv": {}, "bookmark_rv": {}, "watch_bookmarks": {},
            "partial": {}, "tls_failures": 0,
        }

    def count(self, name, key=None, n=1):
        with self.cond:
            if key is None:
                self.stats[name] += n
            else:
                self.stats[name][key] = self.stats[name].get(key, 0) + n

    # ---- changes -------------------------------------------------------------------
    def _stamp(self, resource, obj):
        md = obj.setdefault("metadata", {})
        if not md.get("name"):
            raise ValueError("object has no metadata.name")
        if RESOURCES[resource][3]:
            md.setdefault("namespace", "default")
        else:
            md.pop("namespace", None)
        md.setdefault("uid", str(uuid.uuid4()))
        md.setdefault("creationTimestamp", rfc3339())
        obj.pop("kind", None)
        obj.pop("apiVersion", None)

    def load(self, resource, obj):
        """Initial state (fixtures, --state): no events; keeps a numeric RV if present."""
        obj = copy.deepcopy(obj)
        self._stamp(resource, obj)
        md = obj["metadata"]
        rv = md.get("resourceVersion")
        if isinstance(rv, str) and rv.isdigit():
            self.rv = max(self.rv, int(rv))
        else:
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
        replaced = obj_key(obj) in self.objects[resource]
        self.objects[resource][obj_key(obj)] = obj
        return replaced

    def _commit(self, resource, etype, old, new):
        """Caller holds the lock. new is stored (or removed for DELETED) with a fresh RV."""
        self.rv += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        key = obj_key(new)
        if etype == "DELETED":
            self.objects[resource].pop(key, None)
        else:
            self.objects[resource][key] = new
        self.history.append((self.rv, resource, etype, old, new))
        while len(self.history) > self.history_max:
            self.floor = self.history.popleft()[0]
        self.stats["committed"][resource] = self.stats["committed"].get(resource, 0) + 1
        for w in self.watchers:
            if w.resource == resource and not w.flag:  # a watch being ended gets no more
                ev = w.translate(etype, old, new)
                if ev:
                    w.pending.append(encode_event(resource, ev[0], ev[1], w.partial))
        return self.rv

    def change(self, op, resource, obj=None, namespace=None, name=None, merge=None,
               grace=False):
        """One control change; caller holds the lock. Returns the RVs it committed."""
        if resource not in RESOURCES:
            raise KeyError("unknown resource '%s'" % resource)
        if op in ("add", "modify", "apply"):
            new = copy.deepcopy(obj)
            self._stamp(resource, new)
            old = self.objects[resource].get(obj_key(new))
            if op == "add" and old is not None:
                raise FileExistsError("%s %s/%s exists" % ((resource,) + obj_key(new)))
            if op == "modify" and old is None:
                raise FileNotFoundError("%s %s/%s not found" % ((resource,) + obj_key(new)))
            if old is not None:
                new["metadata"]["uid"] = old["metadata"]["uid"]
                new["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"]
            return [self._commit(resource, "MODIFIED" if old else "ADDED", old, new)]
        key = ((namespace or "default") if RESOURCES[resource][3] else "", name or "")
        old = self.objects[resource].get(key)
        if old is None:
            raise FileNotFoundError("%s %s/%s not found" % ((resource,) + key))
        if op == "patch":
            new = merge_patch(old, merge or {})
            new["metadata"]["name"], new["metadata"]["uid"] = old["metadata"]["name"], \
                old["metadata"]["uid"]
            if key[0]:
                new["metadata"]["namespace"] = key[0]
            return [self._commit(resource, "MODIFIED", old, new)]
        if op == "delete":
            rvs = []
            if grace:
                mid = copy.deepcopy(old)
                mid["metadata"]["deletionTimestamp"] = rfc3339()
                mid["metadata"]["deletionGracePeriodSeconds"] = 30
                rvs.append(self._commit(resource, "MODIFIED", old, mid))
                old = mid
            rvs.append(self._commit(resource, "DELETED", old, copy.deepcopy(old)))
            return rvs
        raise ValueError("unknown op '%s'" % op)

    def snapshot(self, resource, rv):
        """Caller holds the lock. The sorted objects of resource at the current rv."""
        key = (resource, rv)
        if key not in self.snapshots:
            items = [self.objects[resource][k] for k in sorted(self.objects[resource])]
            self.snapshots[key] = (time.monotonic(), items)
        cutoff = time.monotonic() - self.continue_ttl
        for k in [k for k, v in self.snapshots.items() if v[0] < cutoff and k != key]:
            del self.snapshots[k]
        return self.snapshots[key][1]


def encode_event(resource, etype, obj, partial):
    return (json.dumps({"type": etype, "object": typed(resource, obj, partial)},
                       separators=(",", ":")) + "\n").encode()


def typed(resource, obj, partial):
    if partial:
        return {"kind": "PartialObjectMetadata", "apiVersion": META_GV,
                "metadata": copy.deepcopy(obj.get("metadata", {}))}
    out = {"kind": RESOURCES[resource][2], "apiVersion": api_version(resource)}
    out.update(obj)
    return out


def make_continue(rv, start):
    tok = json.dumps({"v": META_GV, "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(tok.encode()).decode().rstrip("=")


def parse_continue(text):
    try:
        pad = "=" * (-len(text) % 4)
        d = json.loads(base64.urlsafe_b64decode(text + pad).decode())
        if d.get("v") != META_GV or not isinstance(d.get("rv"), int) or \
                not isinstance(d.get("start"), str):
            raise ValueError("bad token")
        return d["rv"], d["start"]
    except (ValueError, UnicodeDecodeError, json.JSONDecodeError, TypeError):
        return None


def accept_form(accept, want_list):
    """None (full objects), "partial", or False (nothing acceptable: 406)."""
    if not accept:
        return None
    for part in accept.split(","):
        items = [x.strip() for x in part.split(";")]
        mtype = items[0].lower()
        params = dict(x.split("=", 1) for x in items[1:] if "=" in x)
        if mtype not in ("application/json", "*/*", "application/*"):
            continue
        as_ = params.get("as")
        if not as_:
            return None
        if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
            continue
        if as_ == "PartialObjectMetadataList" and want_list in (True, None):
            return "partial"
        if as_ == "PartialObjectMetadata" and want_list in (False, None):
            return "partial"
    return False


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-apiserver/1"
    timeout = 120

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, body, extra=None, note=""):
        data = (json.dumps(body, separators=(",", ":")) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.server.store.count("codes", str(code))
        log("%s %s -> %d %s" % (self.command, self.path, code, note))

    def send_status(self, code, reason, message, extra=None, details=None):
        self.send_json(code, status(code, reason, message, details), extra, reason)

    def do_POST(self):
        self.send_status(405, "MethodNotAllowed", "the fake API server is read-only")

    do_PUT = do_PATCH = do_DELETE = do_POST

    def do_GET(self):
        st = self.server.store
        st.count("requests")
        u = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        path = u.path.rstrip("/") or "/"
        with st.cond:
            pause = dict(st.pause) if st.pause else None
        if pause:
            if pause["mode"] == "refuse":  # a kept-alive connection of a server now down
                self.server.store.count("refused")
                self.abort(rst=True)
                log("%s %s -> connection reset (server down)" % (self.command, self.path))
                return
            if pause["mode"] == "hang":
                st.count("held")
                log("%s %s -> held (paused)" % (self.command, self.path))
                with st.cond:
                    while st.pause:
                        st.cond.wait(0.2)
                self.close_connection = True
                return
            code = 429 if pause["mode"] == "429" else 503
            reason = "TooManyRequests" if code == 429 else "ServiceUnavailable"
            self.send_status(code, reason, "the server is currently unable to handle the "
                             "request", {"Retry-After": str(pause["retry_after"])},
                             {"retryAfterSeconds": pause["retry_after"]})
            return
        if path in PUBLIC_PATHS:
            if path == "/version":
                self.send_json(200, {"major": "1", "minor": "28", "gitVersion": "v1.28.14",
                                     "platform": "linux/amd64"})
            else:
                self.send_json(200, "ok")
            return
        auth = self.headers.get("Authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        with st.cond:
            ok = token in st.tokens
        if not ok:
            self.send_status(401, "Unauthorized", "Unauthorized")
            return
        route = self.route(path)
        if route is None:
            self.send_status(404, "NotFound", "the server could not find the requested "
                             "resource")
            return
        resource, namespace, name, watch_path = route
        if name is not None:
            self.get_one(resource, namespace, name)
        elif watch_path or q.get("watch") in ("1", "true"):
            self.watch(resource, namespace, q)
        else:
            self.list(resource, namespace, q)

    @staticmethod
    def route(path):
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "v1"]:
            rest, group, version = parts[2:], "", "v1"
        elif len(parts) >= 3 and parts[0] == "apis":
            rest, group, version = parts[3:], parts[1], parts[2]
        else:
            return None
        watch_path = bool(rest) and rest[0] == "watch"
        if watch_path:
            rest = rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        elif len(rest) == 2 and rest[0] == "namespaces":
            rest = ["namespaces", rest[1]]
        if not rest or len(rest) > 2 or rest[0] not in RESOURCES:
            return None
        resource = rest[0]
        g, v, _, namespaced = RESOURCES[resource]
        if (g, v) != (group, version) or (namespace and not namespaced):
            return None
        name = rest[1] if len(rest) == 2 else None
        if watch_path and name is not None:
            return None
        return resource, namespace, name, watch_path

    def selectors(self, q):
        try:
            return (parse_field_selector(q.get("fieldSelector")),
                    parse_label_selector(q.get("labelSelector")))
        except SelectorError as e:
            self.send_status(400, "BadRequest", str(e))
            return None

    def get_one(self, resource, namespace, name):
        st = self.server.store
        form = accept_form(self.headers.get("Accept"), False)
        if form is False:
            self.send_status(406, "NotAcceptable", "only the following media types are "
                             "accepted: application/json")
            return
        key = (namespace or "" if RESOURCES[resource][3] else "", name)
        if RESOURCES[resource][3] and not namespace:
            self.send_status(404, "NotFound", "the server could not find the requested "
                             "resource")
            return
        with st.cond:
            obj = st.objects[resource].get(key)
            obj = copy.deepcopy(obj) if obj else None
        st.count("gets", resource)
        if obj is None:
            self.send_status(404, "NotFound", '%s "%s" not found' % (resource, name),
                             details={"name": name, "kind": resource})
            return
        self.send_json(200, typed(resource, obj, form == "partial"), note="get")

    def list(self, resource, namespace, q):
        st = self.server.store
        form = accept_form(self.headers.get("Accept"), True)
        if form is False:
            self.send_status(406, "NotAcceptable", "only the following media types are "
                             "accepted: application/json")
            return
        sel = self.selectors(q)
        if sel is None:
            return
        try:
            limit = int(q.get("limit") or 0)
        except ValueError:
            self.send_status(400, "BadRequest", "invalid limit '%s'" % q.get("limit"))
            return
        cont = q.get("continue") or ""
        bad = body = None
        with st.cond:
            per = limit
            if st.page_max and (per > st.page_max or (not per and st.page_force)):
                per = st.page_max
            if cont:
                tok = parse_continue(cont)
                st.stats["continues"][resource] = st.stats["continues"].get(resource, 0) + 1
                if tok is None:
                    bad = "continue key is not valid: incorrect encoded start resourceVersion"
                else:
                    rv, start = tok
                    snap = st.snapshots.get((resource, rv))
                    expired = rv < st.list_floor or snap is None
                    if not expired and st.continue_410_page and per:
                        done = sum(1 for o in snap[1] if "%s/%s" % obj_key(o) < start)
                        if done // per + 1 == st.continue_410_page:
                            st.continue_410_page = 0
                            expired = True
                    if expired:
                        fresh = st.rv
                        st.snapshot(resource, fresh)
                        body = copy.deepcopy(self.server.gone_continue)
                        body.setdefault("metadata", {})["continue"] = make_continue(fresh,
                                                                                    start)
                    else:
                        items = snap[1]
            else:
                rv, start = st.rv, ""
                items = st.snapshot(resource, rv)
                st.stats["lists"][resource] = st.stats["lists"].get(resource, 0) + 1
                st.stats["list_rv"][resource] = str(rv)
            if bad is None and body is None:
                sel_items = [o for o in items if "%s/%s" % obj_key(o) >= start and
                             (not namespace or obj_key(o)[0] == namespace) and
                             selectors_match(o, *sel)]
                page = sel_items[:per] if per else sel_items
                rest = sel_items[len(page):]
                st.stats["list_pages"][resource] = st.stats["list_pages"].get(resource, 0) + 1
                if form == "partial":
                    st.stats["partial"][resource] = st.stats["partial"].get(resource, 0) + 1
        if bad:
            self.send_status(400, "BadRequest", bad)
            return
        if body is not None:
            self.send_json(410, body, note="continue expired")
            return
        meta = {"resourceVersion": str(rv)}
        if rest:
            k = "%s/%s" % obj_key(rest[0])
            meta["continue"] = make_continue(rv, k)
            if not sel[0] and not sel[1]:
                meta["remainingItemCount"] = len(rest)
        if form == "partial":
            out = {"kind": "PartialObjectMetadataList", "apiVersion": META_GV,
                   "metadata": meta, "items": [typed(resource, o, True) for o in page]}
        else:
            out = {"kind": RESOURCES[resource][2] + "List", "apiVersion": api_version(resource),
                   "metadata": meta, "items": page}
        self.send_json(200, out, note="list %s items=%d rv=%s%s%s" % (
            resource, len(page), rv, " continue" if rest else "",
            " partial" if form == "partial" else ""))

    def write_chunked(self, data, rng, delay_ms):
        """Send data as chunks cut at random points, pausing between the pieces."""
        if len(data) > 1 and rng.random() >= 0.2:
            n = min(len(data) - 1, rng.randint(1, 3))
            cuts = sorted(rng.sample(range(1, len(data)), n))
            pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        else:
            pieces = [data]
        for i, p in enumerate(pieces):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(p), p))
            if i + 1 < len(pieces) and delay_ms > 0:
                time.sleep(rng.uniform(0, delay_ms) / 1000.0)

    def client_gone(self):
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            self.connection.settimeout(0.0)
            try:
                return self.connection.recv(1) == b""
            finally:
                self.connection.settimeout(None)
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except OSError:
            return True

    def watch(self, resource, namespace, q):
        st = self.server.store
        form = accept_form(self.headers.get("Accept"), None)
        if form is False:
            self.send_status(406, "NotAcceptable", "only the following media types are "
                             "accepted: application/json")
            return
        sel = self.selectors(q)
        if sel is None:
            return
        rv_param = q.get("resourceVersion", "")
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        initial = q.get("sendInitialEvents") == "true"
        try:
            timeout_s = int(q.get("timeoutSeconds") or self.server.default_watch_s)
        except ValueError:
            self.send_status(400, "BadRequest", "invalid timeoutSeconds")
            return
        if rv_param not in ("", "0") and not rv_param.isdigit():
            self.send_status(400, "BadRequest", "invalid resource version: %s" % rv_param)
            return
        w = Watcher(resource, namespace, sel[0], sel[1], form == "partial", bookmarks,
                    self.client_address)
        deadline = time.monotonic() + timeout_s
        want = int(rv_param) if rv_param not in ("", "0") else None  # "0": any version
        with st.cond:
            end = time.monotonic() + self.server.too_large_wait_s
            while want is not None and want > st.rv and time.monotonic() < end:
                st.cond.wait(0.1)
            cur, floor = st.rv, st.floor
            too_large = want is not None and want > cur
            too_old = not too_large and want is not None and want < floor
            http410 = too_old and (st.too_old == "http" or resource in st.http410_next)
            st.http410_next.discard(resource)  # armed by expire how=http, for one watch
            lines = []
            if not too_large and not too_old:
                if want is None:
                    for k in sorted(st.objects[resource]):
                        o = st.objects[resource][k]
                        if w.matches(o):
                            lines.append(encode_event(resource, "ADDED", o, w.partial))
                    if initial and bookmarks:
                        bm = self.bookmark_obj(resource, st.rv, w.partial)
                        bm["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
                        lines.append((json.dumps({"type": "BOOKMARK", "object": bm},
                                                 separators=(",", ":")) + "\n").encode())
                else:
                    for ev_rv, res, etype, old, new in st.history:
                        if res == resource and ev_rv > want:
                            ev = w.translate(etype, old, new)
                            if ev:
                                lines.append(encode_event(resource, ev[0], ev[1], w.partial))
                st.watchers.add(w)
                s = st.stats
                s["watches"][resource] = s["watches"].get(resource, 0) + 1
                s["watch_open"][resource] = s["watch_open"].get(resource, 0) + 1
                s["watch_from_rv"][resource] = rv_param
                if bookmarks:
                    s["watch_bookmarks"][resource] = s["watch_bookmarks"].get(resource, 0) + 1
            seed = st.rng.random()
        if too_large:
            self.send_status(504, "Timeout", "Too large resource version: %s, current: %d" %
                             (rv_param, cur), details={"causes": [
                                 {"reason": "ResourceVersionTooLarge",
                                  "message": "Too large resource version"}],
                                 "retryAfterSeconds": 1})
            return
        if too_old and http410:
            self.send_status(410, "Expired", "too old resource version: %s (%d)" %
                             (rv_param, floor))
            return
        rng = random.Random(seed)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        st.count("codes", "200")
        log("GET %s -> 200 watch %s rv=%s%s%s" % (self.path, resource, rv_param or "-",
                                                   " bookmarks" if bookmarks else "",
                                                   " too-old" if too_old else ""))
        if too_old:
            err = copy.deepcopy(self.server.watch_error)
            err["object"]["message"] = err["object"]["message"] % (want, floor)
            try:
                self.write_chunked((json.dumps(err, separators=(",", ":")) + "\n").encode(),
                                   rng, 0)
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            st.count("errors_sent", resource)
            return
        w.start_rv = want or 0
        self.stream(w, lines, deadline, rng)

    def bookmark_obj(self, resource, rv, partial):
        if partial:
            return {"kind": "PartialObjectMetadata", "apiVersion": META_GV,
                    "metadata": {"resourceVersion": str(rv)}}
        shape = BOOKMARK_SHAPES[0]
        if resource == "pods" and self.server.store.rng.random() < 0.5:
            shape = BOOKMARK_SHAPES[1]
        obj = {"kind": RESOURCES[resource][2], "apiVersion": api_version(resource)}
        obj.update(copy.deepcopy(shape))
        obj["metadata"]["resourceVersion"] = str(rv)
        return obj

    def stream(self, w, lines, deadline, rng):
        st = self.server.store
        sent = bms = 0
        why = "timeout"
        never = float("inf")
        next_bm = time.monotonic() + st.bookmark_interval_ms / 1000.0 if w.bookmarks else never
        try:
            if lines:
                self.write_chunked(b"".join(lines), rng, st.split_delay_ms)
                sent += len(lines)
                st.count("events_sent", w.resource, len(lines))
            while True:
                with st.cond:
                    while not w.pending and not w.flag and not w.bookmark_now:
                        left = min(deadline, next_bm) - time.monotonic()
                        if left <= 0:
                            break
                        st.cond.wait(min(left, 0.25))
                        if not w.pending and not w.flag and self.client_gone():
                            w.flag = "gone"
                    batch, w.pending = w.pending, []
                    flag = w.flag
                    delay = st.split_delay_ms
                    bm_rv = None
                    t = time.monotonic()
                    if w.bookmarks and not batch and (w.bookmark_now or t >= next_bm or
                                                      (t >= deadline and not flag)):
                        bm_rv = st.rv
                    w.bookmark_now = False
                if batch:
                    self.write_chunked(b"".join(batch), rng, delay)
                    sent += len(batch)
                    st.count("events_sent", w.resource, len(batch))
                if flag == "gone":
                    why = "client closed"
                    self.close_connection = True
                    return
                if flag == "rst":
                    why = "reset"
                    self.abort(rst=True)
                    return
                if flag == "fin":
                    why = "closed without terminator"
                    self.abort(rst=False)
                    return
                if flag == "expire":
                    with st.cond:
                        floor, cur = st.floor, st.rv
                    err = copy.deepcopy(self.server.watch_error)
                    err["object"]["message"] = err["object"]["message"] % (w.start_rv, floor)
                    self.write_chunked((json.dumps(err, separators=(",", ":")) +
                                        "\n").encode(), rng, delay)
                    st.count("errors_sent", w.resource)
                    why = "expired (rv %d)" % cur
                    break
                if bm_rv is not None:
                    bm = {"type": "BOOKMARK",
                          "object": self.bookmark_obj(w.resource, bm_rv, w.partial)}
                    self.write_chunked((json.dumps(bm, separators=(",", ":")) +
                                        "\n").encode(), rng, delay)
                    bms += 1
                    st.count("bookmarks_sent", w.resource)
                    with st.cond:
                        st.stats["bookmark_rv"][w.resource] = str(bm_rv)
                    next_bm = time.monotonic() + st.bookmark_interval_ms / 1000.0
                if flag == "clean":
                    why = "closed"
                    break
                if time.monotonic() >= deadline and not batch:
                    break
            self.wfile.write(b"0\r\n\r\n")
        except OSError as e:
            why = "write failed: %s" % e
            self.close_connection = True
        finally:
            with st.cond:
                st.watchers.discard(w)
                st.stats["watch_open"][w.resource] -= 1
            log("watch %s ended: %s, %d events, %d bookmarks" % (w.resource, why, sent, bms))

    def abort(self, rst):
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def verify_request(self, request, client_address):
        with self.store.cond:
            refuse = self.store.pause and self.store.pause["mode"] == "refuse"
            if refuse:
                self.store.stats["refused"] += 1
        if refuse:
            try:
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            log("connection from %s:%d reset (server down)" % client_address)
            return False
        return True

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's thread, never in accept().
        request.settimeout(10)
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.store.count("tls_failures")
            log("TLS handshake with %s:%d failed: %s" % (client_address + (e,)))
            return
        tls.settimeout(None)
        try:
            tls.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.RequestHandlerClass(tls, client_address, self)
        except OSError:
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body):
        data = (json.dumps(body) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        st = self.server.store
        parts = self.path.strip("/").split("/")
        with st.cond:
            if parts == ["stats"]:
                body = copy.deepcopy(st.stats)
                body.update(rv=str(st.rv), floor=str(st.floor), tokens=sorted(st.tokens),
                            objects={r: len(v) for r, v in st.objects.items()},
                            paused=st.pause["mode"] if st.pause else None)
            elif len(parts) == 2 and parts[0] == "objects" and parts[1] in RESOURCES:
                body = [st.objects[parts[1]][k] for k in sorted(st.objects[parts[1]])]
            else:
                body = None
        if body is None:
            self.reply(404, {"ok": False, "error": "GET /stats or /objects/RESOURCE"})
        else:
            self.reply(200, body)

    def do_POST(self):
        try:
            n = int(self.headers.get("Content-Length") or 0)
            cmd = json.loads(self.rfile.read(n) or b"{}")
            if not isinstance(cmd, dict):
                raise ValueError("the command must be a JSON object")
            body = self.server.control.run(cmd)
            self.reply(200, body)
        except (KeyError, ValueError) as e:
            self.reply(400, {"ok": False, "error": str(e)})
        except FileNotFoundError as e:
            self.reply(404, {"ok": False, "error": str(e)})
        except FileExistsError as e:
            self.reply(409, {"ok": False, "error": str(e)})


class Control:
    def __init__(self, store, files):
        self.st = store
        self.files = files

    def flag_watches(self, resource, flag):
        for w in self.st.watchers:
            if resource in (None, w.resource) and not w.flag:
                w.flag = flag

    def resume_at(self, ms):
        def later():
            time.sleep(ms / 1000.0)
            with self.st.cond:
                self.st.pause = None
                self.st.cond.notify_all()
            log("control: resumed after %d ms" % ms)
        threading.Thread(target=later, daemon=True).start()

    def run(self, cmd):
        st = self.st
        out = {"ok": True, "rvs": []}
        with st.cond:
            self.run_locked(cmd, out)
            out["rv"] = str(st.rv)
            out["time_ms"] = now_ms()
            st.cond.notify_all()
        log("control: %s -> rv %s" % (json.dumps(cmd, separators=(",", ":"))[:200],
                                       out["rv"]))
        return out

    def run_locked(self, cmd, out):
        """One command; the caller holds the store lock. Changes append to out["rvs"]."""
        st = self.st
        op = cmd.get("op")
        if op in ("add", "modify", "apply", "patch", "delete"):
            out["rvs"] += st.change(op, cmd.get("resource"), cmd.get("object"),
                                    cmd.get("namespace"), cmd.get("name"),
                                    cmd.get("merge"), bool(cmd.get("grace")))
        elif op == "batch":
            for sub in cmd.get("ops") or []:
                if not isinstance(sub, dict) or sub.get("op") == "batch":
                    raise ValueError("batch: ops must be non-batch commands")
                self.run_locked(sub, out)
        elif op == "replay":
            rvs = out["rvs"]
            with open(cmd["path"]) as f:
                for line in f:
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    obj = ev["object"]
                    res = KIND_TO_RESOURCE[obj["kind"]]
                    key = obj_key(obj)
                    if ev["type"] == "DELETED":
                        if RESOURCES[res][3] and not key[0]:
                            key = ("default", key[1])
                        if key in st.objects[res]:
                            rvs += st.change("delete", res, None, key[0], key[1])
                    elif ev["type"] in ("ADDED", "MODIFIED"):
                        rvs += st.change("apply", res, obj)
        elif op == "expire":
            res = cmd.get("resource")
            how = cmd.get("how", "event")
            if how not in ("event", "http", "none"):
                raise ValueError("how must be event, http or none")
            st.rv += 1
            st.floor = st.rv
            st.history.clear()
            if how == "event":
                self.flag_watches(res, "expire")
            elif how == "http":
                self.flag_watches(res, "clean")
                st.http410_next.update([res] if res else RESOURCES.keys())
        elif op == "expire-continue":
            page = int(cmd.get("on_page") or 0)
            if page:
                st.continue_410_page = page
            else:
                st.rv += 1  # a compaction revision: older list snapshots are gone
                st.list_floor = st.rv
                st.snapshots.clear()
        elif op == "bookmark":
            for w in st.watchers:
                if cmd.get("resource") in (None, w.resource):
                    w.bookmark_now = True
        elif op == "close-watches":
            how = cmd.get("how", "clean")
            if how not in ("clean", "fin", "rst"):
                raise ValueError("how must be clean, fin or rst")
            self.flag_watches(cmd.get("resource"), how)
        elif op == "restart":
            self.flag_watches(None, "rst")
            down = int(cmd.get("down_ms") or 0)
            if down:
                st.pause = {"mode": "refuse", "retry_after": 1}
                self.resume_at(down)
        elif op == "pause":
            mode = str(cmd.get("mode", "503"))
            if mode not in ("503", "429", "refuse", "hang"):
                raise ValueError("mode must be 503, 429, refuse or hang")
            st.pause = {"mode": mode, "retry_after": int(cmd.get("retry_after", 1))}
            if cmd.get("drop_watches", True):
                self.flag_watches(None, "rst")
            if cmd.get("duration_ms"):
                self.resume_at(int(cmd["duration_ms"]))
        elif op == "resume":
            st.pause = None
        elif op == "rotate-token":
            new = cmd.get("token") or "tok-" + uuid.uuid4().hex
            st.tokens = {new}
            delay_ms = int(cmd.get("file_delay_ms") or 0)
            if delay_ms:
                # the token files lag behind the server, as a slow kubelet's would
                threading.Timer(delay_ms / 1000.0, self.files.write_token, [new]).start()
            else:
                self.files.write_token(new)
            if cmd.get("drop_watches", True):
                self.flag_watches(None, "clean")
            out["token"] = new
        elif op == "set-page-size":
            st.page_max = int(cmd.get("max") or 0)
            st.page_force = bool(cmd.get("force"))
        elif op == "set":
            for k in ("bookmark_interval_ms", "split_delay_ms"):
                if k in cmd:
                    setattr(st, k, int(cmd[k]))
            if "too_old" in cmd:
                if cmd["too_old"] not in ("event", "http"):
                    raise ValueError("too_old must be event or http")
                st.too_old = cmd["too_old"]
        else:
            raise ValueError("unknown op '%s'" % op)


class Files:
    """The work directory: CA and server certificate, token, kubeconfigs, service account."""

    def __init__(self, workdir, host, port, sans):
        self.dir = workdir
        self.host = host
        self.port = port
        self.sans = sans

    def path(self, name):
        return os.path.join(self.dir, name)

    def make_certs(self):
        def run(*argv):
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if r.returncode:
                sys.exit("openssl failed: %s\n%s" % (" ".join(argv), r.stdout.decode()))
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        run("openssl", "req", "-x509", *ec, "-keyout", self.path("ca.key"),
            "-out", self.path("ca.crt"), "-days", "3", "-subj", "/CN=fake-apiserver-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("openssl", "req", "-new", *ec, "-keyout", self.path("server.key"),
            "-out", self.path("server.csr"), "-subj", "/CN=kube-apiserver")
        sans = ["IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local"]
        for s in [self.host] + self.sans:
            entry = ("IP:" if s.replace(".", "").isdigit() or ":" in s else "DNS:") + s
            if entry not in sans:
                sans.append(entry)
        with open(self.path("server.ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n" % ",".join(sans))
        run("openssl", "x509", "-req", "-in", self.path("server.csr"), "-CA",
            self.path("ca.crt"), "-CAkey", self.path("ca.key"), "-CAcreateserial",
            "-out", self.path("server.crt"), "-days", "3", "-extfile", self.path("server.ext"))

    def atomic_write(self, name, text):
        tmp = self.path(name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.path(name))

    def write_token(self, token):
        self.atomic_write("token", token)
        self.atomic_write(os.path.join("serviceaccount", "token"), token)
        self.write_kubeconfigs(token)

    def write_kubeconfigs(self, token):
        host = "[%s]" % self.host if ":" in self.host else self.host
        server = "https://%s:%d" % (host, self.port)
        for name, user in (("kubeconfig", "token: %s" % json.dumps(token)),
                           ("kubeconfig-tokenfile",
                            "tokenFile: %s" % json.dumps(self.path("token")))):
            self.atomic_write(name, """apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: fake-user
  user:
    %s
contexts:
- name: fake
  context:
    cluster: fake
    user: fake-user
    namespace: default
current-context: fake
preferences: {}
""" % (json.dumps(server), json.dumps(self.path("ca.crt")), user))

    def write_serviceaccount(self, token):
        sa = self.path("serviceaccount")
        os.makedirs(sa, exist_ok=True)
        with open(self.path("ca.crt")) as src, open(os.path.join(sa, "ca.crt"), "w") as dst:
            dst.write(src.read())
        with open(os.path.join(sa, "namespace"), "w") as f:
            f.write("kube-system")
        self.write_token(token)
        with open(self.path("env"), "w") as f:
            f.write("KUBERNETES_SERVICE_HOST=%s\nKUBERNETES_SERVICE_PORT=%d\n" %
                    (self.host, self.port))


def load_fixtures(store, root, sets):
    """Load the fixture tree in place (never copied): LISTs, kubectl arrays, single objects."""
    names = sets or sorted(d for d in os.listdir(root)
                           if os.path.isdir(os.path.join(root, d)) and
                           d not in ("constructed", "watch"))
    replaced = loaded = 0
    for name in names:
        d = os.path.join(root, name)
        if not os.path.isdir(d):
            sys.exit("fixture set '%s' not found in %s" % (name, root))
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".json"):
                continue
            with open(os.path.join(d, fn)) as f:
                doc = json.load(f)
            if isinstance(doc, list):
                pairs = [(KIND_TO_RESOURCE.get(o.get("kind")), o) for o in doc]
            elif isinstance(doc, dict) and doc.get("kind", "").endswith("List") and \
                    "items" in doc:
                res = KIND_TO_RESOURCE.get(doc["kind"][:-4])
                pairs = [(res, o) for o in doc["items"]]
            elif isinstance(doc, dict) and doc.get("kind") in KIND_TO_RESOURCE:
                pairs = [(KIND_TO_RESOURCE[doc["kind"]], doc)]
            else:
                continue  # watch events and anything else: not state
            for res, obj in pairs:
                if res is None:
                    continue
                replaced += store.load(res, obj)
                loaded += 1
    log("fixtures: %d objects from %s (%d replaced an earlier set's object)" %
        (loaded, ",".join(names), replaced))
    constructed = os.path.join(root, "constructed")
    templates = {}
    p = os.path.join(constructed, "list-continue-expired-410.json")
    if os.path.exists(p):
        with open(p) as f:
            templates["gone_continue"] = json.load(f)
    p = os.path.join(constructed, "watch-control-events.jsonl")
    if os.path.exists(p):
        with open(p) as f:
            for line in f:
                ev = json.loads(line)
                if ev.get("type") == "ERROR" and ev["object"].get("code") == 410:
                    msg = ev["object"]["message"]
                    ev["object"]["message"] = msg.split(":")[0] + ": %d (%d)"
                    templates["watch_error"] = ev
    return templates


def main():
    ap = argparse.ArgumentParser(description=__doc__ + CONTROL_HELP,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixtures", help="the fixture tree (read in place)")
    ap.add_argument("--fixture-sets", help="comma-separated set directories (default: all)")
    ap.add_argument("--state", help="JSON: {\"objects\": {RESOURCE: [obj, ...]}, "
                    "\"token\": T, \"resourceVersion\": N}")
    ap.add_argument("--dir", help="work directory for certificates and kubeconfigs "
                    "(default: a temporary one, removed at exit)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--san", action="append", default=[], help="extra certificate name")
    ap.add_argument("--token", help="initial token (default: random)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the chunk splitter")
    ap.add_argument("--history", type=int, default=1000, help="events kept for watches")
    ap.add_argument("--bookmark-interval-ms", type=int, default=5000)
    ap.add_argument("--split-delay-ms", type=int, default=20,
                    help="longest pause between the pieces of one write")
    ap.add_argument("--too-old", choices=("event", "http"), default="event",
                    help="answer to a watch from a compacted RV: ERROR event or HTTP 410")
    ap.add_argument("--default-watch-s", type=int, default=1800)
    ap.add_argument("--too-large-wait-s", type=float, default=3.0)
    ap.add_argument("--continue-ttl", type=float, default=300.0)
    args = ap.parse_args()

    store = Store(args)
    templates = {}
    if args.fixtures:
        templates = load_fixtures(store, args.fixtures,
                                  args.fixture_sets.split(",") if args.fixture_sets else None)
    token = args.token or "tok-" + uuid.uuid4().hex
    if args.state:
        with open(args.state) as f:
            state = json.load(f)
        for res, objs in (state.get("objects") or {}).items():
            if res not in RESOURCES:
                sys.exit("--state: unknown resource '%s'" % res)
            for o in objs:
                store.load(res, o)
        store.rv = max(store.rv, int(state.get("resourceVersion") or 0))
        token = args.token or state.get("token") or token
    store.rv += 1  # the list RV is newer than every loaded object
    store.floor = store.rv
    store.tokens = {token}

    cleanup = None
    workdir = args.dir
    if not workdir:
        workdir = tempfile.mkdtemp(prefix="fake-apiserver.")
        cleanup = workdir
    os.makedirs(workdir, exist_ok=True)
    workdir = os.path.abspath(workdir)

    api = ApiServer((args.host, args.port), ApiHandler, bind_and_activate=False)
    if ":" in args.host:
        api.address_family = socket.AF_INET6
        api.socket = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    api.server_bind()
    api.server_activate()
    port = api.server_address[1]
    files = Files(workdir, args.host, port, args.san)
    files.make_certs()
    files.write_serviceaccount(token)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(files.path("server.crt"), files.path("server.key"))
    ctx.set_alpn_protocols(["http/1.1"])
    api.ssl_ctx = ctx
    api.store = store
    api.gone_continue = templates.get("gone_continue", GONE_CONTINUE)
    api.watch_error = templates.get("watch_error", WATCH_ERROR_410)
    api.default_watch_s = args.default_watch_s
    api.too_large_wait_s = args.too_large_wait_s

    ctl = ThreadingHTTPServer(("127.0.0.1", args.control_port), ControlHandler)
    ctl.daemon_threads = True
    ctl.store = store
    ctl.control = Control(store, files)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    log("listening on https://%s:%d, control on http://127.0.0.1:%d, rv %d, %s" % (
        args.host, port, ctl.server_address[1], store.rv, workdir))
    print("READY port=%d control=%d kubeconfig=%s" % (port, ctl.server_address[1],
                                                        files.path("kubeconfig")), flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        if cleanup:
            subprocess.run(["rm", "-rf", cleanup])


if __name__ == "__main__":
    main()
