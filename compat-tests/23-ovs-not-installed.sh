# Without ovs-vsctl on PATH, an ovs* name cannot be created: exit 1 and say
# what to install, having touched nothing.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
fails_with "creating an OVS bridge needs ovs-vsctl" \
    "ovsbr0 does not exist; creating an Open vSwitch bridge.*ovs-vsctl, which is not installed \(apt-get install openvswitch-switch\)" \
    in_host env PATH=/nonexistent "$PIPEWORK_BIN" ovsbr0 "$G1" 10.23.0.1/24 @10
expect_not "nothing was made in the host" "veth|ovsbr0" in_host ip -o link
expect_not "nor in the guest" "eth1" in_guest "$G1" ip -o link
