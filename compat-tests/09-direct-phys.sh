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

# A NIC without carrier (its cable out: here a veth whose peer is down).
# Waiting for carrier before the gratuitous ARP listens for the kernel's
# link notifications, and gives up at once on a link without carrier: the
# attach asks the kernel a few dozen things, where a wait that polls asks
# thousands of times within its limit. Counted, not timed.
in_host ip link add nocar0 type veth peer name nocar0p
G4=$(new_guest)
slog=$(mktemp); on_exit "rm -f $slog"
in_host strace -f -qq -e trace=sendto,sendmsg -e signal=none -o "$slog" \
    "$PIPEWORK_BIN" --direct-phys nocar0 "$G4" 10.91.0.2/24 || fail "--direct-phys of a NIC without carrier failed"
n=$(grep -c -E 'sendto|sendmsg' "$slog")
[ "$n" -lt 200 ] || fail "--direct-phys of a NIC without carrier sent $n netlink requests: a wait polls"
expect "the NIC without carrier is eth1 in the guest, with its address" "inet 10.91.0.2/24" in_guest "$G4" ip -o addr show eth1
note "ok: a NIC without carrier: $n requests, no polling wait"
pipework --detach "$G4"
expect "--detach sends the NIC without carrier home" "nocar0" in_host ip -o link show nocar0
