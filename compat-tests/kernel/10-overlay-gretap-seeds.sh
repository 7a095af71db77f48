# Seeds 000 and 004 as written: GRE without a key between two hosts, on the
# Linux bridge their containers use. Seed 000: `br0` on two hosts of one
# segment; seed 004: `newbridge` on two hosts behind a router. Each line
# makes one isolated gretap per peer (MTU 1462, what `dockerd --mtu 1462`
# gives Docker's own containers); guests ping and move 1 MB; the underlay
# sees a handful of packets, not a storm; the line again changes nothing;
# --detach, twice, leaves no gretap of ours.
. "$(dirname "$0")/../lib.sh"
needs_kernel ip_gre
new_hosts

# seed BRIDGE NET I J: the seed's line on hosts I and J, a guest on each.
seed() {
    local br=$1 net=$2 i=$3 j=$4 peers="${H_ADDR[$3]} ${H_ADDR[$4]}" h a b before start sent
    # Seed 004's bridge is Docker's (--bridge=newbridge), made beforehand;
    # seed 000's br0 the line may create.
    case $br in br*) ;; *) for h in "$i" "$j"; do on_host "$h" ip link add "$br" up type bridge; done ;; esac
    for h in "$i" "$j"; do pw_on "$h" tunnel "$br" gre $peers || fail "$br: the gre line on H$h"; done
    for h in "$i" "$j"; do
        [ "$(on_host "$h" ip -d -o link show master "$br" | grep -c 'gretap.*isolated on')" = 1 ] ||
            fail "H$h: $br has no isolated gretap port"
    done
    note "ok: $br has one isolated gretap port on H$i and on H$j"
    expect "GRE without a key leaves 1462" "mtu 1462 " on_host "$i" ip -o link show "$br"
    a=$(guest_on "$i"); b=$(guest_on "$j")
    pw_on "$i" "$br" "$a" "$net.$i/24"
    pw_on "$j" "$br" "$b" "$net.$j/24"
    expect "the guest inherits 1462" "eth1@.* mtu 1462 " in_guest "$a" ip -o link show eth1
    start=$(underlay_packets)
    ping_ok "$a" "$net.$j"
    ping_ok "$b" "$net.$i"
    sent=$(( $(underlay_packets) - start ))
    [ "$sent" -lt 200 ] || fail "$sent underlay packets for two pings: a loop"
    note "ok: $sent underlay packets for two pings"
    expect "a DF packet of the full 1462 crosses" "1 received" in_guest "$a" ping -c 1 -W 2 -M do -s 1434 "$net.$j"
    tcp_ok "$a" "$b" "$net.$j"
    before=$(host_state "$i")
    pw_on "$i" tunnel "$br" gre $peers || fail "$br: the line again"
    [ "$(host_state "$i")" = "$before" ] || fail "$br: the line again changed H$i:
$(diff <(echo "$before") <(host_state "$i"))"
    note "ok: the line again changed nothing on H$i"
    pw_on "$i" --detach tunnel "$br" gre $peers || fail "$br: --detach"
    pw_on "$i" --detach tunnel "$br" gre $peers || fail "$br: a second --detach"
    expect_not "no gretap of ours is left on H$i" "pipework-tunnel:gre" on_host "$i" ip -d -o link show
    ping_fails "$a" "$net.$j"
}

seed br0 10.0.1 1 2          # seed 000: one segment
seed newbridge 10.11.12 1 3  # seed 004: routed
