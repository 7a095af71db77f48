# "Attached, but nothing pings" (reference #211, #98, #220): with bridged
# traffic handed to iptables (net.bridge.bridge-nf-call-iptables=1) and a
# FORWARD policy of DROP, as Docker sets, guests on a Linux bridge cannot
# reach each other. pipework says so, with the fix, and changes no rule.
. "$(dirname "$0")/lib.sh"
command -v iptables >/dev/null || fail "iptables is needed (scripts/setup installs it)"
# Hosts that run Docker have br_netfilter loaded; a kernel booted for this
# test has not.
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || kernel_has br_netfilter || fail "this kernel has no br_netfilter"
G1=$(new_guest); G2=$(new_guest)
pipework br1 "$G1" 10.37.0.1/24
in_host sysctl -qw net.bridge.bridge-nf-call-iptables=1
in_host iptables -P FORWARD DROP
rules=$(in_host iptables -S)

expect "the attach warns, naming the fix" \
    "warning: IPv4 traffic that br1 forwards goes through iptables .*Fix: iptables -I FORWARD -m physdev --physdev-is-bridged -j ACCEPT" \
    pipework br1 "$G2" 10.37.0.2/24
[ "$(in_host iptables -S)" = "$rules" ] || fail "pipework changed iptables rules"
note "ok: no rule changed"
ping_fails "$G2" 10.37.0.1
in_host iptables -I FORWARD -m physdev --physdev-is-bridged -j ACCEPT
ping_ok "$G2" 10.37.0.1
tcp_ok "$G2" "$G1" 10.37.0.1
expect_not "with the fix in place, no warning" "warning" pipework br1 -i eth2 "$G2" 10.37.1.2/24
