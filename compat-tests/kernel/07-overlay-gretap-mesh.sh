# pipework tunnel with GRE on Linux bridges (U-2 of overlay.md): one gretap
# per peer, each an isolated bridge port, in a full mesh of three hosts
# (H3 routed): every pair of guests reaches the others and moves 1 MB, and
# the underlay carries a handful of packets per ping, not a storm.
. "$(dirname "$0")/../lib.sh"
needs_kernel ip_gre
new_hosts
PEERS="172.31.0.1 172.31.0.2 172.31.1.3"
for i in 1 2 3; do pw_on "$i" tunnel brg gre:1000 $PEERS || fail "gre line on H$i"; done
for i in 1 2 3; do
    n=$(on_host "$i" ip -d -o link show master brg | grep -c 'gretap.*isolated on')
    [ "$n" = 2 ] || fail "H$i has $n isolated gretap ports on brg, not 2"
done
note "ok: each host has two isolated gretap ports"
expect "GRE with a key leaves 1458" "mtu 1458 " on_host 1 ip -o link show brg
declare -A G
for i in 1 2 3; do G[$i]=$(guest_on "$i"); pw_on "$i" brg "${G[$i]}" "10.77.0.$i/24"; done
start=$(underlay_packets)
ping_ok "${G[1]}" 10.77.0.2
ping_ok "${G[1]}" 10.77.0.3
ping_ok "${G[2]}" 10.77.0.3
sent=$(( $(underlay_packets) - start ))
[ "$sent" -lt 500 ] || fail "$sent underlay packets for three pings: a loop"
tcp_ok "${G[1]}" "${G[3]}" 10.77.0.3
pw_on 1 --detach tunnel brg gre:1000 $PEERS || fail "--detach"
# ip_gre gives every namespace its fallback device gretap0@NONE: only ours count.
expect_not "the gretaps are gone from H1" "pipework-tunnel:gre" on_host 1 ip -d -o link show
