#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""IPFIX-over-UDP collector for tests: ipfix_udp_collector.py PORT OUT.

Binds 127.0.0.1:PORT, appends every datagram that is one whole IPFIX message to OUT (a
valid IPFIX file that ipfixDump reads), and for each one a line "ARRIVAL_MS SEQUENCE LENGTH"
to OUT.arrivals, in the same order. Creates OUT.ready once bound; runs until killed.
Anything that is not one IPFIX message is counted in OUT.rejected, never stored."""
import socket
import struct
import sys
import time

port, out = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(("127.0.0.1", port))
open(out + ".ready", "w").close()
rejected = 0
with open(out, "wb") as f, open(out + ".arrivals", "w") as arr:
    while True:
        msg = s.recv(65535)
        t = int(time.time() * 1000)
        if len(msg) < 16:
            version, length = 0, 0
        else:
            version, length, _, seq, _ = struct.unpack("!HHIII", msg[:16])
        if version != 10 or length != len(msg):
            rejected += 1
            with open(out + ".rejected", "w") as r:
                r.write("%d\n" % rejected)
            continue
        f.write(msg)
        f.flush()
        arr.write("%d %d %d\n" % (t, seq, length))
        arr.flush()
