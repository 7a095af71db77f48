# Nothing half-made on OVS: a failure after the port was added removes the
# port, the veth and a bridge the run created. An existing port of the same
# name is reused, as in the reference, and survives a failed run.
. "$(dirname "$0")/lib.sh"
start_ovs
vsctl add-br sw0 -- set Bridge sw0 datapath_type=netdev
G1=$(new_guest); G2=$(new_guest); BAD=$(new_guest)
# A guest sysctl that does not exist fails late: after the veth, the port
# and its tag exist.
LATE="--sysctl net.ipv4.conf.eth1.no_such_setting=1"

fails_with "a late failure on an existing bridge is undone" "everything it had made was removed" \
    pipework sw0 $LATE "$BAD" 2001:db8::5/64 @100
expect_not "no port is left" "veth1pl$BAD" vsctl list-ports sw0
expect_not "no veth is left" "veth1pl$BAD" in_host ip -o link
expect "the existing bridge stays" "^sw0$" vsctl list-br

fails_with "a late failure on a bridge the run created is undone" "everything it had made was removed" \
    pipework ovsnew0 $LATE "$BAD" 2001:db8::5/64
expect_not "the bridge it created is gone" "ovsnew0" vsctl list-br
expect_not "and its tap device" "ovsnew0" in_host ip -o link

in_guest "$G1" ip link add eth1 type dummy 2>/dev/null || in_guest "$G1" ip link add eth1 type veth peer name eth1p
fails_with "a taken guest interface name is refused before anything is made" "already has an interface named eth1" \
    pipework sw0 "$G1" 10.22.0.1/24
expect_not "no port is added for it" "veth1pl$G1" vsctl list-ports sw0

# A port row left from an earlier life of the container, under the -l name.
vsctl add-port sw0 web-port >/dev/null 2>&1 || true
expect "the old port row exists" "^web-port$" vsctl list-ports sw0
fails_with "a failed run leaves the reused port in place" "everything it had made was removed" \
    pipework sw0 -i eth2 -l web-port --sysctl net.ipv4.conf.eth2.no_such_setting=1 "$BAD" 2001:db8::6/64
expect "the old port row is still there" "^web-port$" vsctl list-ports sw0
pipework sw0 -i eth2 -l web-port "$G1" 10.22.0.1/24 @100
pipework sw0 "$G2" 10.22.0.2/24 @100
expect "the reused port got the tag" '^100$' vsctl get Port web-port tag
expect "and fresh external-ids" "pipework.nspid=\"$G1\"" vsctl get Interface web-port external-ids
expect "it forwards for the new veth" "^web-port$" vsctl list-ports sw0
ping_ok "$G1" 10.22.0.2
tcp_ok "$G1" "$G2" 10.22.0.2
