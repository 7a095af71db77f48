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

# The container restarts (reference PR #222): its namespace is gone, and the
# NIC comes home under its name in the guest, eth1, still carrying the mark.
# The same line, for the container's new process, finds it by that mark.
in_guest "$G1" ip link set eth1 netns "$HOST"
expect "phys0 came home as eth1" "eth1" in_host ip -o link show eth1
G3=$(new_guest)
pipework --direct-phys phys0 "$G3" 10.90.0.3/24
expect_not "eth1 left the host" "eth1@" in_host ip -o link
ping_ok "$G3" 10.90.0.1
tcp_ok "$G3" "$G2" 10.90.0.1
pipework --detach "$G3"
expect "--detach sends it home under its host name" "phys0" in_host ip -o link show phys0
