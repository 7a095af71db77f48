# Three guests on one Open vSwitch bridge: two on VLAN 100 reach each other,
# the one on VLAN 200 reaches neither and is reached by neither. The bridge
# exists beforehand (userspace datapath, so it is a tap device, and its name
# does not start with ovs: found through OVS, not by prefix).
. "$(dirname "$0")/lib.sh"
start_ovs
vsctl add-br sw0 -- set Bridge sw0 datapath_type=netdev
G1=$(new_guest); G2=$(new_guest); G3=$(new_guest)

# An attach forks nothing (the reference runs ovs-vsctl three times): it
# speaks to ovsdb-server itself.
expect_one_exec "an OVS attach with @VLAN" in_host -- sw0 "$G1" 10.20.0.1/24 @100
pipework sw0 "$G2" 10.20.0.2/24 @100
pipework sw0 -i eth2 "$G3" 10.20.0.3/24 @200

ping_ok "$G1" 10.20.0.2
ping_ok "$G2" 10.20.0.1
tcp_ok "$G1" "$G2" 10.20.0.2
tcp_ok "$G2" "$G1" 10.20.0.1
ping_fails "$G3" 10.20.0.1
ping_fails "$G3" 10.20.0.2
ping_fails "$G1" 10.20.0.3

expect "G1's port has access tag 100" '^100$' vsctl get Port "veth1pl$G1" tag
expect "G3's port has access tag 200" '^200$' vsctl get Port "veth2pl$G3" tag
expect_extids "veth1pl$G1" "pipework.interface=veth1pl$G1" pipework.bridge=sw0 "pipework.nspid=$G1" pipework.vlan=100
expect_not "no container ids for a guest given by PID" "containerid|containername" vsctl get Interface "veth1pl$G1" external-ids
expect "guest side has its address" "inet 10.20.0.3/24" in_guest "$G3" ip -o addr show eth2
expect "host side is up" "veth1pl$G1.*state UP" in_host ip -o link show "veth1pl$G1"
ports=$(vsctl list-ports sw0 | sort | xargs)
want=$(printf '%s\n' "veth1pl$G1" "veth1pl$G2" "veth2pl$G3" | sort | xargs)
[ "$ports" = "$want" ] || fail "ports of sw0 are '$ports', not '$want'"
note "ok: sw0 has exactly our three ports"
