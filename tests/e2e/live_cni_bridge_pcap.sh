#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The CNI bridge node (live_cni_bridge.inc) captured live with the pcap backend.
BACKEND=pcap
. "$top_srcdir/tests/e2e/live_cni_bridge.inc"
