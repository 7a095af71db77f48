# pipework ovn:LSWITCH on three hosts (the lab of spec/ovn.md): OVN's
# central databases and ovn-northd on H1, ovn-controller and a private
# userspace Open vSwitch on every host, Geneve between them, H3 behind a
# router; H2 and H3 reach the Northbound database over TCP. Guests on two
# logical switches joined by a distributed router: same-switch and routed
# pings, 1 MB over TCP across hosts, isolation when the router port goes;
# one Northbound write per attach; the refusals change nothing (NB, OVS and
# the host dumped before and after); the line again changes nothing; DHCP
# from OVN itself; an attach killed (SIGKILL) mid-way is repaired by the
# next run; --detach leaves no logical port and no OVS port; --batch; the
# CNI plugin, whose DEL after the container died removes the logical port.
. "$(dirname "$0")/lib.sh"
command -v ovn-northd >/dev/null || fail "OVN is not installed (scripts/setup installs ovn-central and ovn-host)"
. "$(dirname "$0")/ovn-lab.sh"
ovn_lab_up
note "ok: three chassis registered (Geneve)"
# A port someone made by hand: its address and name are taken.
nbctl lsp-add ls1 hand -- lsp-set-addresses hand "02:00:00:00:00:99 10.50.0.99"

# lsp NAME: the logical switch port's row, on one line.
lsp() { nbctl list Logical_Switch_Port "$1" | tr '\n' ' '; }
nb_state() { nbctl show; nbctl --columns=name,addresses,port_security,external_ids,dhcpv4_options list Logical_Switch_Port | sort; }
# Our writes are the NB log records whose comment starts with "pipework:".
nb_writes() { ovsdb-tool show-log -m "$C/nb.db" | grep -c 'pipework:' || true; }
all_state() { nb_state; for i in 1 2 3; do host_state "$i"; ovs_state "$i"; done; }

# Refusals: each names the fix and changes nothing anywhere.
R=$(guest_on 2)
before=$(all_state)
dry_run() { pwo 2 --dry-run ovn:ls1 "$R" 10.50.0.40/24 | tr '\n' ' '; }
fails_with "a switch that does not exist" "no logical switch nosuch: create it with ovn-nbctl ls-add nosuch" \
    pwo 2 ovn:nosuch "$R" 10.50.0.40/24
fails_with "an unreachable Northbound database" "Northbound database at tcp:172.31.0.1:6699 does not answer; name it with --ovn-nb" \
    pwo 2 ovn:ls1 --ovn-nb tcp:172.31.0.1:6699 "$R" 10.50.0.40/24
fails_with "ssl: without its key and certificates names them" "reached over TLS.*missing: --ovn-nb-key KEY \(ovn-nbctl -p\), --ovn-nb-cert CERT \(-c\), --ovn-nb-ca CACERT \(-C\)" \
    pwo 2 --ovn-nb ssl:172.31.0.1:6641 ovn:ls1 "$R" 10.50.0.40/24
fails_with "an address another port claims" "10.50.0.99 is already claimed on logical switch ls1 by port hand.*ovn-nbctl lsp-del hand" \
    pwo 2 ovn:ls1 "$R" 10.50.0.99/24
fails_with "a port name another attachment holds" "logical switch port hand already exists on ls1 and belongs to another attachment.*--ovn-port" \
    pwo 2 --ovn-port hand ovn:ls1 "$R" 10.50.0.40/24
fails_with "no ovn-controller on the host" "no ovn-controller runs on this host.*ovn-ctl start_controller" \
    env OVN_RUNDIR=/nonexistent OVN_NB_DB="${NBS[2]}" OVS_RUNDIR="${OVS_DIRS[2]}" ip netns exec "${HOSTS[2]}" "$PIPEWORK_BIN" ovn:ls1 "$R" 10.50.0.40/24
fails_with "DHCP on a switch without OVN's IPAM" "needs the switch's subnet for its IPAM: ovn-nbctl set Logical_Switch ls2 other_config:subnet" \
    pwo 2 ovn:ls2 "$R" builtin-dhcp
[ "$(all_state)" = "$before" ] || fail "a refused line changed something:
$(diff <(echo "$before") <(all_state))"
note "ok: the refusals changed nothing in NB, OVS or the hosts"
expect "the dry run prints ovn-nbctl, ovs-vsctl and ip lines" \
    "ip link add veth1pl[0-9]+ mtu 1500 type veth.*ovn-nbctl --db=tcp:172.31.0.1:6641 lsp-add ls1 [0-9]+-eth1 -- lsp-set-addresses [0-9]+-eth1 \"[0-9a-f:]+ 10.50.0.40\".*ovs-vsctl --may-exist add-port br-int veth1pl[0-9]+ -- set Interface veth1pl[0-9]+ external-ids:iface-id=[0-9]+-eth1.*ovn-installed=true" \
    dry_run
[ "$(all_state)" = "$before" ] || fail "the dry run changed something"
# On a 1500-byte underlay the guest gets 1442: a full frame still fits in Geneve.
vsctl_on 2 set Interface br-phy mtu_request=1500
for n in $(seq 100); do on_host 2 ip -o link show br-phy | grep -q ' mtu 1500 ' && break; sleep 0.05; done
expect "the guest's MTU leaves room for Geneve on a 1500 underlay" "veth peer name eth1 mtu 1442 " dry_run
vsctl_on 2 set Interface br-phy mtu_request=1600
for n in $(seq 100); do on_host 2 ip -o link show br-phy | grep -q ' mtu 1600 ' && break; sleep 0.05; done

# Guests: ls1 and ls2 on every host.
declare -A A B
for i in 1 2 3; do A[$i]=$(guest_on "$i"); B[$i]=$(guest_on "$i"); done
w0=$(nb_writes)
pwo 1 ovn:ls1 "${A[1]}" 10.50.0.11/24@10.50.0.1 || fail "attach A1"
[ "$(nb_writes)" = $((w0 + 1)) ] || fail "an attach made $(( $(nb_writes) - w0 )) Northbound writes, not 1"
note "ok: one Northbound transaction per attach"
pwo 2 ovn:ls1 "${A[2]}" 10.50.0.12/24@10.50.0.1 || fail "attach A2"
pwo 3 --ovn-port a3 ovn:ls1 "${A[3]}" 10.50.0.13/24@10.50.0.1 || fail "attach A3"
# Bound when pipework returns: the first ping, once, across hosts.
in_guest "${A[3]}" ping -c 1 -w 2 -i 0.2 10.50.0.11 >/dev/null || fail "the first ping right after the attach failed"
note "ok: a ping right after the attach crosses to another host"
batch=$(mktemp /tmp/pwovnb.XXXXXX); on_exit "rm -f $batch"
echo "ovn:ls2 ${B[1]} 10.60.0.21/24@10.60.0.1" >"$batch"
pwo 1 --batch "$batch" || fail "a batched ovn: line"
pwo 2 ovn:ls2 "${B[2]}" 10.60.0.22/24@10.60.0.1 || fail "attach B2"
pwo 3 ovn:ls2 -i eth2 "${B[3]}" 10.60.0.23/24@10.60.0.1 || fail "attach B3"
expect "the logical port carries addresses, port security and pipework's ids" \
    "addresses +: \[\"[0-9a-f:]+ 10.50.0.13\"\].*pipework.chassis=pwH3.*pipework.interface=eth1.*port_security +: \[\"[0-9a-f:]+ 10.50.0.13\"\]" \
    lsp a3
port3=$(vsctl_on 3 --bare --columns=name find Interface external_ids:iface-id=a3)
expect "the veth on br-int is bound (ovn-installed)" '^"true"$' vsctl_on 3 get Interface "$port3" external_ids:ovn-installed
expect "its port is on the integration bridge" "^br-int$" vsctl_on 3 port-to-br "$port3"
ping_ok "${A[1]}" 10.50.0.12
ping_ok "${A[2]}" 10.50.0.13
ping_ok "${B[1]}" 10.60.0.23
ping_ok "${A[1]}" 10.60.0.22
ping_ok "${B[3]}" 10.50.0.12
tcp_ok "${A[1]}" "${A[3]}" 10.50.0.13
tcp_ok "${A[2]}" "${B[3]}" 10.60.0.23

# Isolation: without the router port ls2 is unreachable from ls1.
nbctl lsp-del ls2-lr1
nbctl --wait=hv sync
ping_fails "${A[1]}" 10.60.0.22
ping_fails "${B[3]}" 10.50.0.11
nbctl lsp-add ls2 ls2-lr1 -- lsp-set-type ls2-lr1 router -- lsp-set-addresses ls2-lr1 router \
    -- lsp-set-options ls2-lr1 router-port=lr1-ls2
nbctl --wait=hv sync
ping_ok "${A[1]}" 10.60.0.22

# The same line again changes nothing.
before=$(nb_state; ovs_state 2; host_state 2)
expect "the line again is a no-op" "eth1 of ${A[2]} is already as asked" pwo 2 ovn:ls1 "${A[2]}" 10.50.0.12/24@10.50.0.1
[ "$(nb_state; ovs_state 2; host_state 2)" = "$before" ] || fail "the line again changed something"
note "ok: ...and changes nothing"

# DHCP from OVN's own responder, with the built-in client.
D=$(guest_on 3)
port_name() { echo "$1"; }
pwo 3 ovn:ls1 "$D" builtin-dhcp || fail "builtin-dhcp on ls1"
expect "OVN's IPAM gave the port an address" "dynamic_addresses +: \"[0-9a-f:]+ 10.50.0.1[0-9][0-9]\"" \
    lsp "$(port_name "$D")-eth1"
expect "the guest has its lease from OVN" "inet 10.50.0.1[0-9][0-9]/24" in_guest "$D" ip -4 -o addr show eth1
expect "and the router OVN named" "default via 10.50.0.1 dev eth1" in_guest "$D" ip route
ping_ok "$D" 10.60.0.21

# An attach killed mid-way (SIGKILL while ovn-controller, stopped, has not
# bound the port): the next run of the line repairs it.
K=$(guest_on 2)
ctl2=$(cat "${OVS_DIRS[2]}/ovn-controller.pid")
kill -STOP "$ctl2"; on_exit "kill -CONT $ctl2"
# env and ip netns exec exec in turn: $! is pipework itself.
d2=${OVS_DIRS[2]}
env OVN_RUNDIR="$d2" OVN_NB_DB="${NBS[2]}" OVS_RUNDIR="$d2" OVS_DBDIR="$d2" OVS_LOGDIR="$d2" \
    ip netns exec "${HOSTS[2]}" "$PIPEWORK_BIN" --ovn-port k1 ovn:ls1 "$K" 10.50.0.14/24 2>/dev/null &
killed=$!
for n in $(seq 100); do [ -n "$(vsctl_on 2 --bare --columns=name find Interface external_ids:iface-id=k1)" ] && break; sleep 0.05; done
kill -9 "$killed"; wait "$killed" 2>/dev/null || true
kill -CONT "$ctl2"
[ -n "$(nbctl --bare --columns=name find Logical_Switch_Port name=k1)" ] || fail "the killed attach had not made its logical port yet"
expect "the next run repairs it" "replacing logical switch port k1, left by an earlier attach" \
    pwo 2 --ovn-port k1 ovn:ls1 "$K" 10.50.0.14/24
[ "$(nbctl --bare --columns=name find Logical_Switch_Port name=k1 | grep -c k1)" = 1 ] || fail "not one k1 port"
ping_ok "${A[1]}" 10.50.0.14

# The CNI plugin: ADD onto ovn:ls2 on H3; the container dies, then DEL
# removes its logical port and OVS port (what --watch does for a container
# that dies, through the same code).
cni_setup
echo '{"cniVersion": "1.1.0", "name": "ovnnet", "type": "pipework", "hostif": "ovn:ls2", "address": "10.60.0.30/24"}' \
    >"$CNI_DIR/ovn.json"
cni3() { # COMMAND NETNS ID
    env OVN_RUNDIR="${OVS_DIRS[3]}" OVN_NB_DB="${NBS[3]}" OVS_RUNDIR="${OVS_DIRS[3]}" CNI_COMMAND="$1" CNI_NETNS="$2" \
        CNI_IFNAME=net1 CNI_CONTAINERID="$3" CNI_PATH="$CNI_PATH_DIRS" ip netns exec "${HOSTS[3]}" "$PIPEWORK_BIN" \
        <"$CNI_DIR/ovn.json"
}
N=$(guest_on 3)
cni3 ADD /proc/$N/ns/net cniovn >"$CNI_DIR/r.json" || fail "CNI ADD onto ovn:ls2: $(cat "$CNI_DIR/r.json")"
ping_ok "$N" 10.60.0.21
[ -n "$(nbctl --bare --columns=name find Logical_Switch_Port external_ids:pipework.interface=net1)" ] ||
    fail "the CNI attachment has no logical port"
kill -9 "$N"; for n in $(seq 100); do [ -e "/proc/$N" ] || break; sleep 0.05; done
cni3 DEL /proc/$N/ns/net cniovn || fail "CNI DEL after the container died"
[ -z "$(nbctl --bare --columns=name find Logical_Switch_Port external_ids:pipework.interface=net1)" ] ||
    fail "CNI DEL left the logical port"
[ -z "$(vsctl_on 3 --bare --columns=name find Interface external_ids:pipework.cni.network=ovnnet)" ] ||
    fail "CNI DEL left the OVS port"
note "ok: CNI ADD onto ovn:ls2, and DEL after the container died removes both ports"

# --detach: no guest interface, no OVS port, no logical port.
pwo 3 --detach -i eth1 "${A[3]}" || fail "detach A3"
[ -z "$(nbctl --bare --columns=name find Logical_Switch_Port name=a3)" ] || fail "a3 is still in NB"
[ -z "$(vsctl_on 3 --bare --columns=name find Interface external_ids:iface-id=a3)" ] || fail "a3's OVS port is still there"
expect_not "the guest's interface is gone" "eth1" in_guest "${A[3]}" ip -o link show
pwo 3 --detach ovn:ls1 "$D" builtin-dhcp || fail "detach D (the attach line after --detach)"
[ -z "$(nbctl --bare --columns=addresses find Logical_Switch_Port | grep dynamic)" ] || fail "D's port is still in NB"
note "ok: --detach leaves no logical port and no OVS port"
ping_fails "${A[1]}" 10.50.0.13
