#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""IPFIX-over-TCP or -TLS collector for tests.

  ipfix_stream_collector.py PORT OUT [--drop-after K [--hold SECONDS]] [--rcvbuf BYTES]
                            [--tls CERT KEY [--client-ca CA]]

Listens on 127.0.0.1:PORT (creates OUT.ready once listening), accepts one connection and
appends every complete IPFIX message to OUT (a valid IPFIX file for ipfixDump), until the
exporter closes. With --tls the stream is TLS (server certificate CERT, key KEY; with
--client-ca a client certificate issued by CA is required, and its subject is written to
OUT.peer). OUT.count gets the number of messages saved.

--drop-after K models a collector that goes away after K messages without losing what its
kernel acknowledged. It first stops reading for --hold seconds (with a small --rcvbuf the
exporter then has data written but unacknowledged), then shutdown() sends a FIN that acknowledges exactly the bytes queued here,
and makes the kernel answer any later data with a reset (never acknowledged); the queued
bytes are read out and their complete messages saved; then the socket is closed with a
reset (SO_LINGER 0). A partial message at the end is never saved.
"""
import argparse
import socket
import ssl
import struct
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("out")
ap.add_argument("--drop-after", type=int, default=0)
ap.add_argument("--hold", type=float, default=0.0)
ap.add_argument("--rcvbuf", type=int, default=0)
ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
ap.add_argument("--client-ca")
a = ap.parse_args()

ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if a.rcvbuf:
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)  # inherited by accept()
ls.bind(("127.0.0.1", a.port))
ls.listen(1)
ctx = None
if a.tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.tls[0], a.tls[1])
    if a.client_ca:
        ctx.load_verify_locations(a.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
open(a.out + ".ready", "w").close()
while True:
    raw, _ = ls.accept()
    if not ctx:
        conn = raw
        break
    try:
        conn = ctx.wrap_socket(raw, server_side=True)
        break
    except (ssl.SSLError, OSError) as e:  # a client that gave up: wait for the next one
        print("collector: handshake failed: %s" % e, file=sys.stderr)
        raw.close()
ls.close()
if a.client_ca:
    with open(a.out + ".peer", "w") as p:
        p.write("%s\n" % (conn.getpeercert() or {}).get("subject", ""))

buf = b""
msgs = 0
dropping = False


def take(f, limit):
    """Save complete messages from the front of buf, at most limit (0: all); how many."""
    global buf
    n = 0
    while len(buf) >= 16 and (not limit or n < limit):
        version, length = struct.unpack("!HH", buf[:4])
        if version != 10 or length < 16:
            sys.exit("collector: bad IPFIX header: version %d length %d" % (version, length))
        if len(buf) < length:
            break
        f.write(buf[:length])
        buf = buf[length:]
        n += 1
    f.flush()
    return n


with open(a.out, "wb") as f:
    while True:
        try:
            chunk = conn.recv(65536)
        except (ssl.SSLError, OSError):
            chunk = b""
        if not chunk:
            break  # the exporter closed; or, dropping, the queue is read out
        buf += chunk
        if a.drop_after and not dropping:
            msgs += take(f, a.drop_after - msgs)
            if msgs < a.drop_after:
                continue
            time.sleep(a.hold)
            # The plain socket's shutdown: SSLSocket.shutdown would end the TLS session.
            socket.socket.shutdown(conn, socket.SHUT_RDWR)
            dropping = True
        msgs += take(f, 0)
if dropping:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
conn.close()
with open(a.out + ".count", "w") as c:
    c.write("%d\n" % msgs)
