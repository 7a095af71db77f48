# Without Open vSwitch (no ovsdb-server socket where OVS_RUNDIR says), an
# ovs* name cannot be created: exit 1, naming the socket and the fix, having
# touched nothing. With Open vSwitch running, ovs-vsctl is not needed: the
# database is spoken to directly.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
EMPTY=$(mktemp -d /tmp/pwnoovs.XXXXXX)
on_exit "rm -rf $EMPTY"
fails_with "creating an OVS bridge needs Open vSwitch running" \
    "ovsbr0 does not exist; creating an Open vSwitch bridge, and that needs Open vSwitch's database \(package openvswitch-switch\): no ovsdb-server answers at unix:$EMPTY/db.sock.*is Open vSwitch running\?.*OVS_RUNDIR or --ovs-db" \
    in_host env OVS_RUNDIR="$EMPTY" PATH=/nonexistent "$PIPEWORK_BIN" ovsbr0 "$G1" 10.23.0.1/24 @10
expect_not "nothing was made in the host" "veth|ovsbr0" in_host ip -o link
expect_not "nor in the guest" "eth1" in_guest "$G1" ip -o link

start_ovs
in_host env PATH=/nonexistent "$PIPEWORK_BIN" ovsbr0 "$G1" 10.23.0.1/24 @10 || fail "attach without ovs-vsctl on PATH"
expect "the port exists with its tag, without ovs-vsctl on PATH" '^10$' vsctl get Port "veth1pl$G1" tag
expect "the guest has its address" "inet 10.23.0.1/24" in_guest "$G1" ip -o addr show eth1
