# `pipework ovs…` creates a missing Open vSwitch bridge in the same
# transaction as the port, with the kernel datapath where the kernel has
# one, else the userspace one, and says so. Where the kernel has none,
# asking for the kernel datapath anyway fails cleanly: the bridge cannot
# forward, and nothing stays.
. "$(dirname "$0")/lib.sh"
start_ovs
G1=$(new_guest); G2=$(new_guest)

if kernel_has openvswitch; then
    datapath='^(""|system)$' said="no word about the datapath"
else
    fails_with "the kernel datapath is refused as dead, not reported as success" \
        "ovsbr9 cannot forward: it uses the kernel datapath.*no openvswitch module" \
        pipework --ovs-datapath system ovsbr9 "$G1" 10.21.0.1/24
    expect_not "no bridge is left in ovsdb" "ovsbr9" vsctl list-br
    expect_not "no veth is left in the host" "veth1pl$G1" in_host ip -o link
    expect_not "no interface is left in the guest" "eth1" in_guest "$G1" ip -o link
    datapath='^netdev$' said="userspace datapath (datapath_type=netdev)"
fi

err=$(pipework ovsbr0 "$G1" 10.21.0.1/24@10.21.0.254 2>&1 >/dev/null) || fail "attach failed: $err"
case $said in
    "no word"*) [ -z "$err" ] || fail "the kernel datapath needs no word, yet: $err" ;;
    *) grep -q "$said" <<<"$err" || fail "no word about the datapath: $err" ;;
esac
note "ok: said on stderr: ${err:-nothing}"
PIPEWORK_OVS_DATAPATH=system pipework ovsbr0 "$G2" 10.21.0.2/24

expect "the bridge was created with the datapath this kernel has" "$datapath" vsctl get Bridge ovsbr0 datapath_type
expect "the port has no tag without @VLAN" '^\[\]$' vsctl get Port "veth1pl$G1" tag
expect "the default route goes through the new interface" "default via 10.21.0.254 dev eth1" in_guest "$G1" ip route
ping_ok "$G1" 10.21.0.2
ping_ok "$G2" 10.21.0.1
tcp_ok "$G1" "$G2" 10.21.0.2
