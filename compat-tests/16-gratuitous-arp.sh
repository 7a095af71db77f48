# After an attach, neighbours learn the new address without asking: one
# gratuitous ARP, sent natively (no arping needed).
. "$(dirname "$0")/lib.sh"
OBS=$(new_guest); G1=$(new_guest)
pipework br1 "$OBS" 10.160.0.1/24
in_guest "$OBS" sysctl -qw net.ipv4.conf.eth1.arp_accept=1
pipework br1 "$G1" 10.160.0.2/24 U:garp-test
MAC=$(in_guest "$G1" ip -o link show eth1 | grep -oE 'link/ether [0-9a-f:]+' | cut -d' ' -f2)
expect "the observer learnt 10.160.0.2 from the announcement" "10.160.0.2 dev eth1 lladdr $MAC" \
    in_guest "$OBS" ip neigh show 10.160.0.2
