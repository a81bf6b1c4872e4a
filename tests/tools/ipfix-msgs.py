#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Message-level view of an IPFIX stream as a UDP collector stored it.

  ipfix-msgs.py FILE [ARRIVALS]

FILE holds whole IPFIX messages back to back (an IPFIX file), ARRIVALS one "ARRIVAL_MS
SEQUENCE LENGTH" line per message (tests/fakes/ipfix_udp_collector.py writes both). Templates are learnt as they
arrive (RFC 7011 section 8), data records are counted with their template's field lengths
(variable-length fields included). Prints one JSON object:

  messages         messages received
  first_template   index of the first message carrying a (options) template set, or null
  first_template_ms  its arrival time
  unknown_before   data sets received before first_template (undecodable: no template yet)
  unknown_after    data sets at or after first_template whose template was not known yet
  gaps             messages at or after first_template whose sequence number is not the
                   previous message's plus the data records it carried
  end_sequence     the last message's sequence number plus its data records
  records_by_tid   data records at or after first_template, by template ID
"""
import json
import struct
import sys

VARLEN = 65535


def parse_template_set(body, options):
    """Yield (tid, [field lengths]) for each template record in a set body."""
    p = 0
    while p + 4 <= len(body):
        tid, count = struct.unpack("!HH", body[p:p + 4])
        p += 4
        if options:
            p += 2  # scope field count
        lengths = []
        for _ in range(count):
            ie, length = struct.unpack("!HH", body[p:p + 4])
            p += 8 if ie & 0x8000 else 4
            lengths.append(length)
        yield tid, lengths


def count_records(body, lengths):
    """Data records in a data set body, walking variable-length fields."""
    n, p = 0, 0
    fixed = all(length != VARLEN for length in lengths)
    min_len = sum(length for length in lengths if length != VARLEN)
    while p < len(body) and len(body) - p >= max(min_len, 1):
        if fixed:
            p += min_len
        else:
            for length in lengths:
                if length == VARLEN:
                    vl = body[p]
                    p += 1
                    if vl == 255:
                        vl = struct.unpack("!H", body[p:p + 2])[0]
                        p += 2
                    p += vl
                else:
                    p += length
        if p > len(body):
            sys.exit("data set overruns its length")
        n += 1
    return n


def main():
    data = open(sys.argv[1], "rb").read()
    arrivals = None
    if len(sys.argv) > 2:
        arrivals = [line.split() for line in open(sys.argv[2]) if line.strip()]
    templates = {}
    out = {"messages": 0, "first_template": None, "first_template_ms": None,
           "unknown_before": 0, "unknown_after": 0, "gaps": 0, "end_sequence": None,
           "records_by_tid": {}}
    off, i, prev_end = 0, 0, None
    while off < len(data):
        version, length, _, seq, _ = struct.unpack("!HHIII", data[off:off + 16])
        if version != 10 or length < 16 or (arrivals and int(arrivals[i][2]) != length):
            sys.exit("message %d: not an IPFIX message matching the arrivals file" % i)
        records = 0
        p, end = off + 16, off + length
        while p + 4 <= end:
            set_id, set_len = struct.unpack("!HH", data[p:p + 4])
            if set_len < 4 or p + set_len > end:
                sys.exit("message %d: bad set length" % i)
            body = data[p + 4:p + set_len]
            if set_id in (2, 3):
                for tid, lengths in parse_template_set(body, set_id == 3):
                    templates[tid] = lengths
                if out["first_template"] is None:
                    out["first_template"] = i
                    out["first_template_ms"] = int(arrivals[i][0]) if arrivals else None
            elif set_id >= 256:
                if set_id not in templates:
                    key = "unknown_before" if out["first_template"] is None else "unknown_after"
                    out[key] += 1
                else:
                    n = count_records(body, templates[set_id])
                    records += n
                    if out["first_template"] is not None:
                        tid = str(set_id)
                        out["records_by_tid"][tid] = out["records_by_tid"].get(tid, 0) + n
            p += set_len
        if out["first_template"] is not None:
            if prev_end is not None and seq != prev_end:
                out["gaps"] += 1
            prev_end = (seq + records) & 0xFFFFFFFF
        out["end_sequence"] = prev_end
        off = end
        i += 1
    out["messages"] = i
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
