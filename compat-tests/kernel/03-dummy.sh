# `pipework dummy0 GUEST ADDRESS`: a dummy interface made inside the guest,
# with address and gateway as usual.
. "$(dirname "$0")/../lib.sh"
needs_kernel dummy
G=$(new_guest)
pipework dummy0 "$G" 10.52.0.5/24@10.52.0.1
expect "the guest has a dummy eth1" "dummy" in_guest "$G" ip -d link show eth1
expect "with the address" "inet 10.52.0.5/24" in_guest "$G" ip -o addr show eth1
expect "and the default route" "default via 10.52.0.1 dev eth1" in_guest "$G" ip route
expect_not "nothing is left in the host" "du$G|dummy0" in_host ip -o link
pipework dummy0 -i lo0 "$G" 192.0.2.99/32 02:00:00:00:00:99
expect "a second one with its own name and MAC" "02:00:00:00:00:99" in_guest "$G" ip -o link show lo0
pipework --detach -i lo0 "$G"
expect_not "--detach removes a dummy" "lo0" in_guest "$G" ip -o link
