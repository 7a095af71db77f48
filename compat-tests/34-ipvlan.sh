# pipework eth2 --ipvlan l2 con1 10.34.0.2/24: an ipvlan on the NIC, born in
# the guest; guests on one parent share its MAC; the host reaches them
# through pipework --shim --ipvlan l2 eth2 ADDRESS. Where the kernel has no
# ipvlan (this VM's), the attach fails cleanly and leaves nothing; where it
# has one (compat-tests/kernel), two guests reach each other over it.
. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$(dirname "$0")/../lib.sh"
G1=$(new_guest); G2=$(new_guest)
in_host ip link add lan0 type veth peer name lan0p
in_host ip link set lan0p up

expect "the dry run shows the ipvlan" "type ipvlan mode l3 private" \
    pipework --dry-run lan0 --ipvlan l3 --ipvlan-flags private "$G1" 10.34.0.1/24
expect "the dry run shows an ipvlan shim" "ip link add link lan0 name shim-lan0 .*type ipvlan mode l2 bridge" \
    pipework --dry-run --shim --ipvlan l2 lan0 10.34.0.250/24
fails_with "--ipvlan takes a mode for a shim too" "the mode is l2, l3 or l3s" pipework --shim --ipvlan l4 lan0 10.34.0.250/24
if in_host ip link add link lan0 name pwprobe type ipvlan mode l2 2>/dev/null; then
    in_host ip link del pwprobe
    pipework lan0 --ipvlan l2 "$G1" 10.34.0.1/24
    pipework lan0 --ipvlan l2 "$G2" 10.34.0.2/24
    mac=$(in_host cat /sys/class/net/lan0/address)
    expect "the guest's interface has the parent's MAC" "$mac" in_guest "$G1" ip -o link show eth1
    ping_ok "$G1" 10.34.0.2
    tcp_ok "$G1" "$G2" 10.34.0.2
    # The host reaches its ipvlan guests through an ipvlan shim of its own.
    ip netns exec "$HOST" sleep "$GUEST_TAG" >/dev/null 2>&1 &
    H=$!
    in_ns() { [ "$(stat -L -c %i "/proc/$H/ns/net" 2>/dev/null)" = "$(stat -L -c %i "/var/run/netns/$HOST")" ]; }
    for i in $(seq 200); do in_ns && break; sleep 0.01; done
    in_ns || fail "process $H never entered $HOST"
    pipework --shim lan0 --ipvlan l2 10.34.0.250/24
    expect "the shim is an ipvlan on lan0, marked" "shim-lan0@lan0.*ipvlan.*alias pipework: host shim" \
        in_host ip -d -o link show shim-lan0
    ping_ok "$H" 10.34.0.2
    tcp_ok "$H" "$G2" 10.34.0.2
    pipework --detach --shim lan0
    expect_not "--detach --shim removes an ipvlan shim" "shim-lan0" in_host ip -o link
    pipework --detach "$G1"
    expect_not "--detach removes it" "eth1" in_guest "$G1" ip -o link
else
    fails_with "no ipvlan in this kernel: the shim fails clearly" "creating the shim shim-lan0 on lan0" \
        pipework --shim lan0 --ipvlan l2 10.34.0.250/24
    expect_not "and leaves nothing" "shim-lan0" in_host ip -o link
    before=$(snapshot "$G1")
    fails_with "no ipvlan in this kernel: a clear failure" "creating ipvlan .*does this kernel have the ipvlan module" \
        pipework lan0 --ipvlan l2 "$G1" 10.34.0.1/24
    [ "$(snapshot "$G1")" = "$before" ] || fail "the failed ipvlan attach left something"
    note "ok: nothing left"
fi
in_host ip link add br9 type bridge
fails_with "--ipvlan on a bridge is refused" "needs an Ethernet interface" pipework br9 --ipvlan l2 "$G2" 10.34.0.3/24
