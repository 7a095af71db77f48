# Seed 001 as written, on the OVS kernel datapath: `pipework tunnel br-int
# gre H1 H3` on both hosts (H3 behind a router), the underlay address left
# on eth0 (no br-phy: the kernel routes the tunnel), guests on VLAN 20 of a
# GRE trunk; then seed 002's keys as one line (gre:2@1,3@4) with their
# isolation. Ping, 1 MB over TCP, underlay packet counts, a re-run that
# changes no row, and --detach.
. "$(dirname "$0")/../lib.sh"
needs_kernel openvswitch ip_gre
new_hosts
for i in 1 3; do start_ovs_on "$i"; done
PEERS="172.31.0.1 172.31.1.3"

# The seed makes br-int by hand, a plain add-br: the kernel datapath.
for i in 1 3; do vsctl_on "$i" add-br br-int; done
for i in 1 3; do pw_on "$i" tunnel br-int gre $PEERS || fail "seed 001's line on H$i"; done
expect "a plain add-br: the kernel datapath" '^""$|^system$' vsctl_on 1 get Bridge br-int datapath_type
expect "the bridge is a kernel openvswitch device" "openvswitch" on_host 1 ip -d link show br-int
expect "a GRE trunk leaves 1458" "^1458$" vsctl_on 1 get Interface br-int mtu_request
X=$(guest_on 1); Y=$(guest_on 3)
pw_on 1 br-int "$X" 172.20.1.1/24 @20
pw_on 3 br-int "$Y" 172.20.1.2/24 @20
expect "the guest inherits 1458" "eth1@.* mtu 1458 " in_guest "$X" ip -o link show eth1
start=$(underlay_packets)
ping_ok "$X" 172.20.1.2
ping_ok "$Y" 172.20.1.1
sent=$(( $(underlay_packets) - start ))
[ "$sent" -lt 200 ] || fail "$sent underlay packets for two pings: a loop"
note "ok: $sent underlay packets for two pings"
expect "a DF packet of the full 1458 crosses" "1 received" in_guest "$X" ping -c 1 -W 2 -M do -s 1430 172.20.1.2
tcp_ok "$X" "$Y" 172.20.1.2
expect "the list shows the tunnel up" "ovs +br-int +gre-ac1f0103 +gre:none peer=172.31.1.3 vlan=trunk state=up" pw_on 1 tunnel br-int

# Run again: not one row changes.
before=$(ovs_state 1)
pw_on 1 tunnel br-int gre $PEERS || fail "the line again"
[ "$(ovs_state 1)" = "$before" ] || fail "the line again changed ovsdb:
$(diff <(echo "$before") <(ovs_state 1))"
note "ok: the same line again changed no row"

# Seed 002's tenants as GRE keys on another bridge: VLAN 1 <-> key 2,
# VLAN 4 <-> key 3.
for i in 1 3; do pw_on "$i" tunnel ovsneutron gre:2@1,3@4 $PEERS || fail "the multi-key line on H$i"; done
N1=$(guest_on 1); N3=$(guest_on 3); M1=$(guest_on 1); M3=$(guest_on 3)
pw_on 1 ovsneutron "$N1" 10.210.0.1/24 @1; pw_on 3 ovsneutron "$N3" 10.210.0.3/24 @1
pw_on 1 ovsneutron "$M1" 10.210.0.101/24 @4; pw_on 3 ovsneutron "$M3" 10.210.0.103/24 @4
ping_ok "$N1" 10.210.0.3
ping_ok "$M1" 10.210.0.103
ping_fails "$N1" 10.210.0.103
ping_fails "$M3" 10.210.0.1
tcp_ok "$M1" "$M3" 10.210.0.103

# --detach, twice: the trunk goes, and with it the way across.
pw_on 1 --detach tunnel br-int gre $PEERS || fail "--detach tunnel"
pw_on 1 --detach tunnel br-int gre $PEERS || fail "a second --detach tunnel"
expect_not "no tunnel port is left on br-int" "gre-" vsctl_on 1 list-ports br-int
ping_fails "$X" 172.20.1.2
