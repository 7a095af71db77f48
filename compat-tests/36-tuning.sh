# Tuning the guest's interface (reference PR #68, ovs PR #44): --mtu (the
# veth's host side too), --txqueuelen, --promisc, --sysctl KEY=VALUE in the
# guest, and for a Linux bridge port --hairpin and --isolated.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest); G2=$(new_guest); G3=$(new_guest)

pipework br1 --mtu 1400 --txqueuelen 2000 --promisc --sysctl net.ipv6.conf.eth1.accept_ra=2 --hairpin \
    "$G1" 10.36.0.1/24
expect "the guest's MTU and queue" "mtu 1400 .*qlen 2000" in_guest "$G1" ip -o link show eth1
expect "promiscuous" "PROMISC" in_guest "$G1" ip -o link show eth1
expect "the host side has the MTU too" "mtu 1400" in_host ip -o link show "veth1pl$G1"
expect "the guest's sysctl" "^2$" in_guest "$G1" cat /proc/sys/net/ipv6/conf/eth1/accept_ra
expect "hairpin on the bridge port" "hairpin on" in_host ip -d -o link show "veth1pl$G1"
expect "the same tuned line again is as asked (sysctl and hairpin compared)" "eth1 of $G1 is already as asked" \
    pipework br1 --mtu 1400 --txqueuelen 2000 --promisc --sysctl net.ipv6.conf.eth1.accept_ra=2 --hairpin \
    "$G1" 10.36.0.1/24

# Isolated ports reach only ports that are not isolated.
pipework br1 --isolated "$G2" 10.36.0.2/24
pipework --isolated br1 "$G3" 10.36.0.3/24
expect "the port is isolated" "isolated on" in_host ip -d -o link show "veth1pl$G2"
expect "the same isolated line again is as asked" "eth1 of $G2 is already as asked" \
    pipework br1 --isolated "$G2" 10.36.0.2/24
ping_fails "$G2" 10.36.0.3
ping_ok "$G2" 10.36.0.1
tcp_ok "$G2" "$G1" 10.36.0.1

fails_with "a sysctl outside net.* is refused" "only the guest's own net" \
    pipework br1 --sysctl kernel.hostname=x "$G3" 10.36.0.9/24
fails_with "--hairpin needs a Linux bridge port" "set a Linux bridge port, but lan0 gives the guest a macvlan" \
    bash -c "$(declare -f pipework in_host); HOST=$HOST PIPEWORK_BIN=$PIPEWORK_BIN; in_host ip link add lan0 type veth peer name lan0p; pipework lan0 --hairpin $G3 10.36.0.9/24"
