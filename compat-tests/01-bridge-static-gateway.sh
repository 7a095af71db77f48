# pipework br1 con1 10.10.103.95/24@10.10.103.254 — the README's first line:
# a missing br* bridge is created, a veth pair joins it, the guest gets the
# address, its broadcast, and a default route via the gateway.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest); G2=$(new_guest)

pipework br1 "$G1" 10.10.103.95/24@10.10.103.254
pipework br1 "$G2" 10.10.103.96/24@10.10.103.254

expect "br1 was created as a bridge and is up" "bridge.*|UP" in_host ip -d -o link show br1
expect "br1 is up" "<[^>]*,UP" in_host ip -o link show br1
expect "host side is named v<IF>pl<PID>, enslaved, up" "veth1pl$G1@.*master br1.*state UP" in_host ip -o link show veth1pl$G1
expect "guest has eth1 with address and broadcast" "inet 10.10.103.95/24 brd 10.10.103.255 scope global eth1" in_guest "$G1" ip -o -4 addr show eth1
expect "guest eth1 is up" "eth1@.*<[^>]*,UP" in_guest "$G1" ip -o link show eth1
expect "default route via the gateway on eth1, as ip route makes it" "^default via 10.10.103.254 dev eth1 *$" in_guest "$G1" ip route show default
expect_not "the temporary guest-side name is gone" "vethpg|veth1pg" in_guest "$G1" ip -o link
expect_not "nothing is left in /var/run/netns" "^$G1\$" ls /var/run/netns
ping_ok "$G1" 10.10.103.96
ping_ok "$G2" 10.10.103.95
