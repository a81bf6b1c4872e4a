#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Bounded UDP traffic for end-to-end tests.

  udp-traffic.py sink ADDR PORT [READY-FILE]
      receive and discard datagrams on ADDR:PORT until killed (so no ICMP errors).
  udp-traffic.py send DST PORT --count N --interval-ms MS [--sport P] [--src ADDR]
      send N datagrams of 64 bytes, one every MS; with --sport all come from one source
      port (one flow), otherwise each from a fresh ephemeral port (one flow each).
      Prints "FIRST_MS LAST_MS" (wall clock of the first and last send).
"""
import argparse
import socket
import sys
import time


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "sink":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[2], int(sys.argv[3])))
        if len(sys.argv) > 4:
            open(sys.argv[4], "w").close()
        while True:
            s.recv(65535)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["send"])
    ap.add_argument("dst")
    ap.add_argument("port", type=int)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--interval-ms", type=float, required=True)
    ap.add_argument("--sport", type=int, default=0)
    ap.add_argument("--src", default="")
    a = ap.parse_args()
    if a.count > 100000:
        sys.exit("--count is bounded at 100000")
    fixed = None
    if a.sport:
        fixed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fixed.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        fixed.bind((a.src, a.sport))
    first = last = 0
    t0 = time.monotonic()
    for i in range(a.count):
        s = fixed or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if not fixed:
            s.bind((a.src, 0))
        s.sendto(b"labelflow-k8s-e2e-".ljust(64, b"."), (a.dst, a.port))
        last = int(time.time() * 1000)
        first = first or last
        if not fixed:
            s.close()
        delay = t0 + (i + 1) * a.interval_ms / 1000.0 - time.monotonic()
        if delay > 0 and i + 1 < a.count:
            time.sleep(delay)
    print(first, last)


if __name__ == "__main__":
    main()
