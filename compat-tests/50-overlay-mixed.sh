# One overlay, two backends (T12 of overlay.md): H1 has Open vSwitch
# (userspace datapath, its address on br-phy), H3 only a Linux bridge; the
# same key, VNI 4242, meets on both: ping and 1 MB over TCP. Lab only: H3's
# kernel leaves the outer checksums of its VXLAN packets to the NIC, which
# a veth underlay never completes and H1's userspace OVS then drops; a real
# NIC completes them, so the test turns H3's underlay checksumming off.
. "$(dirname "$0")/lib.sh"
new_hosts
start_ovs_on 1
br_phy 1
tx_csum_off 3 eth0
PEERS="172.31.0.1 172.31.1.3"
pw_on 1 tunnel ovsmix vxlan:4242 $PEERS @100 || fail "the OVS side"
pw_on 3 tunnel br4242 vxlan:4242 $PEERS || fail "the Linux side"
expect "OVS leaves 1450 on an access port" "^1450$" vsctl_on 1 get Interface ovsmix mtu_request
expect "the Linux side has 1450 too" "vxlan-4242: .* mtu 1450 " on_host 3 ip -o link show vxlan-4242
X=$(guest_on 1); Y=$(guest_on 3)
pw_on 1 ovsmix "$X" 10.242.0.1/24 @100
pw_on 3 br4242 "$Y" 10.242.0.3/24
ping_ok "$X" 10.242.0.3
tcp_ok "$X" "$Y" 10.242.0.3
tcp_ok "$Y" "$X" 10.242.0.1
