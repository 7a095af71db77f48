# A NIC's round trip into a guest and back leaves it as it was found: after
# an undo (every DHCP method failing: no server) and after --detach, for
# --direct-phys (by name and by mac: selector). Compared: `ip -d link
# show`, `ip -d addr`, `tc qdisc` and the NIC's addr_gen_mode sysctl. The
# NIC is set up with what a round trip would change: up, MTU 1400,
# addr_gen_mode none, an alias of its own is not kept (the mark takes it).
# (Veths stand in for physical NICs: this kernel may lack dummy devices.)
# DHCP clients run with /etc/resolv.conf shielded by a bind mount in a
# mount namespace of their own, so none can change the host's.
. "$(dirname "$0")/lib.sh"
G=$(new_guest); NAME=pwc-asfound-$G
ip netns attach "$NAME" "$G"
on_exit "ip netns del $NAME"
in_host ip link add nic53 type veth peer name nic53p
in_host ip link set nic53p up
in_host sysctl -qw net.ipv6.conf.nic53.addr_gen_mode=1
in_host ip link set nic53 mtu 1400 txqueuelen 700 up
MAC=$(in_host cat /sys/class/net/nic53/address)
shield=$(mktemp); cp /etc/resolv.conf "$shield"; on_exit "rm -f $shield"
resolv_before=$(md5sum </etc/resolv.conf)

nic_state() {
    in_host sh -c 'ip -d link show nic53; ip -d addr show dev nic53; tc qdisc show dev nic53
                   sysctl net.ipv6.conf.nic53.addr_gen_mode' 2>&1 |
        sed -E 's/^[0-9]+: //; s/[a-z_]+_timer +[0-9.]+//g; s/valid_lft [^ ]+ preferred_lft [^ ]+//; s/ tentative//'
}
# The same state again, given the kernel a moment for what it reports late.
as_found() {
    local i
    for i in $(seq 30); do [ "$(nic_state)" = "$before" ] && { note "ok: $1"; return 0; }; sleep 0.1; done
    fail "$1: nic53 changed:
$(diff <(echo "$before") <(nic_state))"
}
shielded() { unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$shield" "$@"; }

sleep 0.5; before=$(nic_state)
methods=(builtin-dhcp builtin-dhcp-f)
for m in udhcpc dhclient; do command -v "$m" >/dev/null && methods+=("$m" "$m-f"); done
command -v dhcpcd >/dev/null && methods+=(dhcpcd)
for sel in nic53 "mac:$MAC"; do
    for m in "${methods[@]}"; do
        err=$(shielded ip netns exec "$HOST" "$PIPEWORK_BIN" --dhcp-timeout 1 --direct-phys "$sel" "$NAME" "$m" 2>&1) &&
            fail "--direct-phys $sel with $m and no server succeeded"
        [[ $err == *"no DHCP lease"* || $err == *"no IPv4 address"* ]] || fail "--direct-phys $sel with $m failed otherwise: $err"
        as_found "--direct-phys $sel, $m failing: undone, nic53 as found"
    done
    pipework --direct-phys "$sel" --mtu 1300 --txqueuelen 50 --promisc "$G" 10.53.0.2/24 02:53:00:00:00:02
    expect "it is eth1 in the guest, tuned" "mtu 1300 .*PROMISC|PROMISC.*mtu 1300" in_guest "$G" ip -o link show eth1
    pipework --detach "$G"
    as_found "--direct-phys $sel then --detach: nic53 as found"
done
# The same --direct-phys line again, by name or by mac:, is as asked (the
# NIC carries its mark; --watch relies on this not to attach it again).
pipework --direct-phys "mac:$MAC" "$G" 10.53.0.2/24
for sel in nic53 "mac:$MAC"; do
    out=$(pipework --direct-phys "$sel" "$G" 10.53.0.2/24 2>&1) || fail "--direct-phys $sel again failed: $out"
    [[ $out == *"eth1 of $G is already as asked"* ]] || fail "--direct-phys $sel again said: $out"
done
note "ok: the same --direct-phys line again, by name and by mac:, is as asked"
pipework --detach "$G"
as_found "--direct-phys mac: then --detach: nic53 as found"

# mac: without --direct-phys: a macvlan on the NIC. A NIC that was down is
# brought up for it and set down again by undo; the macvlan goes first, or
# the NIC would keep the promiscuity the macvlan's address gave it. (Its
# qdisc is the one thing that stays: a device that was ever up keeps its
# default qdisc where it had noop, and no tc command brings noop back.)
in_host ip link add nic54 type veth peer name nic54p
in_host ip link set nic54p up
MAC54=$(in_host cat /sys/class/net/nic54/address)
nic54() { in_host sh -c 'ip -d link show nic54; ip -d addr show dev nic54' | sed -E 's/^[0-9]+: //; s/qdisc [a-z_]+ //'; }
before54=$(nic54)
for m in "${methods[@]}"; do
    shielded ip netns exec "$HOST" "$PIPEWORK_BIN" --dhcp-timeout 1 "mac:$MAC54" "$NAME" "$m" >/dev/null 2>&1 &&
        fail "mac:$MAC54 with $m and no server succeeded"
    [ "$(nic54)" = "$before54" ] || fail "mac: with $m failing: nic54 changed:
$(diff <(echo "$before54") <(nic54))"
    note "ok: mac: (a macvlan on a NIC that was down), $m failing: undone, the NIC as found but for its qdisc"
done
[ "$(md5sum </etc/resolv.conf)" = "$resolv_before" ] || fail "a DHCP client changed the host's /etc/resolv.conf"
