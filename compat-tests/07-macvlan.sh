# pipework eth2 con1 10.70.0.2/24 — a physical interface: each guest gets a
# bridge-mode macvlan on it, with the parent's MTU, and the parent is set up.
# Here the "LAN port" is a veth whose far end is up.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest); G2=$(new_guest)
in_host ip link add lan0 mtu 1400 type veth peer name lan0p
in_host ip link set lan0p up

pipework lan0 "$G1" 10.70.0.2/24
pipework lan0 -i eth3 "$G2" 10.70.0.3/24

expect "guest interface is a bridge-mode macvlan with the parent's MTU" "mtu 1400 .*macvlan mode bridge" in_guest "$G1" ip -d -o link show eth1
expect "-i names it in the guest" "eth3@" in_guest "$G2" ip -o link show eth3
expect "the parent was set up" "lan0@.*<[^>]*,UP" in_host ip -o link show lan0
expect_not "the temporary ph<PID><IF> name is gone" "ph$G1" in_guest "$G1" ip -o link
expect_not "nothing new in the host but the parent" "macvlan" in_host ip -d -o link
ping_ok "$G1" 10.70.0.3
tcp_ok "$G1" "$G2" 10.70.0.3

# --macvlan-mode private (reference #239, PR #221): guests on one parent no
# longer reach each other; vepa too (nothing outside reflects the frames).
G3=$(new_guest); G4=$(new_guest)
in_host ip link add lan1 type veth peer name lan1p
in_host ip link set lan1p up
pipework lan1 --macvlan-mode private "$G3" 10.71.0.3/24
pipework --macvlan-mode private lan1 "$G4" 10.71.0.4/24
expect "the macvlan is in private mode" "macvlan mode private" in_guest "$G3" ip -d -o link show eth1
ping_fails "$G3" 10.71.0.4
fails_with "--macvlan-mode on a bridge is refused" "is for a macvlan, but br7 gives the guest a veth pair" \
    pipework br7 --macvlan-mode vepa "$G3" 10.71.0.9/24
