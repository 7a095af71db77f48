# A NIC's round trip into a guest and back leaves it as it was found: after
# an undo (every DHCP method failing: no server) and after --detach, for
# --direct-phys (by name and by mac: selector) and for a macvlan on a NIC
# (mac: without --direct-phys). Compared: `ip -d link show` (name, MTU,
# promiscuity, qdisc, alias, up or down), `ip -d addr`, `tc qdisc` and the
# NIC's addr_gen_mode sysctl. nic53 is set up with what a round trip would
# change: up, MTU 1400, addr_gen_mode none. nic55 starts as a NIC no one
# set up yet: down, qdisc noop, with an alias.
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
in_host ip link add nic55 type veth peer name nic55p
in_host ip link set nic55p up
in_host ip link set nic55 alias "uplink of rack 55"
shield=$(mktemp); cp /etc/resolv.conf "$shield"; on_exit "rm -f $shield"
resolv_before=$(md5sum </etc/resolv.conf)

nic_state() {
    in_host sh -c 'ip -d link show "$0"; ip -d addr show dev "$0"; tc qdisc show dev "$0"
                   sysctl net.ipv6.conf."$0".addr_gen_mode' "$1" 2>&1 |
        sed -E 's/^[0-9]+: //; s/[a-z_]+_timer +[0-9.]+//g; s/valid_lft [^ ]+ preferred_lft [^ ]+//; s/ tentative//'
}
# as_found NIC BEFORE WHAT: the state of NIC is BEFORE again, given the
# kernel a moment for what it reports late.
as_found() {
    local i
    for i in $(seq 30); do [ "$(nic_state "$1")" = "$2" ] && { note "ok: $3"; return 0; }; sleep 0.1; done
    fail "$3: $1 changed:
$(diff <(echo "$2") <(nic_state "$1"))"
}
shielded() { unshare -m sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$shield" "$@"; }
# fails_undone NIC BEFORE ARGS…: pipework ARGS (a DHCP method last) fails
# for want of a lease, and NIC is as found.
fails_undone() {
    local nic=$1 before=$2 err; shift 2
    err=$(shielded ip netns exec "$HOST" "$PIPEWORK_BIN" --dhcp-timeout 1 "$@" 2>&1) &&
        fail "$* with no DHCP server succeeded"
    [[ $err == *"no DHCP lease"* || $err == *"no IPv4 address"* ]] || fail "$* failed otherwise: $err"
    as_found "$nic" "$before" "$*, failing: undone, $nic as found"
}

methods=(builtin-dhcp builtin-dhcp-f)
for m in udhcpc dhclient; do command -v "$m" >/dev/null && methods+=("$m" "$m-f"); done
command -v dhcpcd >/dev/null && methods+=(dhcpcd)
sleep 0.5
before55=$(nic_state nic55)
[[ $before55 == *"qdisc noop state DOWN"* && $before55 == *"alias uplink of rack 55"* ]] ||
    fail "nic55 should start down, never up, with its alias: $before55"
MAC=$(in_host cat /sys/class/net/nic53/address)
before=$(nic_state nic53)
methods=(builtin-dhcp builtin-dhcp-f)
for m in udhcpc dhclient; do command -v "$m" >/dev/null && methods+=("$m" "$m-f"); done
command -v dhcpcd >/dev/null && methods+=(dhcpcd)
for sel in nic53 "mac:$MAC"; do
    for m in "${methods[@]}"; do fails_undone nic53 "$before" --direct-phys "$sel" "$NAME" "$m"; done
    pipework --direct-phys "$sel" --mtu 1300 --txqueuelen 50 --promisc "$G" 10.53.0.2/24 02:53:00:00:00:02
    expect "it is eth1 in the guest, tuned" "mtu 1300 .*PROMISC|PROMISC.*mtu 1300" in_guest "$G" ip -o link show eth1
    pipework --detach "$G"
    as_found nic53 "$before" "--direct-phys $sel then --detach: nic53 as found"
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
as_found nic53 "$before" "--direct-phys mac: then --detach: nic53 as found"

# A NIC found down goes home down, never up, with its noop qdisc and alias.
MAC55=$(in_host cat /sys/class/net/nic55/address)
fails_undone nic55 "$before55" --direct-phys "mac:$MAC55" "$NAME" builtin-dhcp
pipework --direct-phys "mac:$MAC55" "$G" 10.55.0.2/24
expect "nic55 is eth1 in the guest, up" "state (UP|LOWERLAYERDOWN)" in_guest "$G" ip -o link show eth1
pipework --detach "$G"
as_found nic55 "$before55" "--direct-phys of a NIC found down, then --detach: nic55 as found (down, noop, alias)"

# mac: without --direct-phys: a macvlan on the NIC. A NIC that was down is
# brought up for it, marked as found, and set down again, with its noop
# qdisc and its alias, by undo and by the --detach of the last device on
# it; the macvlan goes first, or the NIC would keep the promiscuity the
# macvlan's address gave it.
for m in "${methods[@]}"; do fails_undone nic55 "$before55" "mac:$MAC55" "$NAME" "$m"; done
G2=$(new_guest)
pipework "mac:$MAC55" "$G" 10.55.0.2/24
pipework nic55 "$G2" 10.55.0.3/24
expect "nic55 is up under two macvlans" "state UP" in_host ip -o link show nic55
ping_ok "$G" 10.55.0.3
tcp_ok "$G" "$G2" 10.55.0.3
pipework --detach "$G"
expect "nic55 stays up while $G2's macvlan hangs from it" "state UP" in_host ip -o link show nic55
expect "$G2's macvlan is still up" "state UP" in_guest "$G2" ip -o link show eth1
pipework --detach "$G2"
as_found nic55 "$before55" "mac: on a NIC found down, then --detach of its last macvlan: nic55 as found (down, noop, alias)"
[ "$(md5sum </etc/resolv.conf)" = "$resolv_before" ] || fail "a DHCP client changed the host's /etc/resolv.conf"
