# --detach removes what an attach made for one interface: the veth (both
# ends), a macvlan, an OVS port, a renewing DHCP client and its pid file; a
# device moved in with --direct-phys goes home. A second run, or a guest that
# is gone, is not an error; with --strict it is.
. "$(dirname "$0")/lib.sh"
start_ovs
start_dhcp_server brdh 10.29.0
in_host ip link add lan0 type veth peer name lan0p
in_host ip link add phys0 type veth peer name phys0p
G=$(new_guest); NAME=pwc-detach-$G
ip netns attach "$NAME" "$G"
on_exit "ip netns del $NAME"
on_exit "kill_pidfile /var/run/udhcpc.$NAME.pid"
on_exit "kill_pidfile /var/run/pipework-dhcp.$NAME.eth6.pid"

pipework br1 "$NAME" 10.29.1.2/24
pipework ovsbr0 -i eth2 "$NAME" 10.29.2.2/24 @7
pipework lan0 -i eth3 "$NAME" 10.29.3.2/24
pipework --direct-phys phys0 -i eth4 "$NAME" 10.29.4.2/24
pipework brdh -i eth5 "$NAME" udhcpc-f
pipework brdh -i eth6 "$NAME" builtin-dhcp-f
udhcpc_pid=$(cat "/var/run/udhcpc.$NAME.pid"); builtin_pid=$(cat "/var/run/pipework-dhcp.$NAME.eth6.pid")

pipework --detach "$NAME"
expect_not "eth1 is gone from the guest" " eth1[@:]" in_guest "$G" ip -o link
expect_not "its host side is gone" "veth1pl" in_host ip -o link
pipework --detach ovsbr0 -i eth2 "$NAME" 10.29.2.2/24 @7
expect_not "the OVS port is gone (attach line + --detach)" "veth2pl" vsctl list-ports ovsbr0
expect_not "and its veth" "veth2pl" in_host ip -o link
pipework --detach -i eth3 "$NAME"
expect_not "the macvlan is gone" " eth3[@:]" in_guest "$G" ip -o link
pipework --detach -i eth4 "$NAME"
expect "the --direct-phys device is back in the host" "phys0" in_host ip -o link
expect_not "and out of the guest" " eth4[@:]" in_guest "$G" ip -o link
pipework --detach -i eth5 "$NAME"
pipework --detach -i eth6 "$NAME"
for p in "$udhcpc_pid" "$builtin_pid"; do
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then fail "DHCP client $p still runs after --detach"; fi
done
[ ! -e "/var/run/udhcpc.$NAME.pid" ] && [ ! -e "/var/run/pipework-dhcp.$NAME.eth6.pid" ] || fail "pid files left behind"
expect_not "the DHCP interfaces are gone" " eth[56][@:]" in_guest "$G" ip -o link
note "ok: the renewing clients were stopped and their pid files removed"

fails_with "--strict: an interface that is not there is an error" "has no interface eth1" \
    pipework --detach --strict "$NAME"
pipework --detach "$NAME" 2>/dev/null || fail "a second detach must succeed"
note "ok: a second detach is not an error"
kill -9 "$G"
pipework --detach "$G" 2>/dev/null || fail "detaching a guest that is gone must succeed"
fails_with "--strict: a guest that is gone is an error" "nothing to detach" pipework --detach --strict "$G"
