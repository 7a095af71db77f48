# pipework tunnel on Open vSwitch (userspace datapath, private daemons per
# host), three hosts, H3 behind a router. Seed 001: a GRE trunk between H1
# and H3 with guests on VLAN 20. Seed 002: two tenants as keys 1000 and
# 2000 in a full mesh, H2 numbering its VLANs differently; no loop, no
# leak; a changed @VLAN re-tags in place; a re-run changes no row; seed
# 002's keys as one line (gre:2@1,3@4); Geneve; refusals change nothing;
# --detach, twice.
. "$(dirname "$0")/lib.sh"
# The bridges the lines create are userspace ones too, on every kernel
# (compat-tests/kernel/06 and 09 are the kernel datapath's).
export PIPEWORK_OVS_DATAPATH=netdev
new_hosts
for i in 1 2 3; do start_ovs_on "$i"; done
ALL="172.31.0.1 172.31.0.2 172.31.1.3"

# Userspace OVS sends tunnels only through an OVS bridge: with the
# address still on eth0 the line is refused with the recipe.
vsctl_on 1 add-br br-int -- set Bridge br-int datapath_type=netdev
before=$(ovs_state 1)
fails_with "userspace datapath without br-phy" "cannot reach 172.31.1.3: Open vSwitch routes it via 'eth0', which is not an OVS bridge" \
    pw_on 1 tunnel br-int gre 172.31.0.1 172.31.1.3
[ "$(ovs_state 1)" = "$before" ] || fail "the refused line changed ovsdb"
for i in 1 2 3; do br_phy "$i"; done

# Seed 001: GRE trunk H1 <-> H3, the same line on both.
vsctl_on 3 add-br br-int -- set Bridge br-int datapath_type=netdev
# No program runs for it: ovsdb and ovs-vswitchd's routing table are asked
# directly.
expect_one_exec "a tunnel line on OVS" on_host 1 -- tunnel br-int gre 172.31.0.1 172.31.1.3
pw_on 3 tunnel br-int gre 172.31.0.1 172.31.1.3 || fail "GRE line on H3"
expect "the tunnel port is protected and a trunk" "^true,\[\]$" vsctl_on 1 --format=csv --no-headings --columns=protected,tag list Port gre-ac1f0103
expect "its external-ids say what it is" "pipework.bridge=br-int.*pipework.key=none.*pipework.peer=\"?172.31.1.3\"?.*pipework.tunnel=gre.*pipework.vlan=trunk" \
    vsctl_on 1 get Interface gre-ac1f0103 external_ids
expect "br-int's MTU is lowered for a GRE trunk" "^1458$" vsctl_on 1 get Interface br-int mtu_request
X=$(guest_on 1); Y=$(guest_on 3)
pw_on 1 br-int "$X" 172.20.1.1/24 @20
pw_on 3 br-int "$Y" 172.20.1.2/24 @20
expect "a guest attached afterwards inherits 1458" "eth1@.* mtu 1458 " in_guest "$X" ip -o link show eth1
ping_ok "$X" 172.20.1.2
expect "a DF packet of the full 1458 crosses" "1 received" in_guest "$X" ping -c 1 -W 2 -M do -s 1430 172.20.1.2
tcp_ok "$X" "$Y" 172.20.1.2
expect "the list shows the tunnel up" "ovs +br-int +gre-ac1f0103 +gre:none peer=172.31.1.3 vlan=trunk state=up" pw_on 1 tunnel br-int

# The same recipe with VXLAN: a trunk leaves 1446.
for i in 1 3; do pw_on "$i" tunnel ovstrunk vxlan 172.31.0.1 172.31.1.3 || fail "VXLAN trunk line on H$i"; done
expect "a VXLAN trunk lowers the bridge to 1446" "^1446$" vsctl_on 3 get Interface ovstrunk mtu_request
V1=$(guest_on 1); V3=$(guest_on 3)
pw_on 1 ovstrunk "$V1" 172.21.1.1/24 @30; pw_on 3 ovstrunk "$V3" 172.21.1.3/24 @30
expect "a DF packet of the full 1446 crosses" "1 received" in_guest "$V3" ping -c 1 -W 2 -M do -s 1418 172.21.1.1
tcp_ok "$V3" "$V1" 172.21.1.1

# Seed 002: tenants A (key 1000) and B (key 2000), a full mesh; H2 swaps
# its local VLANs. ovsmesh is created on demand.
vlan_a=(0 100 300 100); vlan_b=(0 200 100 200)
for i in 1 2 3; do
    pw_on "$i" tunnel ovsmesh vxlan:1000 $ALL "@${vlan_a[i]}" || fail "tenant A line on H$i"
    pw_on "$i" tunnel ovsmesh vxlan:2000 $ALL "@${vlan_b[i]}" || fail "tenant B line on H$i"
done
for i in 1 2 3; do
    n=$(vsctl_on "$i" list-ports ovsmesh | grep -c '^vx')
    [ "$n" = 4 ] || fail "H$i has $n tunnel ports on ovsmesh, not 4 (2 peers x 2 keys)"
done
note "ok: each host has 4 tunnel ports on ovsmesh"
declare -A A B
for i in 1 2 3; do
    A[$i]=$(guest_on "$i"); B[$i]=$(guest_on "$i")
    pw_on "$i" ovsmesh "${A[$i]}" "10.200.0.$i/24" "@${vlan_a[i]}"
    pw_on "$i" ovsmesh "${B[$i]}" "10.200.0.10$i/24" "@${vlan_b[i]}"
done
expect "an access tunnel leaves 1450" "eth1@.* mtu 1450 " in_guest "${A[2]}" ip -o link show eth1
start=$(underlay_packets)
ping_ok "${A[1]}" 10.200.0.2
ping_ok "${A[1]}" 10.200.0.3
ping_ok "${A[2]}" 10.200.0.3
ping_ok "${B[1]}" 10.200.0.102
ping_ok "${B[2]}" 10.200.0.103
ping_ok "${B[3]}" 10.200.0.101
ping_fails "${A[1]}" 10.200.0.101
ping_fails "${A[1]}" 10.200.0.102
ping_fails "${B[1]}" 10.200.0.2
ping_fails "${B[3]}" 10.200.0.3
sent=$(( $(underlay_packets) - start ))
[ "$sent" -lt 2000 ] || fail "the mesh sent $sent underlay packets for a dozen pings: a loop"
note "ok: $sent underlay packets for the pings: no loop"
tcp_ok "${A[1]}" "${A[3]}" 10.200.0.3

# A re-run of every line changes no row.
before=$(for i in 1 2 3; do ovs_state "$i"; done)
for i in 1 2 3; do
    pw_on "$i" tunnel ovsmesh vxlan:1000 $ALL "@${vlan_a[i]}"; pw_on "$i" tunnel ovsmesh vxlan:2000 $ALL "@${vlan_b[i]}"
done
[ "$(for i in 1 2 3; do ovs_state "$i"; done)" = "$before" ] || fail "a re-run changed ovsdb:
$(diff <(echo "$before") <(for i in 1 2 3; do ovs_state "$i"; done) | head)"
note "ok: re-running every line changed no row"

# H2 moves tenant A to VLAN 400: the ports are re-tagged in place.
pw_on 2 tunnel ovsmesh vxlan:1000 $ALL @400
expect "H2's tenant-A ports now carry tag 400" "^400$" vsctl_on 2 get Port vx1000-ac1f0001 tag
A2=$(guest_on 2)
pw_on 2 ovsmesh "$A2" 10.200.0.22/24 @400
ping_ok "${A[1]}" 10.200.0.22

# Seed 002's keys as one line: gre:2@1,3@4 (VLAN 1 <-> key 2, 4 <-> 3).
for i in 1 3; do pw_on "$i" tunnel ovsneutron gre:2@1,3@4 172.31.0.1 172.31.1.3 || fail "multi-key line on H$i"; done
N1=$(guest_on 1); N3=$(guest_on 3); M1=$(guest_on 1); M3=$(guest_on 3)
pw_on 1 ovsneutron "$N1" 10.210.0.1/24 @1; pw_on 3 ovsneutron "$N3" 10.210.0.3/24 @1
pw_on 1 ovsneutron "$M1" 10.210.0.101/24 @4; pw_on 3 ovsneutron "$M3" 10.210.0.103/24 @4
expect "GRE with a key on an access port leaves 1458" "eth1@.* mtu 1458 " in_guest "$N1" ip -o link show eth1
ping_ok "$N1" 10.210.0.3
ping_ok "$M1" 10.210.0.103
ping_fails "$N1" 10.210.0.103
ping_fails "$M3" 10.210.0.1
tcp_ok "$M1" "$M3" 10.210.0.103

# Geneve, which the userspace datapath has, between H1 and H2.
for i in 1 2; do pw_on "$i" tunnel ovsgnv geneve:77 172.31.0.1 172.31.0.2 @7 || fail "geneve line on H$i"; done
expect "the port is a Geneve tunnel with VNI 77" "^geneve,key=77 remote_ip=172.31.0.2$" \
    vsctl_on 1 --format=csv --no-headings --data=bare --columns=type,options list Interface gnv77-ac1f0002
Q1=$(guest_on 1); Q2=$(guest_on 2)
pw_on 1 ovsgnv "$Q1" 10.220.0.1/24 @7; pw_on 2 ovsgnv "$Q2" 10.220.0.2/24 @7
ping_ok "$Q1" 10.220.0.2
tcp_ok "$Q1" "$Q2" 10.220.0.2

# The dry run prints the one transaction and changes nothing.
before=$(ovs_state 1)
expect "--dry-run prints one ovs-vsctl transaction" "^ovs-vsctl --may-exist add-port ovsmesh vx3000-ac1f0002 .*protected=true tag=30 .*options:key=3000" \
    pw_on 1 --dry-run tunnel ovsmesh vxlan:3000 $ALL @30
[ "$(ovs_state 1)" = "$before" ] || fail "the dry run changed ovsdb"

# Refusals change nothing: a hand-made tunnel with the same identity; no peer left.
vsctl_on 1 add-port ovsmesh handmade -- set Interface handmade type=vxlan options:remote_ip=172.31.0.2 options:key=3000
before=$(ovs_state 1)
fails_with "a duplicate tunnel identity" "exists already as port handmade" pw_on 1 tunnel ovsmesh vxlan:3000 $ALL @30
fails_with "no peer but itself" "no peer left" pw_on 1 tunnel ovsmesh vxlan:3000 172.31.0.1 @30
[ "$(ovs_state 1)" = "$before" ] || fail "a refused line changed ovsdb"
note "ok: refused lines changed no row"

# --detach, twice: tenant A's ports leave H1, tenant B stays.
pw_on 1 --detach tunnel ovsmesh vxlan:1000 $ALL || fail "--detach tunnel"
pw_on 1 --detach tunnel ovsmesh vxlan:1000 $ALL || fail "a second --detach tunnel"
expect_not "no tenant-A tunnel is left on H1" "pipework.key=1000" vsctl_on 1 --columns=external_ids list Interface
ping_fails "${A[1]}" 10.200.0.2
ping_ok "${B[1]}" 10.200.0.102
