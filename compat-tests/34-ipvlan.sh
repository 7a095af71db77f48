# pipework eth2 --ipvlan l2 con1 10.34.0.2/24: an ipvlan on the NIC, born in
# the guest; guests on one parent share its MAC. Where the kernel has no
# ipvlan (this VM's), the attach fails cleanly and leaves nothing; where it
# has one (compat-tests/uml), two guests reach each other over it.
. "$(dirname "$0")/lib.sh" 2>/dev/null || . "$(dirname "$0")/../lib.sh"
G1=$(new_guest); G2=$(new_guest)
in_host ip link add lan0 type veth peer name lan0p
in_host ip link set lan0p up

expect "the dry run shows the ipvlan" "type ipvlan mode l3 private" \
    pipework --dry-run lan0 --ipvlan l3 --ipvlan-flags private "$G1" 10.34.0.1/24
if in_host ip link add link lan0 name pwprobe type ipvlan mode l2 2>/dev/null; then
    in_host ip link del pwprobe
    pipework lan0 --ipvlan l2 "$G1" 10.34.0.1/24
    pipework lan0 --ipvlan l2 "$G2" 10.34.0.2/24
    mac=$(in_host cat /sys/class/net/lan0/address)
    expect "the guest's interface has the parent's MAC" "$mac" in_guest "$G1" ip -o link show eth1
    ping_ok "$G1" 10.34.0.2
    tcp_ok "$G1" "$G2" 10.34.0.2
    pipework --detach "$G1"
    expect_not "--detach removes it" "eth1" in_guest "$G1" ip -o link
else
    before=$(snapshot "$G1")
    fails_with "no ipvlan in this kernel: a clear failure" "creating ipvlan .*does this kernel have the ipvlan module" \
        pipework lan0 --ipvlan l2 "$G1" 10.34.0.1/24
    [ "$(snapshot "$G1")" = "$before" ] || fail "the failed ipvlan attach left something"
    note "ok: nothing left"
fi
in_host ip link add br9 type bridge
fails_with "--ipvlan on a bridge is refused" "needs an Ethernet interface" pipework br9 --ipvlan l2 "$G2" 10.34.0.3/24
