# pipework br1 con1 10.100.0.2/32@10.100.0.1 — a gateway outside the address's
# prefix gets a host route on the new interface before the default route.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest); G2=$(new_guest)
pipework br1 "$G2" 10.100.0.1/24
pipework br1 "$G1" 10.100.0.2/32@10.100.0.1
expect "host route to the gateway" "^10.100.0.1 dev eth1 .*scope link" in_guest "$G1" ip route
expect "default via the gateway" "^default via 10.100.0.1 dev eth1" in_guest "$G1" ip route
ping_ok "$G1" 10.100.0.1
