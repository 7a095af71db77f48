# pipework tunnel on the kernel datapath (U-1 of overlay.md): no br-phy
# step, the underlay address stays on eth0 as the seed 001 recipe has it; a
# VXLAN trunk between H1 and H3 (routed) lowers the bridge to 1446 and
# carries ping and TCP. U-3: OVS's kernel VXLAN port then holds UDP 4789,
# and a kernel VXLAN device for a Linux bridge is refused before any change,
# with --dstport as the fix.
. "$(dirname "$0")/../lib.sh"
needs_kernel openvswitch vxlan
new_hosts
for i in 1 3; do start_ovs_on "$i"; done
for i in 1 3; do pw_on "$i" tunnel ovs-int vxlan 172.31.0.1 172.31.1.3 || fail "tunnel line on H$i"; done
expect "a plain add-br: the kernel datapath" '^""$|^system$' vsctl_on 1 get Bridge ovs-int datapath_type
expect "a VXLAN trunk leaves 1446" "^1446$" vsctl_on 1 get Interface ovs-int mtu_request
X=$(guest_on 1); Y=$(guest_on 3)
pw_on 1 ovs-int "$X" 172.20.1.1/24 @20
pw_on 3 ovs-int "$Y" 172.20.1.2/24 @20
expect "the guest inherits 1446" "eth1@.* mtu 1446 " in_guest "$X" ip -o link show eth1
ping_ok "$X" 172.20.1.2
tcp_ok "$X" "$Y" 172.20.1.2
expect "OVS's kernel VXLAN port holds UDP 4789 on H1" "vxlan_sys_4789" on_host 1 ip -o link show
before=$(host_state 1)
fails_with "a kernel VXLAN device on 4789 beside it" "UDP port 4789 is held by Open vSwitch.*--dstport" \
    pw_on 1 tunnel br50 vxlan:50 172.31.0.1 172.31.1.3
[ "$(host_state 1)" = "$before" ] || fail "the refused line changed something"
pw_on 1 tunnel br50 vxlan:50 172.31.0.1 172.31.1.3 --dstport 4790 || fail "with --dstport 4790 the line was refused"
expect "with --dstport the device uses 4790" "dstport 4790" on_host 1 ip -d -o link show vxlan-50
