#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The CNI bridge node (live_cni_bridge.inc) captured live with the ebpf backend.
BACKEND=ebpf
. "$top_srcdir/tests/e2e/live_cni_bridge.inc"
