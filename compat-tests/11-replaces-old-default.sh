# With a gateway, the guest's old default route is replaced, as the reference
# deletes it before adding the new one.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
in_guest "$G1" ip link add up0 type veth peer name up0p
in_guest "$G1" ip link set up0 up
in_guest "$G1" ip link set up0p up
in_guest "$G1" ip addr add 10.111.0.2/24 dev up0
in_guest "$G1" ip route add default via 10.111.0.1
pipework br1 "$G1" 10.110.0.2/24@10.110.0.1
expect "one default route, via the new gateway" "^default via 10.110.0.1 dev eth1[^\n]*$" in_guest "$G1" ip route show default
expect_not "the old default is gone" "10.111.0.1" in_guest "$G1" ip route show default
