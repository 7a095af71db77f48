# pipework ovn:LSWITCH on the kernel's Open vSwitch datapath: the OVN lab of
# 55-ovn.sh (central on H1, ovn-controller on every host, Geneve) with
# br-int a kernel datapath on each chassis, tunnels through the hosts' own
# routes. Guests on ls1 on two hosts and on ls2 behind the router: bound
# when pipework returns, same-switch and routed pings and 1 MB over TCP
# across hosts (the kernel datapath offloads checksums, which the
# userspace one would drop), then --detach leaves no logical port and no
# OVS port.
. "$(dirname "$0")/../lib.sh"
needs_kernel openvswitch geneve
command -v ovn-northd >/dev/null || fail "OVN is not installed (scripts/setup installs ovn-central and ovn-host)"
OVN_DATAPATH=system
. "$(dirname "$0")/../ovn-lab.sh"
ovn_lab_up

A1=$(guest_on 1); A2=$(guest_on 2); B3=$(guest_on 3)
pwo 1 ovn:ls1 "$A1" 10.50.0.11/24@10.50.0.1 || fail "attach A1"
pwo 2 --ovn-port a2 ovn:ls1 "$A2" 10.50.0.12/24@10.50.0.1 || fail "attach A2"
pwo 3 ovn:ls2 "$B3" 10.60.0.23/24@10.60.0.1 || fail "attach B3"
# Bound when pipework returns: the first ping, once, across hosts.
in_guest "$A2" ping -c 1 -w 2 -i 0.2 10.50.0.11 >/dev/null || fail "the first ping right after the attach failed"
note "ok: a ping right after the attach crosses to another host"
expect "br-int is a kernel datapath bridge" '^system$' vsctl_on 2 get Bridge br-int datapath_type
expect "the datapath is the kernel's" "system@ovs-system" on_host 2 ovs-dpctl show
port2=$(vsctl_on 2 --bare --columns=name find Interface external_ids:iface-id=a2)
expect "the veth is a port of the kernel datapath" "$port2" on_host 2 ovs-dpctl show
expect "the tunnel is the kernel's Geneve device" "genev_sys_6081" on_host 2 ip -o link show
ping_ok "$A1" 10.50.0.12
ping_ok "$A1" 10.60.0.23
ping_ok "$B3" 10.50.0.12
tcp_ok "$A1" "$A2" 10.50.0.12
tcp_ok "$B3" "$A1" 10.50.0.11

pwo 2 --detach -i eth1 "$A2" || fail "detach A2"
[ -z "$(nbctl --bare --columns=name find Logical_Switch_Port name=a2)" ] || fail "a2 is still in NB"
[ -z "$(vsctl_on 2 --bare --columns=name find Interface external_ids:iface-id=a2)" ] || fail "a2's OVS port is still there"
expect_not "the guest's interface is gone" "eth1" in_guest "$A2" ip -o link show
note "ok: --detach leaves no logical port and no OVS port"
ping_fails "$A1" 10.50.0.12
