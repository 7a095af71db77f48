# pipework br2 -i eth2 -l hostside0 con1 10.20.0.2/24: both ends of the veth
# take the bridge's MTU; -i names the guest side, -l the host side.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
in_host ip link add br2 type bridge
in_host ip link set br2 mtu 9000 up

pipework br2 -i eth2 -l hostside0 "$G1" 10.20.0.2/24

expect "host side has the -l name and the bridge MTU" "hostside0@.*mtu 9000 .*master br2" in_host ip -o link show hostside0
expect "guest side has the -i name and the bridge MTU" "eth2@.*mtu 9000" in_guest "$G1" ip -o link show eth2
expect "guest address on eth2" "10.20.0.2/24" in_guest "$G1" ip -o addr show eth2
expect_not "no default route was asked for" "default" in_guest "$G1" ip route
