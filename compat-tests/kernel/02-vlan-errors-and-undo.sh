# A PARENT.VLAN name that is not that VLAN's 802.1Q device is refused (the
# reference meant to check this and tested a wrong path); undo removes a
# VLAN device the run made, and never one that was there before.
. "$(dirname "$0")/../lib.sh"
needs_kernel 8021q dummy
in_host ip link add lan0 type veth peer name lan0p
in_host ip link add lan0.7 type dummy
in_host ip link add lan0.8 link lan0 type vlan id 9
G=$(new_guest)
fails_with "a dummy named lan0.7 is not VLAN 7" "lan0.7 exists but is not the 802.1Q device for VLAN 7 on lan0" \
    pipework lan0 "$G" 10.51.0.1/24 @7
fails_with "lan0.8 that is VLAN 9 is not VLAN 8" "lan0.8 exists but is not the 802.1Q device for VLAN 8 on lan0 \(it is VLAN 9\)" \
    pipework lan0 "$G" 10.51.0.1/24 @8

# Late failures (a guest sysctl that does not exist) after the VLAN device
# was made or used.
LATE="--sysctl net.ipv4.conf.eth1.no_such_setting=1"
fails_with "a failed attach on a new VLAN is undone" "everything it had made was removed" \
    pipework lan0 $LATE "$G" 2001:db8::1/64 @300
expect_not "the VLAN device it made is gone" "lan0.300" in_host ip -o link
in_host ip link add lan0.301 link lan0 type vlan id 301
fails_with "a failed attach on an existing VLAN is undone" "everything it had made was removed" \
    pipework lan0 $LATE "$G" 2001:db8::1/64 @301
expect "the VLAN device that was there stays" "lan0.301@lan0" in_host ip -o link show lan0.301
expect_not "and the guest has nothing" "eth1" in_guest "$G" ip -o link
