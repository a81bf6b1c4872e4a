#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fake cloud instance metadata service (AWS IMDSv2, GCP, Azure IMDS) for labelflow tests.

Serves one provider on 127.0.0.1 with the real services' header rules:
  aws:   PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds (1..21600), else 400;
         GET /latest/... without a valid, unexpired X-aws-ec2-metadata-token is 401 (IMDSv2
         required); X-Forwarded-For is refused (403).
  gcp:   /computeMetadata/v1/... needs "Metadata-Flavor: Google", else 403; answers carry
         "Metadata-Flavor: Google"; X-Forwarded-For is refused (403).
  azure: /metadata/instance needs "Metadata: true" and a known api-version, else 400 with a
         JSON error; X-Forwarded-For is refused (400).
Prints "PORT <n>" on stdout once listening. Test control (not part of any real service):
  POST /__fake/config  JSON {"sleep_ms": N, "status": N|null, "malformed": bool,
                             "values": {"path or dotted.azure.key": "value" | null}}
  GET  /__fake/stats   JSON {"requests": N, "by_status": {"200": N, ...}}
"""
import argparse
import copy
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

AWS_MAC1 = "0e:1a:2b:3c:4d:5e"
AWS_MAC2 = "0e:99:88:77:66:55"

AWS_TREE = {
    "latest/meta-data/ami-id": "ami-0a1b2c3d4e5f67890",
    "latest/meta-data/hostname": "ip-10-20-1-15.eu-west-1.compute.internal",
    "latest/meta-data/instance-id": "i-0abc123def4567890",
    "latest/meta-data/instance-type": "m6i.large",
    "latest/meta-data/local-hostname": "ip-10-20-1-15.eu-west-1.compute.internal",
    "latest/meta-data/local-ipv4": "10.20.1.15",
    "latest/meta-data/mac": AWS_MAC1,
    "latest/meta-data/placement/availability-zone": "eu-west-1b",
    "latest/meta-data/placement/availability-zone-id": "euw1-az2",
    "latest/meta-data/placement/region": "eu-west-1",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC1}/device-number": "0",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC1}/interface-id": "eni-0f1e2d3c4b5a69788",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC1}/local-ipv4s": "10.20.1.15\n10.20.1.77",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC1}/owner-id": "123456789012",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC1}/subnet-id": "subnet-0123456789abcdef0",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC1}/subnet-ipv4-cidr-block": "10.20.0.0/20",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC1}/subnet-ipv6-cidr-blocks":
        "2a05:d018:1234:5600::/64",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC1}/vpc-id": "vpc-0fedcba9876543210",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC1}/vpc-ipv4-cidr-block": "10.20.0.0/16",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC1}/vpc-ipv4-cidr-blocks":
        "10.20.0.0/16\n100.64.0.0/16",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC2}/device-number": "1",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC2}/interface-id": "eni-0a0a0a0a0a0a0a0a0",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC2}/local-ipv4s": "100.64.3.9\n100.64.3.10",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC2}/subnet-id": "subnet-0aaaabbbbccccdddd",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC2}/subnet-ipv4-cidr-block": "100.64.0.0/19",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC2}/vpc-id": "vpc-0fedcba9876543210",
    f"latest/meta-data/network/interfaces/macs/{AWS_MAC2}/vpc-ipv4-cidr-blocks":
        "10.20.0.0/16\n100.64.0.0/16",
}

GCP_TREE = {
    "computeMetadata/v1/instance/hostname": "gke-prod-pool-1-abcd.us-central1-a.c.proj.internal",
    "computeMetadata/v1/instance/id": "4520031799277581759",
    "computeMetadata/v1/instance/machine-type": "projects/123456789012/machineTypes/e2-standard-4",
    "computeMetadata/v1/instance/name": "gke-prod-pool-1-abcd",
    "computeMetadata/v1/instance/zone": "projects/123456789012/zones/us-central1-a",
    "computeMetadata/v1/instance/network-interfaces/0/gateway": "10.128.0.1",
    "computeMetadata/v1/instance/network-interfaces/0/ip": "10.128.0.7",
    "computeMetadata/v1/instance/network-interfaces/0/mac": "42:01:0a:80:00:07",
    "computeMetadata/v1/instance/network-interfaces/0/mtu": "1460",
    "computeMetadata/v1/instance/network-interfaces/0/network":
        "projects/123456789012/networks/prod-vpc",
    "computeMetadata/v1/instance/network-interfaces/0/subnetmask": "255.255.240.0",
    "computeMetadata/v1/project/project-id": "proj",
    "computeMetadata/v1/project/numeric-project-id": "123456789012",
}

AZURE_DOC = {
    "compute": {
        "azEnvironment": "AzurePublicCloud",
        "location": "westeurope",
        "name": "aks-nodepool1-12345678-vmss000000",
        "osType": "Linux",
        "resourceGroupName": "MC_rg_aks_westeurope",
        "subscriptionId": "8d10da13-8125-4ba9-a717-bf7490507b3d",
        "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
        "vmSize": "Standard_D4s_v3",
        "zone": "2",
        "tags": "",
    },
    "network": {
        "interface": [
            {
                "ipv4": {
                    "ipAddress": [
                        {"privateIpAddress": "10.224.0.4", "publicIpAddress": ""},
                        {"privateIpAddress": "10.224.0.33", "publicIpAddress": ""},
                    ],
                    "subnet": [{"address": "10.224.0.0", "prefix": "16"}],
                },
                "ipv6": {"ipAddress": []},
                "macAddress": "000D3A2B4C5D",
            }
        ]
    },
}

AZURE_VERSIONS = ["2017-04-02", "2018-10-01", "2019-06-01", "2020-09-01", "2021-01-01",
                  "2021-02-01", "2021-05-01", "2021-12-13", "2023-07-01"]


class State:
    def __init__(self, provider):
        self.lock = threading.Lock()
        self.provider = provider
        self.sleep_ms = 0
        self.status = None
        self.malformed = False
        self.aws = dict(AWS_TREE)
        self.gcp = dict(GCP_TREE)
        self.azure = copy.deepcopy(AZURE_DOC)
        self.tokens = {}  # token -> expiry (monotonic seconds)
        self.requests = 0
        self.by_status = {}

    def set_value(self, key, value):
        if self.provider == "azure":
            node = self.azure
            parts = key.split(".")
            for p in parts[:-1]:
                node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
            if value is None:
                node.pop(parts[-1], None)
            else:
                node[parts[-1]] = value
            return
        tree = self.aws if self.provider == "aws" else self.gcp
        if value is None:
            tree.pop(key, None)
        else:
            tree[key] = value


def listing(tree, prefix):
    """A metadata directory: its immediate children, sub-directories with a trailing '/'."""
    names = []
    for path in tree:
        if path.startswith(prefix) and path != prefix:
            rest = path[len(prefix):]
            name = rest.split("/")[0] + ("/" if "/" in rest else "")
            if name not in names:
                names.append(name)
    return "\n".join(sorted(names)) if names else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EC2ws"  # replaced per provider below

    def log_message(self, fmt, *args):  # quiet: tests read stdout for the port only
        pass

    def reply(self, status, body, ctype="text/plain", headers=None):
        data = body.encode() if isinstance(body, str) else body
        st = self.server.state
        with st.lock:
            st.by_status[str(status)] = st.by_status.get(str(status), 0) + 1
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def control(self):
        st = self.server.state
        if self.path == "/__fake/stats" and self.command == "GET":
            with st.lock:
                body = json.dumps({"requests": st.requests, "by_status": st.by_status})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())
            return
        if self.path == "/__fake/config" and self.command == "POST":
            n = int(self.headers.get("Content-Length") or 0)
            cfg = json.loads(self.rfile.read(n) or b"{}")
            with st.lock:
                if "sleep_ms" in cfg:
                    st.sleep_ms = int(cfg["sleep_ms"])
                if "status" in cfg:
                    st.status = cfg["status"]
                if "malformed" in cfg:
                    st.malformed = bool(cfg["malformed"])
                for k, v in cfg.get("values", {}).items():
                    st.set_value(k, v)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def handle_any(self):
        st = self.server.state
        if self.path.startswith("/__fake/"):
            self.control()
            return
        with st.lock:
            st.requests += 1
            sleep_ms, forced = st.sleep_ms, st.status
        # A request body (none is expected) is read so the connection stays usable.
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if sleep_ms:
            time.sleep(sleep_ms / 1000.0)
        if forced:
            self.reply(int(forced), "forced failure\n")
            return
        getattr(self, "serve_" + st.provider)()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_any

    # ---- AWS IMDSv2 ----------------------------------------------------------------------
    def serve_aws(self):
        st = self.server.state
        url = urlsplit(self.path)
        if self.headers.get("X-Forwarded-For"):
            self.reply(403, "Forbidden\n")
            return
        if url.path == "/latest/api/token":
            if self.command != "PUT":
                self.reply(405, "Method Not Allowed\n")
                return
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                self.reply(400, "Bad Request\n")
                return
            token = secrets.token_urlsafe(42)
            with st.lock:
                st.tokens[token] = time.monotonic() + int(ttl)
            self.reply(200, token, headers={"X-aws-ec2-metadata-token-ttl-seconds": ttl})
            return
        if self.command not in ("GET", "HEAD"):
            self.reply(405, "Method Not Allowed\n")
            return
        token = self.headers.get("X-aws-ec2-metadata-token")
        with st.lock:
            exp = st.tokens.get(token) if token else None
        if exp is None or exp < time.monotonic():
            self.reply(401, "Unauthorized\n")
            return
        key = url.path.lstrip("/")
        with st.lock:
            value = st.aws.get(key)
            if value is None:
                value = listing(st.aws, key if key.endswith("/") else key + "/")
            if st.malformed and key.endswith("subnet-ipv4-cidr-block"):
                value = "10.20.0.0/99"
        if value is None:
            self.reply(404, "Not Found\n")
            return
        self.reply(200, value)

    # ---- GCP -----------------------------------------------------------------------------
    def serve_gcp(self):
        st = self.server.state
        url = urlsplit(self.path)
        flavor = {"Metadata-Flavor": "Google"}
        if not url.path.startswith("/computeMetadata/"):
            self.reply(404, "Not Found\n", headers=flavor)
            return
        if self.headers.get("X-Forwarded-For"):
            self.reply(403, "Forbidden\n", headers=flavor)
            return
        if self.headers.get("Metadata-Flavor") != "Google":
            self.reply(403, "Your client does not have permission to get URL "
                       f"{url.path} from this server. Missing Metadata-Flavor:Google header.\n",
                       ctype="text/html; charset=UTF-8", headers=flavor)
            return
        key = url.path.lstrip("/")
        with st.lock:
            value = st.gcp.get(key)
            if value is None and key.endswith("/"):
                value = listing(st.gcp, key)
            if st.malformed and key.endswith("/subnetmask"):
                value = "255.0.255.0"
        if value is None:
            self.reply(404, "Not Found\n", ctype="text/html; charset=UTF-8", headers=flavor)
            return
        self.reply(200, value, ctype="application/text", headers=flavor)

    # ---- Azure IMDS ----------------------------------------------------------------------
    def azure_error(self, msg, extra=None):
        body = {"error": msg}
        body.update(extra or {})
        self.reply(400, json.dumps(body), ctype="application/json; charset=utf-8")

    def serve_azure(self):
        st = self.server.state
        url = urlsplit(self.path)
        if url.path not in ("/metadata/instance", "/metadata/instance/"):
            self.reply(404, json.dumps({"error": "Not found"}),
                       ctype="application/json; charset=utf-8")
            return
        if self.headers.get("X-Forwarded-For"):
            self.azure_error("Bad request. X-Forwarded-For header is not allowed")
            return
        if self.headers.get("Metadata", "").lower() != "true":
            self.azure_error("Bad request. Required metadata header not specified")
            return
        version = parse_qs(url.query).get("api-version", [None])[0]
        if version is None:
            self.azure_error("Bad request. api-version was not specified in the request. "
                             "For more information refer to aka.ms/azureimds",
                             {"newest-versions": AZURE_VERSIONS[-3:][::-1]})
            return
        if version not in AZURE_VERSIONS:
            self.azure_error("Bad request. api-version is invalid or was not specified in the "
                             "request. For more information refer to aka.ms/azureimds",
                             {"newest-versions": AZURE_VERSIONS[-3:][::-1]})
            return
        if self.command != "GET":
            self.reply(405, json.dumps({"error": "Method not allowed"}),
                       ctype="application/json; charset=utf-8")
            return
        with st.lock:
            body = json.dumps(st.azure)
            malformed = st.malformed
        if malformed:
            body = body[: len(body) // 2]  # cut mid-document, as a dropped connection would
        self.reply(200, body, ctype="application/json; charset=utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--provider", choices=("aws", "gcp", "azure"), required=True)
    ap.add_argument("--port", type=int, default=0, help="0: choose a free port")
    args = ap.parse_args()

    Handler.server_version = {"aws": "EC2ws", "gcp": "Metadata Server for VM",
                              "azure": "Microsoft-IIS/10.0"}[args.provider]
    Handler.sys_version = ""
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args.provider)
    print(f"PORT {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
