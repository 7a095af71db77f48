# --dry-run resolves the guest and reads the host, prints the plan as the
# commands that would carry it out, and changes nothing: not the kernel
# state, not ovsdb, no DHCP client. The printed lines run as they stand.
. "$(dirname "$0")/lib.sh"
start_ovs
start_dhcp_server brdh 10.30.0
in_host ip link add br1 type bridge
G=$(new_guest)

before=$(snapshot "$G"); ovs_before=$(vsctl show)
out=$(pipework --dry-run br1 "$G" 10.30.1.2/24@10.30.1.1 U:web1)
pipework --dry-run ovsnew0 -i eth2 "$G" 10.30.2.2/24 @9 >/dev/null 2>&1
pipework --dry-run brdh -i eth3 "$G" udhcpc-f >/dev/null
pipework --dry-run brnew0 -i eth4 "$G" builtin-dhcp-f >/dev/null
pipework --dry-run route "$G" add 10.9.0.0/16 via 10.30.1.1 >/dev/null
[ "$(snapshot "$G")" = "$before" ] || fail "a dry run changed the kernel state: $(diff <(echo "$before") <(snapshot "$G"))"
[ "$(vsctl show)" = "$ovs_before" ] || fail "a dry run changed ovsdb"
[ -z "$(procs_in "$G")" ] || fail "a dry run started a process in the guest"
note "ok: five dry runs changed nothing"

want="ip link add veth1pl$G mtu 1500 type veth peer name eth1 mtu 1500 address 02:66:ee:60:6d:50 netns $G
sysctl -qw net/ipv6/conf/veth1pl$G/disable_ipv6=1
ip link set veth1pl$G master br1
nsenter -t $G -n ip addr add 10.30.1.2/24 brd 10.30.1.255 dev eth1
nsenter -t $G -n ip link set eth1 up
nsenter -t $G -n ip -f inet route del default
nsenter -t $G -n ip route replace default via 10.30.1.1 dev eth1
ip link set veth1pl$G up
# then: warn if net.bridge.bridge-nf-call-iptables=1 and the iptables FORWARD policy is DROP
nsenter -t $G -n arping -c 1 -A -I eth1 10.30.1.2"
[ "$out" = "$want" ] || fail "dry run printed:
$out
wanted:
$want"
note "ok: the plan is printed as ip commands"
# A new bridge gets the kernel's datapath where there is one (a plain
# add-br, as the reference's), else the userspace one.
dp="-- set Bridge ovsnew0 datapath_type=netdev "
! kernel_has openvswitch || dp=
expect "OVS: one ovs-vsctl transaction" "^ovs-vsctl --may-exist add-br ovsnew0 ${dp}-- --may-exist add-port ovsnew0 veth2pl$G -- set Port veth2pl$G tag=9 " \
    pipework --dry-run ovsnew0 -i eth2 "$G" 10.30.2.2/24 @9
expect "DHCP: the client command line" "^nsenter -t $G -n udhcpc -i eth3 -x hostname:$G -p /var/run/udhcpc.$G.pid$" \
    pipework --dry-run brdh -i eth3 "$G" udhcpc-f

# The lines run as printed (arping aside: not installed here) and give the
# guest what the attach would.
grep -v arping <<<"$out" | while read -r line; do in_host sh -c "$line" 2>/dev/null || [[ "$line" == *"route del default"* ]] || fail "printed line failed: $line"; done
expect "replayed: the address" "inet 10.30.1.2/24 brd 10.30.1.255" in_guest "$G" ip -o addr show eth1
expect "replayed: the default route" "default via 10.30.1.1 dev eth1" in_guest "$G" ip route
expect "replayed: the MAC" "02:66:ee:60:6d:50" in_guest "$G" ip -o link show eth1
before=$(snapshot "$G")
pipework --dry-run --detach "$G" | grep -q "nsenter -t $G -n ip link del eth1" || fail "detach dry run does not show the deletion"
[ "$(snapshot "$G")" = "$before" ] || fail "a detach dry run changed something"
note "ok: --detach --dry-run shows the deletion and changes nothing"
