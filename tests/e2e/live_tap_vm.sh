#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A KVM guest as libvirt wires it: tap vnet7 on bridge virbr0, the "VM" a small program that
# writes and reads Ethernet frames on the tap. labelflowd runs without -i, so only its
# default patterns bring in vnet7 (and virbr0), and with a fake libvirt runtime directory
# (domain XML naming vnet7) and dnsmasq lease status (VM MAC -> IP), no inventory. The VM's
# flows must carry its name, UUID and kind "vm" on the VM's side, and match the counters.
. "$top_srcdir/tests/e2e/lib.sh"
. "$top_srcdir/tests/e2e/live_lib.sh"

need_root
need ip bridge ipfixDump python3
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

BACKENDS=${LF_BACKENDS:-pcap ebpf}
NODE=lf-vm-$$
TAP=vnet7
BR_IP=192.168.122.1
BR_MAC=52:54:00:00:00:01
VM_IP=192.168.122.50
VM_MAC=52:54:00:6b:3c:50
VM_NAME=web-vm-01
VM_UUID=4f0c7a52-9d2e-4b8a-a1c3-5e6f70819203
COUNT=25     # datagrams each way
PAYLOAD=64   # bytes: 92 IP octets per datagram
PORT_VM=5000 # the VM's UDP port
PORT_HOST=7000

# ---------------------------------------------------------------------------- topology

ns_add "$NODE"
# Without multicast snooping the bridge joins no group, so the node sends no IGMP reports.
ip -n "$NODE" link add virbr0 type bridge mcast_snooping 0
ip -n "$NODE" link set virbr0 address "$BR_MAC"
ip -n "$NODE" addr add "$BR_IP/24" dev virbr0
ip -n "$NODE" link set virbr0 up
ip -n "$NODE" tuntap add dev "$TAP" mode tap
ip -n "$NODE" link set "$TAP" master virbr0
ip -n "$NODE" link set "$TAP" up
# No ARP, no flooding: the node knows the VM's MAC, the bridge knows its port.
ip -n "$NODE" neigh add "$VM_IP" lladdr "$VM_MAC" dev virbr0 nud permanent
bridge -n "$NODE" fdb add "$VM_MAC" dev "$TAP" master static
IDX_TAP=$(ifindex "$NODE" "$TAP")
IDX_BR=$(ifindex "$NODE" virbr0)

# libvirt's runtime state for the VM: /run/libvirt/qemu/NAME.xml and the default network's
# dnsmasq lease status (a JSON array), in private directories.
mkdir -p "$T/qemu" "$T/dnsmasq"
cat >"$T/qemu/$VM_NAME.xml" <<EOF
<!--
WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
OVERWRITTEN AND LOST.
-->
<domstatus state='running' reason='booted' pid='4242'>
  <monitor path='/var/lib/libvirt/qemu/domain-3-$VM_NAME/monitor.sock' type='unix'/>
  <domain type='kvm' id='3'>
    <name>$VM_NAME</name>
    <uuid>$VM_UUID</uuid>
    <memory unit='KiB'>1048576</memory>
    <vcpu placement='static'>1</vcpu>
    <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
    <devices>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <interface type='network'>
        <mac address='$VM_MAC'/>
        <source network='default' portid='8d4e1f9a-6b2c-4d3e-9f10-a1b2c3d4e5f6' bridge='virbr0'/>
        <target dev='$TAP'/>
        <model type='virtio'/>
        <alias name='net0'/>
        <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
      </interface>
    </devices>
  </domain>
</domstatus>
EOF
cat >"$T/dnsmasq/virbr0.status" <<EOF
[
  {
    "ip-address": "$VM_IP",
    "mac-address": "$VM_MAC",
    "hostname": "$VM_NAME",
    "client-id": "ff:56:50:4d:98:00:02:00:00:ab:11:2f:6a:1b:3c:4d:5e:6f:70",
    "expiry-time": $(($(date +%s) + 3600))
  }
]
EOF

# The VM: attaches to the tap, waits for $T/go, sends COUNT UDP datagrams VM -> node (a
# hand-built Ethernet/IPv4/UDP frame each), then reads frames until COUNT datagrams from the
# node arrived (at most 10 s). Prints "sent N received M other K".
cat >"$T/vm.py" <<'EOF'
import fcntl, os, select, socket, struct, sys, time

tap, vm_mac, vm_ip, br_mac, br_ip, sport, dport, count, payload, ready, go = sys.argv[1:]
count, payload, sport, dport = int(count), int(payload), int(sport), int(dport)
TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
open(ready, "w").close()
deadline = time.time() + 20
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit("never told to go")
    time.sleep(0.05)


def csum(b):
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


mac = lambda m: bytes(int(x, 16) for x in m.split(":"))
for i in range(count):
    udp = struct.pack("!HHHH", sport, dport, 8 + payload, 0) + bytes([i & 0xFF]) * payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0x4000, 64, 17, 0,
                     socket.inet_aton(vm_ip), socket.inet_aton(br_ip))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    os.write(fd, mac(br_mac) + mac(vm_mac) + b"\x08\x00" + ip + udp)
    time.sleep(0.002)
got = other = 0
deadline = time.time() + 10
while got < count and time.time() < deadline:
    if not select.select([fd], [], [], 0.2)[0]:
        continue
    f = os.read(fd, 65535)
    if (f[12:14] == b"\x08\x00" and f[23] == 17 and f[30:34] == socket.inet_aton(vm_ip)
            and struct.unpack("!H", f[36:38])[0] == sport):
        got += 1
    else:
        other += 1
print(f"sent {count} received {got} other {other}")
sys.exit(0 if got == count else 1)
EOF

# The node's side: a UDP service on virbr0 that answers every datagram.
cat >"$T/echo.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
open(sys.argv[4], "w").close()
s.settimeout(20)
for _ in range(int(sys.argv[3])):
    data, peer = s.recvfrom(65535)
    s.sendto(data, peer)
EOF

# ---------------------------------------------------------------------------- one run

run_backend() {
	b=$1
	tag=vm-$b
	echo "--- $tag"
	rm -f "$T/vm.ready" "$T/go" "$T/echo.ready"
	bg ip netns exec "$NODE" python3 "$T/vm.py" "$TAP" "$VM_MAC" "$VM_IP" "$BR_MAC" "$BR_IP" \
		"$PORT_VM" "$PORT_HOST" "$COUNT" "$PAYLOAD" "$T/vm.ready" "$T/go" >"$T/$tag.vm"
	vm=$LF_LAST_PID
	wait_for 10 test -e "$T/vm.ready" || fail "the VM did not open $TAP"
	wait_for 10 sh -c "ip -n $NODE -o link show $TAP | grep -q LOWER_UP" || fail "$TAP never came up"
	bg ip netns exec "$NODE" python3 "$T/echo.py" "$BR_IP" "$PORT_HOST" "$COUNT" "$T/echo.ready"
	echo=$LF_LAST_PID
	wait_for 10 test -e "$T/echo.ready" || fail "the node's UDP service did not start"
	quiet "$NODE" 1 "$TAP" virbr0 || fail "$TAP and virbr0 never went quiet"
	snap "$tag.0" "$NODE" "$TAP" virbr0

	cat >"$T/$tag.conf" <<EOF
enrich: { libvirt = true; libvirt_dir = "$T/qemu"; libvirt_leases_dir = "$T/dnsmasq"; };
flow: { idle_timeout_ms = 60000; active_timeout_ms = 120000; };
daemon: { stats_interval_ms = 200; };
EOF
	# No -i: the default interface patterns must bring in the tap and the bridge.
	lfd_start "$tag" "$NODE" --backend "$b" -c "$T/$tag.conf" -e "file:$T/$tag.ipfix"
	pid=$LFD_PID
	wait_attached "$tag" "$TAP"
	wait_attached "$tag" virbr0
	expect_eq "$tag: interfaces attached by the default patterns" \
		"$(n_attached "$tag")" 2

	touch "$T/go"
	wait "$vm" || fail "$tag: the VM did not get its $COUNT answers: $(cat "$T/$tag.vm")"
	wait "$echo" || fail "$tag: the node's UDP service did not get $COUNT datagrams"
	quiet "$NODE" 1 "$TAP" virbr0 || fail "$TAP and virbr0 never went quiet"
	snap "$tag.1" "$NODE" "$TAP" virbr0
	wait_received "$tag" "$NODE" "$TAP" "$tag.0"
	wait_received "$tag" "$NODE" virbr0 "$tag.0"
	lfd_stop "$tag" "$pid"
	dump "$tag"
	check_backend "$tag"
}

check_backend() {
	tag=$1
	# The tap carried the VM's datagrams and the answers, nothing else; the bridge device
	# (the node's own port) the same frames the other way round.
	expect_eq "$tag: frames on $TAP" "$(delta "$tag.0" "$tag.1" "$TAP" pkts)" $((2 * COUNT))
	expect_iface "$tag" "$tag.0" "$tag.1" "$TAP" "$IDX_TAP"
	expect_iface "$tag" "$tag.0" "$tag.1" virbr0 "$IDX_BR" 0

	from_vm="sourceIPv4Address=$VM_IP destinationIPv4Address=$BR_IP"
	from_vm="$from_vm destinationTransportPort=$PORT_HOST"
	to_vm="sourceIPv4Address=$BR_IP destinationIPv4Address=$VM_IP sourceTransportPort=$PORT_HOST"
	# shellcheck disable=SC2086 # the condition lists are split on purpose
	{
		# Received on the tap = sent by the VM: its source end is the VM, named by libvirt.
		expect_eq "$tag: VM -> node datagrams on $TAP, labelled" "$(recs sum "$tag" \
			packetDeltaCount $from_vm flowDirection=0 ingressInterface=$IDX_TAP \
			sourceVmName=$VM_NAME sourceInstanceId=$VM_UUID sourceEntityKind=vm \
			destinationVmName=)" "$COUNT"
		expect_eq "$tag: VM -> node octets" "$(recs sum "$tag" octetDeltaCount $from_vm \
			flowDirection=0 ingressInterface=$IDX_TAP)" $((COUNT * (28 + PAYLOAD)))
		# Sent on the tap = to the VM: the destination end is the VM.
		expect_eq "$tag: node -> VM datagrams on $TAP, labelled" "$(recs sum "$tag" \
			packetDeltaCount $to_vm flowDirection=1 egressInterface=$IDX_TAP \
			destinationVmName=$VM_NAME destinationInstanceId=$VM_UUID \
			destinationEntityKind=vm sourceVmName=)" "$COUNT"
	}
	# The label belongs to the address, whichever interface saw the flow (virbr0 too).
	expect_eq "$tag: records from the VM without its name" "$(recs count "$tag" \
		sourceIPv4Address="$VM_IP" sourceVmName!="$VM_NAME")" 0
	expect_eq "$tag: records to the VM without its name" "$(recs count "$tag" \
		destinationIPv4Address="$VM_IP" destinationVmName!="$VM_NAME")" 0
	# ... and those checks covered the VM's traffic as seen on the tap and on the bridge.
	expect_eq "$tag: packets from the VM (tap and bridge)" "$(recs sum "$tag" \
		packetDeltaCount sourceIPv4Address="$VM_IP")" $((2 * COUNT))
	expect_eq "$tag: packets to the VM (tap and bridge)" "$(recs sum "$tag" \
		packetDeltaCount destinationIPv4Address="$VM_IP")" $((2 * COUNT))
}

for b in $BACKENDS; do
	run_backend "$b"
done
