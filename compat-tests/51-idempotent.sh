# A line run twice is as asked, not an error: exit 0 and nothing changed
# (configuration management, ExecStartPost=, a rerun after a kill that came
# once the work was done). A line that differs from what is there is refused
# with the first difference named; --replace makes it again as asked, and a
# --replace that fails puts the old interface back. The same for --shim;
# pipework tunnel is idempotent too.
. "$(dirname "$0")/lib.sh"
# An IPv6 link-local address gets its local route when duplicate detection
# ends, which may be just after a snapshot that saw the address: the kernel's
# doing, left out of the comparisons.
eval "$(declare -f snapshot | sed '1s/^snapshot/lib_snapshot/')"
snapshot() { lib_snapshot "$@" | grep -v '^local fe80::'; }
# A snapshot once the kernel is done with what it adds late (IPv6
# link-local routes after duplicate detection): two in a row agree.
settled() {
    local a b i
    a=$(snapshot "$1")
    for i in $(seq 50); do
        sleep 0.2; b=$(snapshot "$1")
        [ "$a" = "$b" ] && { echo "$a"; return 0; }
        a=$b
    done
    fail "the kernel state of $1 never settled"
}
P=$(new_guest); G=$(new_guest); M=$(new_guest)
pipework br1 "$P" 10.51.0.1/24
pipework br1 -i eth2 "$P" 10.51.1.1/24
line=(br1 "$G" 10.51.0.2/24@10.51.0.1)
pipework --mtu 1400 "${line[@]}"
ping_ok "$G" 10.51.0.1

# The same line again: exit 0, said so, nothing changed.
before=$(settled "$G")
out=$(pipework --mtu 1400 "${line[@]}" 2>&1) || fail "the same line again failed: $out"
[[ $out == *"pipework: eth1 of $G is already as asked"* ]] || fail "the same line again said: $out"
same_as_before "$G" "$before" "the same line again changed nothing"
out=$(pipework --mtu 1400 --dry-run "${line[@]}" 2>&1) || fail "--dry-run of the same line failed: $out"
[[ $out != *"ip link add"* ]] || fail "--dry-run of the same line plans to make it again: $out"

# Lines that differ: refused, the first difference named, nothing changed.
fails_with "another address" "eth1 of $G is already there, but not as asked: it lacks 10.51.0.3/24" \
    pipework --mtu 1400 br1 "$G" 10.51.0.3/24@10.51.0.1
fails_with "another gateway" "not as asked: the default route via 10.51.0.9 does not go out of it" \
    pipework --mtu 1400 br1 "$G" 10.51.0.2/24@10.51.0.9
fails_with "another MTU" "not as asked: its MTU is 1400, not 1300" pipework --mtu 1300 "${line[@]}"
fails_with "another bridge" "not as asked: its veth is on bridge br1" pipework --mtu 1400 br2 "$G" 10.51.0.2/24@10.51.0.1
fails_with "another MAC" "not as asked: its MAC is .*, not 02:51:00:00:00:02" \
    pipework --mtu 1400 "${line[@]}" 02:51:00:00:00:02
fails_with "a sysctl it does not have" "not as asked: its net.ipv4.conf.eth1.arp_announce is 0, not 2" \
    pipework --mtu 1400 --sysctl net.ipv4.conf.eth1.arp_announce=2 "${line[@]}"
fails_with "a hairpin its port lacks" "not as asked: its bridge port veth1pl[0-9]+ has no hairpin mode" \
    pipework --mtu 1400 --hairpin "${line[@]}"
fails_with "an isolation its port lacks" "not as asked: its bridge port veth1pl[0-9]+ is not isolated" \
    pipework --mtu 1400 --isolated "${line[@]}"
same_as_before "$G" "$before" "the refused lines changed nothing"
expect_not "no br2 was made by a refused line" "br2" in_host ip -o link show

# --replace: made again as asked, the old one gone.
pipework --replace br1 "$G" 10.51.1.2/24@10.51.1.1 02:51:00:00:00:02
expect "--replace gave eth1 its new address" "inet 10.51.1.2/24" in_guest "$G" ip -o addr show eth1
expect_not "--replace took the old address" "10.51.0.2" in_guest "$G" ip -o addr show
expect "--replace gave eth1 its MAC" "02:51:00:00:00:02" in_guest "$G" ip -o link show eth1
expect "--replace made the new default route" "default via 10.51.1.1 dev eth1" in_guest "$G" ip route
expect_not "nothing set aside is left in the guest" "pwold" in_guest "$G" ip -o link
expect_not "nothing set aside is left in the host" "pwold" in_host ip -o link
[ "$(in_host ip -o link show master br1 | wc -l)" = 3 ] || fail "br1 has $(in_host ip -o link show master br1 | wc -l) ports, wanted 3"
ping_ok "$G" 10.51.1.1
out=$(pipework --replace br1 "$G" 10.51.1.2/24@10.51.1.1 02:51:00:00:00:02 2>&1) || fail "--replace of what is as asked failed: $out"
[[ $out == *"already as asked"* ]] || fail "--replace of what is as asked said: $out"

# A --replace that fails half-way (a gateway that is its prefix's
# broadcast address: the kernel refuses that default route) puts the old
# one back:
# same devices, addresses and routes, and traffic passes.
before=$(settled "$G")
fails_with "a --replace whose gateway is refused" "the old interface was put back" \
    pipework --replace br1 "$G" 10.51.0.7/24@10.51.0.255
same_as_before "$G" "$before" "the failed --replace put the old interface back as it was"
ping_ok "$G" 10.51.1.1
tcp_ok "$G" "$P" 10.51.1.1

# A NIC moved in by --direct-phys stands aside in the guest too: a
# --replace by a veth on br1 that fails puts it back as it was (it was
# detached first, and the failure left no eth1); one that succeeds sends it
# home. (A veth stands in for the NIC.)
D=$(new_guest)
in_host ip link add nic51d type veth peer name nic51dp
in_host ip link set nic51dp up
in_host ip link set nic51d up
nic_before=$(in_host ip -d link show nic51d | sed -E 's/^[0-9]+: //')
pipework --direct-phys nic51d "$D" 10.51.3.2/24
before=$(settled "$D")
fails_with "a --replace of a NIC moved in, whose gateway is refused" "the old interface was put back" \
    pipework --replace br1 "$D" 10.51.0.8/24@10.51.0.255
same_as_before "$D" "$before" "the failed --replace put the NIC back in the guest as it was"
pipework --replace br1 "$D" 10.51.0.8/24
expect "--replace made eth1 a veth on br1" "eth1@.*veth" in_guest "$D" ip -d -o link show eth1
[ "$(in_host ip -d link show nic51d | sed -E 's/^[0-9]+: //')" = "$nic_before" ] ||
    fail "the NIC replaced did not come home as found: $(in_host ip -d link show nic51d)"
note "ok: the NIC replaced is home as found"
ping_ok "$D" 10.51.0.1

# A macvlan: the same.
# (A veth stands in for the NIC: this kernel may lack dummy devices.)
in_host ip link add nic51 type veth peer name nic51p
in_host ip link set nic51p up
in_host ip link set nic51 up
pipework nic51 "$M" 10.51.2.2/24
out=$(pipework nic51 "$M" 10.51.2.2/24 2>&1) || fail "the same macvlan line again failed: $out"
[[ $out == *"already as asked"* ]] || fail "the same macvlan line again said: $out"
fails_with "a macvlan line with another address" "not as asked: it lacks 10.51.2.3/24" pipework nic51 "$M" 10.51.2.3/24
pipework --replace nic51 "$M" 10.51.2.3/24
expect "--replace gave the macvlan its new address" "inet 10.51.2.3/24" in_guest "$M" ip -o addr show eth1
expect "it is still a macvlan of nic51" "eth1@.*macvlan" in_guest "$M" ip -d -o link show eth1

# --shim: the same line twice is as asked; another address is refused.
pipework --shim -l shim51 nic51 10.51.2.250/32 10.51.2.0/24
hb=$(in_host ip -4 -o addr; in_host ip -4 route)
out=$(pipework --shim -l shim51 nic51 10.51.2.250/32 10.51.2.0/24 2>&1) || fail "the same --shim line again failed: $out"
[[ $out == *"shim51 is already as asked"* ]] || fail "the same --shim line again said: $out"
[ "$(in_host ip -4 -o addr; in_host ip -4 route)" = "$hb" ] || fail "the same --shim line again changed the host"
fails_with "a --shim line with another address" "shim51 is already there, but not as asked: it lacks 10.51.2.251/32" \
    pipework --shim -l shim51 nic51 10.51.2.251/32 10.51.2.0/24
pipework --shim --replace -l shim51 nic51 10.51.2.251/32 10.51.2.0/24
expect "--shim --replace gave the shim its new address" "inet 10.51.2.251/32" in_host ip -o addr show shim51

# pipework tunnel: the same line twice changes nothing. (The underlay: an
# address whose prefix holds the peer.)
in_host ip addr add 192.0.2.1/24 dev nic51p
# (A bridge's operational state, UNKNOWN or UP, is the kernel's to settle
# whenever a link event reaches it: not a change of configuration.)
tstate() {
    { in_host ip -d -o link show; in_host ip -o addr show; in_host bridge fdb show; } 2>&1 |
        sed -E 's/valid_lft [^ ]+ preferred_lft [^ ]+//; s/ used [0-9]+\/[0-9]+//g; s/[a-z_]+_timer +[0-9.]+//g; s/ tentative//
                 s/ state (UP|UNKNOWN) / /' |
        grep -v ' 33:33:\| 01:00:5e:'
}
pipework tunnel br51t vxlan:5151 192.0.2.51
# The new bridge's state settles (UNKNOWN, then UP) after the line returns.
tb=$(tstate); for i in $(seq 50); do sleep 0.2; [ "$(tstate)" = "$tb" ] && break; tb=$(tstate); done
pipework tunnel br51t vxlan:5151 192.0.2.51
[ "$(tstate)" = "$tb" ] || fail "the same tunnel line again changed the host: $(diff <(echo "$tb") <(tstate))"
note "ok: the same tunnel line again changed nothing"

# An Open vSwitch port stands aside too: taken out of its bridge, its
# devices renamed. A --replace that fails half-way puts it back on the same
# bridge with its tag and external_ids, forwarding; one that succeeds
# leaves no device or port row of the old one.
start_ovs
vsctl add-br sw51 -- set Bridge sw51 datapath_type=netdev
Q=$(new_guest); O=$(new_guest)
pipework sw51 "$Q" 10.51.5.1/24 @151
pipework sw51 "$O" 10.51.5.2/24 @151
port=veth1pl$O
ovs_rows() {
    echo "bridge $(vsctl port-to-br "$port") tag $(vsctl get Port "$port" tag)"
    echo "ids $(vsctl get Interface "$port" external-ids)"
    echo "ports $(vsctl list-ports sw51 | sort | xargs)"
    vsctl --columns=name list Port | sort
}
ping_ok "$O" 10.51.5.1
ovs_before=$(ovs_rows)
before=$(settled "$O")
out=$(pipework --dry-run --replace sw51 "$O" 10.51.5.3/24 @151 2>&1) || fail "--dry-run --replace on OVS failed: $out"
[[ $out == *"ovs-vsctl del-port sw51 $port && "*" name pwold"* ]] ||
    fail "--dry-run --replace on OVS does not show the port set aside: $out"
fails_with "a --replace on OVS whose gateway is refused" "the old interface was put back" \
    pipework --replace sw51 "$O" 10.51.5.7/24@10.51.5.255 @151
same_as_before "$O" "$before" "the failed --replace put the OVS port's veth back as it was"
[ "$(ovs_rows)" = "$ovs_before" ] || fail "the failed --replace did not put the OVS port back as it was:
$(diff <(echo "$ovs_before") <(ovs_rows))"
note "ok: the OVS port is back on sw51 with its tag and external_ids"
ping_ok "$O" 10.51.5.1
tcp_ok "$O" "$Q" 10.51.5.1
pipework --replace sw51 "$O" 10.51.5.3/24 @151
expect "--replace gave the OVS guest its new address" "inet 10.51.5.3/24" in_guest "$O" ip -o addr show eth1
expect_not "--replace took the old address" "inet 10.51.5.2/" in_guest "$O" ip -o addr show
expect "the new port has the tag" '^151$' vsctl get Port "$port" tag
expect_extids "$port" "pipework.interface=$port" pipework.bridge=sw51 "pipework.nspid=$O" pipework.vlan=151
expect_not "nothing set aside is left in the guest" "pwold" in_guest "$O" ip -o link
expect_not "nothing set aside is left in the host" "pwold" in_host ip -o link
[ "$(vsctl list-ports sw51 | sort | xargs)" = "$(printf '%s\n' "veth1pl$Q" "$port" | sort | xargs)" ] ||
    fail "sw51 has ports $(vsctl list-ports sw51 | xargs)"
[ "$(vsctl --columns=name list Port | grep -c .)" = 3 ] || fail "Port rows left: $(vsctl --columns=name list Port)"
note "ok: no port row of the old interface is left"
ping_ok "$O" 10.51.5.1
tcp_ok "$O" "$Q" 10.51.5.1
