# With a gateway, the guest's old default route is replaced, as the reference
# deletes it before adding the new one.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
give_uplink "$G1" 10.111.0
pipework br1 "$G1" 10.110.0.2/24@10.110.0.1
expect "one default route, via the new gateway" "^default via 10.110.0.1 dev eth1[^\n]*$" in_guest "$G1" ip route show default
expect_not "the old default is gone" "10.111.0.1" in_guest "$G1" ip route show default
