# 802.1Q under macvlan (runs under Debian's stock kernels in QEMU): two guests on VLAN 100
# of the same parent reach each other; a third on VLAN 200 of it does not.
# The VLAN device is made with the parent's MTU, and a second guest reuses it.
. "$(dirname "$0")/../lib.sh"
needs_kernel 8021q
# lan0 is a veth standing in for a NIC. Macvlans in bridge mode on the same
# lower device reach each other directly; a frame for another VLAN leaves
# tagged on the wire and never comes back.
in_host ip link add lan0 mtu 1400 type veth peer name lan0p
in_host ip link set lan0p up
G1=$(new_guest); G2=$(new_guest); G3=$(new_guest)

pipework lan0 "$G1" 10.50.0.1/24 @100
expect "the 802.1Q device exists with the parent's MTU" "lan0.100@lan0: .* mtu 1400 .*" in_host ip -o link show lan0.100
expect "it is VLAN 100" "vlan protocol 802.1Q id 100" in_host ip -d link show lan0.100
pipework lan0 "$G2" 10.50.0.2/24 @100
pipework lan0 "$G3" 10.50.0.3/24 @200
expect "the macvlan sits on lan0.100" "macvlan" in_guest "$G1" ip -d link show eth1
ping_ok "$G1" 10.50.0.2
ping_ok "$G2" 10.50.0.1
ping_fails "$G3" 10.50.0.1
ping_fails "$G1" 10.50.0.3
