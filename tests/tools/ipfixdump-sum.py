#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Sum one integer element over every flow data record in ipfixDump output (stdin).
Options records (RFC 5610 type records, template ID 0xfff0) are skipped."""
import re
import sys

FIELD = re.compile(r"^\s*\((\d+(?:/\d+)?)\)\s+(?:\(S\)\s+)?(\w+) : (.*)$")
TID = re.compile(r"tid:\s*(\d+)")

want = sys.argv[1]
total = 0
in_flow = False
for line in sys.stdin:
    m = TID.search(line)
    if m:
        in_flow = int(m.group(1)) != 0xFFF0
        continue
    m = FIELD.match(line)
    if in_flow and m and m.group(2) == want:
        total += int(m.group(3).split()[0])
print(total)
