# ADDRESS slaac: IPv6 from router advertisements on the link (reference #36,
# #179), with a real radvd in the host. Without a router the attach gives up
# within the time limit and leaves nothing.
. "$(dirname "$0")/lib.sh"
command -v radvd >/dev/null || fail "radvd is needed (scripts/setup installs it)"
P=$(new_guest); G=$(new_guest); LONELY=$(new_guest)
pipework br1 --nodad "$P" 2001:db8:39::1/64
RA=$(mktemp -d /tmp/pwra.XXXXXX); on_exit "kill \$(cat $RA/pid); rm -rf $RA"
cat >"$RA/conf" <<CONF
interface br1 {
    AdvSendAdvert on;
    MinRtrAdvInterval 3;
    MaxRtrAdvInterval 4;
    prefix 2001:db8:39::/64 { AdvOnLink on; AdvAutonomous on; };
};
CONF
in_host sysctl -qw net.ipv6.conf.all.forwarding=1
in_host radvd -C "$RA/conf" -p "$RA/pid" -m logfile -l "$RA/log"
for i in $(seq 50); do [ -s "$RA/pid" ] && break; sleep 0.1; done

pipework br1 "$G" slaac
expect "an address from the advertised prefix" "inet6 2001:db8:39:[0-9a-f:]+/64 scope global" in_guest "$G" ip -o -6 addr show eth1
expect "and the router as default" "default via fe80::" in_guest "$G" ip -6 route
ping_ok "$G" 2001:db8:39::1
tcp_ok "$G" "$P" 2001:db8:39::1

# A link without a router: given up within --dhcp-timeout, undone.
in_host ip link add br2 type bridge
in_host ip link set br2 up
# A standing port, so the bridge's own carrier does not change with ours.
in_host ip link add b2p type veth peer name b2q
in_host ip link set b2p master br2 up
in_host ip link set b2q up
# The kernel's own IPv6 link-local addresses and routes (br2 had a port for
# a moment), and operstates catching up with carrier, are not ours to compare.
state() { snapshot "$LONELY" | grep -v -e 'fe80::' -e 'ff00::/8' | sed -E 's/ state [A-Z]+ / /'; }
before=$(state)
fails_with "no router advertisement, no address" "no router advertisement gave eth1 an IPv6 address within 3 s" \
    pipework --dhcp-timeout 3 br2 "$LONELY" slaac
[ "$(state)" = "$before" ] || fail "the failed slaac attach left something: $(diff <(echo "$before") <(state))"
note "ok: nothing left"
