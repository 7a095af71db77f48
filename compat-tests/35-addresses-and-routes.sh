# Several addresses, IPv4 and IPv6 in one attach (reference #166, #219,
# #244), IPv6 usable at once with --nodad (#36, #179), and --metric, which
# adds the default route beside the container's own instead of replacing it
# (#154, #47).
. "$(dirname "$0")/lib.sh"
G1=$(new_guest); G2=$(new_guest)
# G1 already has an uplink and a default route through it.
give_uplink "$G1" 10.1.0

pipework br1 --nodad "$G2" 10.35.0.1/24,2001:db8:35::1/64
pipework br1 --metric 300 --nodad "$G1" 10.35.0.2/24@10.35.0.1,2001:db8:35::2/64@2001:db8:35::1

expect "both families on one interface" "inet 10.35.0.2/24" in_guest "$G1" ip -o addr show eth1
expect "IPv6 without duplicate detection" "inet6 2001:db8:35::2/64 scope global nodad" in_guest "$G1" ip -o addr show eth1
expect "the old default stays" "default via 10.1.0.1 dev up0" in_guest "$G1" ip route
expect "ours sits beside it with the metric" "default via 10.35.0.1 dev eth1 metric 300" in_guest "$G1" ip route
expect "and the IPv6 one" "default via 2001:db8:35::1 dev eth1 metric 300" in_guest "$G1" ip -6 route
ping_ok "$G1" 10.35.0.1
ping_ok "$G1" 2001:db8:35::1
tcp_ok "$G1" "$G2" 2001:db8:35::1
tcp_ok "$G2" "$G1" 10.35.0.2

pipework --detach "$G1"
expect "--detach leaves the old default" "default via 10.1.0.1 dev up0" in_guest "$G1" ip route
fails_with "one gateway per family" "one default gateway per family" pipework br1 "$G1" 10.35.1.2/24@10.35.1.1,10.35.2.2/24@10.35.2.1

# IPv6 off in the guest, as Docker leaves --network none containers: turned
# on for the attached interface only, and said so.
G3=$(new_guest)
in_guest "$G3" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
expect "IPv6 is turned on for eth1, said on stderr" "IPv6 is off in guest .*turning it on for eth1 only" \
    pipework br1 --nodad "$G3" 2001:db8:35::3/64
expect "eth1 has its IPv6 address" "inet6 2001:db8:35::3/64" in_guest "$G3" ip -o addr show eth1
expect "the rest of the guest keeps IPv6 off" "^1$" in_guest "$G3" cat /proc/sys/net/ipv6/conf/all/disable_ipv6
ping_ok "$G3" 2001:db8:35::1

# --table N (CNI's sbr, reference #123): the interface's routes in table N,
# a rule for its address, the guest's main table untouched. Traffic from the
# new address leaves through it; other traffic keeps the old default.
G4=$(new_guest)
give_uplink "$G4" 10.1.0
in_guest "$G2" ip addr add 10.99.0.1/32 dev eth1
pipework br1 --table 100 "$G4" 10.35.0.4/24@10.35.0.1
expect "a rule for the new address" "from 10.35.0.4 lookup 100" in_guest "$G4" ip rule
expect "table 100 routes through eth1" "default via 10.35.0.1 dev eth1" in_guest "$G4" ip route show table 100
expect "the main default is untouched" "^default via 10.1.0.1 dev up0" in_guest "$G4" ip route
expect "from the new address, traffic leaves by eth1" "1 received" in_guest "$G4" ping -c 1 -W 2 -I 10.35.0.4 10.99.0.1
ping_fails "$G4" 10.99.0.1
pipework --detach "$G4"
expect_not "--detach removes the rule" "10.35.0.4" in_guest "$G4" ip rule
