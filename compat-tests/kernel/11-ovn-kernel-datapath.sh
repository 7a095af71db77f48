# pipework ovn:LSWITCH on the OVS kernel datapath: the lab of 55-ovn.sh with
# br-int a kernel openvswitch device on each of three hosts (H3 behind a
# router), Geneve in the kernel (genev_sys_6081), the underlay address left
# on eth0. Guests on ls1 and ls2 on all three hosts: bound when pipework
# returns, same-switch and routed pings and 1 MB over TCP across hosts; the
# line again changes nothing; --detach leaves no logical port, no OVS port.
. "$(dirname "$0")/../lib.sh"
command -v ovn-northd >/dev/null || fail "OVN is not installed (scripts/setup installs ovn-central and ovn-host)"
needs_kernel openvswitch geneve
. "$(dirname "$0")/../ovn-lab.sh"
OVN_LAB_DATAPATH=system ovn_lab_up
expect "br-int is the kernel datapath's" '^system$' vsctl_on 2 get Bridge br-int datapath_type
expect "a kernel openvswitch device" "openvswitch" on_host 2 ip -d link show br-int

A1=$(guest_on 1) A2=$(guest_on 2) A3=$(guest_on 3) B2=$(guest_on 2)
pwo 1 ovn:ls1 "$A1" 10.50.0.11/24@10.50.0.1 || fail "attach A1"
pwo 2 ovn:ls1 "$A2" 10.50.0.12/24@10.50.0.1 || fail "attach A2"
pwo 3 --ovn-port a3 ovn:ls1 "$A3" 10.50.0.13/24@10.50.0.1 || fail "attach A3"
# Bound when pipework returns: the first ping, once, across the router.
in_guest "$A3" ping -c 1 -w 3 -i 0.2 10.50.0.11 >/dev/null || fail "the first ping right after the attach failed"
note "ok: a ping right after the attach crosses to another host"
pwo 2 ovn:ls2 "$B2" 10.60.0.22/24@10.60.0.1 || fail "attach B2"
port3=$(vsctl_on 3 --bare --columns=name find Interface external_ids:iface-id=a3)
expect "the veth on br-int is bound (ovn-installed)" '^"true"$' vsctl_on 3 get Interface "$port3" external_ids:ovn-installed
expect "Geneve is the kernel's" "geneve" on_host 1 ip -d link show genev_sys_6081
expect "the guest keeps 1500 (the underlay carries 1600)" "eth1@.* mtu 1500 " in_guest "$A1" ip -o link show eth1
ping_ok "$A1" 10.50.0.12
ping_ok "$A2" 10.50.0.13
ping_ok "$A1" 10.60.0.22
ping_ok "$B2" 10.50.0.13
tcp_ok "$A1" "$A3" 10.50.0.13
tcp_ok "$A3" "$B2" 10.60.0.22

before=$(nbctl --columns=name,addresses,port_security,external_ids list Logical_Switch_Port | sort; ovs_state 2)
expect "the line again is a no-op" "eth1 of $A2 is already as asked" pwo 2 ovn:ls1 "$A2" 10.50.0.12/24@10.50.0.1
[ "$(nbctl --columns=name,addresses,port_security,external_ids list Logical_Switch_Port | sort; ovs_state 2)" = "$before" ] ||
    fail "the line again changed something"

pwo 3 --detach -i eth1 "$A3" || fail "detach A3"
[ -z "$(nbctl --bare --columns=name find Logical_Switch_Port name=a3)" ] || fail "a3 is still in NB"
[ -z "$(vsctl_on 3 --bare --columns=name find Interface external_ids:iface-id=a3)" ] || fail "a3's OVS port is still there"
note "ok: --detach leaves no logical port and no OVS port"
ping_fails "$A1" 10.50.0.13
