#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The flow table a capture must yield, decoded independently of labelflowd by tshark, and
the same projection of the records labelflowd exported, so the two can be diffed.

    pcap_flows.py pcap PCAP [TSHARK-ARGS...]   expected table, from `tshark -r PCAP`
    pcap_flows.py records DUMP                 table of an ipfixDump text file

One line per flow key, sorted: the innermost IP packet's addresses, protocol, ports (ICMP:
0 and 0, type * 256 + code in icmpTypeCode), the outer frame's outermost VLAN ID, and for
tunnelled packets the tunnel type and VNI / GRE key / NVGRE VSID (layer2SegmentId); then
the packet and octet totals (octets: the inner IP length) and the outer addresses of the
key's first packet. IPv4 and IPv6, inner and outer, in any combination. The records of
DUMP are read by tests/tools/ipfix-records.py, the tests' one ipfixDump parser.
"""
import ipaddress
import os
import runpy
import subprocess
import sys

FIELDS = ("frame.protocols", "vlan.id", "ieee8021ad.id", "ip.src", "ip.dst", "ip.proto", "ip.len",
          "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen", "tcp.srcport", "tcp.dstport",
          "udp.srcport", "udp.dstport", "icmp.type", "icmp.code", "icmpv6.type",
          "icmpv6.code", "vxlan.vni", "geneve.vni", "gre.key", "gre.proto")
RECORDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools",
                       "ipfix-records.py")


def num(v):
    """tshark prints some integers in hex (0x001389)."""
    return int(v, 0)


def addr(v):
    return str(ipaddress.ip_address(v)) if v else ""


def key_line(k):
    names = ("src", "dst", "proto", "sport", "dport", "icmp", "vlan", "tunnel", "segment")
    return " ".join(f"{n}={v}" for n, v in zip(names, k))


def emit(table):
    for k in sorted(table, key=key_line):
        p, o, tsrc, tdst = table[k]
        print(f"{key_line(k)} packets={p} octets={o} outer={tsrc}>{tdst}")


def add(table, key, octets, tsrc, tdst):
    p, o, s, d = table.get(key, (0, 0, tsrc, tdst))
    table[key] = (p + 1, o + octets, s, d)


def from_pcap(path, extra):
    cmd = ["tshark", "-n", "-r", path, *extra, "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        v = dict(zip(FIELDS, [c.split(",") if c else [] for c in line.split("\t")]))
        layers = v["frame.protocols"][0].split(":")
        ips = [x for x in layers if x in ("ip", "ipv6")]
        if not ips:
            continue  # ARP and other non-IP frames are no flow
        # Counters per family: which occurrence of ip.* / ipv6.* is the inner / outer header.
        inner, outer = ips[-1], ips[0]
        inner_idx = ips.count(inner) - 1
        if inner == "ip":
            src, dst = v["ip.src"][inner_idx], v["ip.dst"][inner_idx]
            proto, octets = num(v["ip.proto"][inner_idx]), num(v["ip.len"][inner_idx])
        else:
            src, dst = v["ipv6.src"][inner_idx], v["ipv6.dst"][inner_idx]
            proto, octets = num(v["ipv6.nxt"][inner_idx]), num(v["ipv6.plen"][inner_idx]) + 40
        sport = dport = icmp = 0
        if proto == 6 and v["tcp.srcport"]:
            sport, dport = num(v["tcp.srcport"][-1]), num(v["tcp.dstport"][-1])
        elif proto == 17 and v["udp.srcport"]:
            sport, dport = num(v["udp.srcport"][-1]), num(v["udp.dstport"][-1])
        elif proto == 1 and v["icmp.type"]:
            icmp = num(v["icmp.type"][-1]) * 256 + num(v["icmp.code"][-1])
        elif proto == 58 and v["icmpv6.type"]:
            icmp = num(v["icmpv6.type"][-1]) * 256 + num(v["icmpv6.code"][-1])
        # The outermost tag of the outer frame: 802.1Q (vlan.id) or 802.1ad (ieee8021ad.id),
        # whichever comes first; tags inside a tunnel's Ethernet frame do not count.
        tags = [x for x in layers[:layers.index(ips[0])] if x in ("vlan", "ieee8021ad")]
        vlan = 0
        if tags:
            f = "vlan.id" if tags[0] == "vlan" else "ieee8021ad.id"
            vlan = num(v[f][0]) if v[f] else 0
        tunnel, segment, tsrc, tdst = "", 0, "", ""
        if len(ips) > 1:
            if "vxlan" in layers:
                tunnel, segment = "vxlan", num(v["vxlan.vni"][0])
            elif "geneve" in layers:
                tunnel, segment = "geneve", num(v["geneve.vni"][0])
            elif "gre" in layers:
                key = num(v["gre.key"][0]) if v["gre.key"] else 0
                if v["gre.proto"] and num(v["gre.proto"][0]) == 0x6558:
                    tunnel, segment = "nvgre", key >> 8
                else:
                    tunnel, segment = "gre", key
            else:
                tunnel = "ipip"
            fam = "ip" if outer == "ip" else "ipv6"
            tsrc, tdst = addr(v[fam + ".src"][0]), addr(v[fam + ".dst"][0])
        key = (addr(src), addr(dst), proto, sport, dport, icmp, vlan, tunnel, segment)
        add(table, key, octets, tsrc, tdst)
    emit(table)


def from_dump(path):
    records = runpy.run_path(RECORDS)["records"]
    table = {}
    for r in records(path):
        v6 = "sourceIPv6Address" in r and "sourceIPv4Address" not in r
        fam = "IPv6" if v6 else "IPv4"
        tsrc = r.get("tunnelSourceIPv4Address", "0.0.0.0")
        tdst = r.get("tunnelDestinationIPv4Address", "0.0.0.0")
        if tsrc == "0.0.0.0" and r.get("tunnelSourceIPv6Address", "::") not in ("", "::"):
            tsrc = r["tunnelSourceIPv6Address"]
            tdst = r.get("tunnelDestinationIPv6Address", "::")
        tunnel = r.get("tunnelType", "")
        if not tunnel:
            tsrc = tdst = ""
        key = (addr(r["source" + fam + "Address"]), addr(r["destination" + fam + "Address"]),
               int(r["protocolIdentifier"]), int(r.get("sourceTransportPort", 0)),
               int(r.get("destinationTransportPort", 0)),
               int(r.get("icmpTypeCode" + fam, 0)), int(r.get("vlanId", 0)), tunnel,
               int(r.get("layer2SegmentId", 0)))
        p, o, s, d = table.get(key, (0, 0, addr(tsrc), addr(tdst)))
        table[key] = (p + int(r["packetDeltaCount"].split()[0]),
                      o + int(r["octetDeltaCount"].split()[0]), s, d)
    emit(table)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "pcap":
        from_pcap(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 3 and sys.argv[1] == "records":
        from_dump(sys.argv[2])
    else:
        sys.exit(__doc__)
