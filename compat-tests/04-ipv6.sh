# pipework br6 -a 6 con1 2001:db8:6::2/64@2001:db8:6::1 — IPv6 with the family
# given (the reference only took "6"; "inet6" works here too) or inferred.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest); G2=$(new_guest)
pipework br6 -a 6 "$G1" 2001:db8:6::2/64@2001:db8:6::1
pipework br6 -a inet6 "$G2" 2001:db8:6::3/64
expect "guest has the IPv6 address" "inet6 2001:db8:6::2/64 scope global" in_guest "$G1" ip -o -6 addr show eth1
expect "IPv6 default route via the gateway" "default via 2001:db8:6::1 dev eth1" in_guest "$G1" ip -6 route show default
ping_ok "$G2" 2001:db8:6::2
