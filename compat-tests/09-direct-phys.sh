# pipework --direct-phys eth2 con1 10.90.0.2/24 — the interface itself moves
# into the guest.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest); G2=$(new_guest)
in_host ip link add phys0 type veth peer name phys0p
in_host ip link set phys0p netns "$G2"
in_guest "$G2" ip addr add 10.90.0.1/24 dev phys0p
in_guest "$G2" ip link set phys0p up

pipework --direct-phys phys0 "$G1" 10.90.0.2/24

expect_not "phys0 left the host" "phys0@" in_host ip -o link
expect "it is eth1 in the guest" "eth1@.*<[^>]*,UP" in_guest "$G1" ip -o link show eth1
ping_ok "$G1" 10.90.0.1
