# Every DHCP method of the reference, and the built-in client, against a real
# dnsmasq: each gets an address of the range and the server's default route,
# and the server records the guest's name as hostname. The -f forms leave
# their client renewing, with its pid file; the others leave no process.
# No client may touch the host's /etc/resolv.conf or hostname. Guests are
# named (netns names): dhcpcd will not send an all-digit hostname such as a PID.
. "$(dirname "$0")/lib.sh"
start_dhcp_server brdh 10.31.0
resolv_before=$(md5sum </etc/resolv.conf); host_before=$(hostname)
# The shield is /dev/null bound over resolv.conf: a hook's chmod must not
# reach the device through it.
null_before=$(stat -c '%a %U:%G' /dev/null)

for method in ${METHODS:-udhcpc udhcpc-f dhclient dhclient-f dhcpcd builtin-dhcp builtin-dhcp-f}; do
    G=$(new_guest); NAME=pwc-$method-$G
    ip netns attach "$NAME" "$G"
    on_exit "ip netns del $NAME"
    case $method in
        udhcpc-f) pidfile=/var/run/udhcpc.$NAME.pid ;;
        dhclient-f) pidfile=/var/run/dhclient.$NAME.pid ;;
        builtin-dhcp-f) pidfile=/var/run/pipework-dhcp.$NAME.eth1.pid ;;
        *) pidfile= ;;
    esac
    [ -z "$pidfile" ] || on_exit "kill_pidfile $pidfile"
    t0=$EPOCHREALTIME
    pipework brdh "$NAME" "$method"
    took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
    ip=$(in_guest "$G" ip -o -4 addr show eth1 | awk '{print $4}' | cut -d/ -f1)
    [[ "$ip" =~ ^10\.31\.0\.(1[0-9][0-9]|200)$ ]] || fail "$method: no address of the range on eth1: '$ip'"
    expect "$method: default route from the server" "^default via 10.31.0.1 dev eth1" in_guest "$G" ip route
    expect "$method: the server knows the guest's name" " $ip $NAME " cat "$DHCP_LEASES"
    if [ -n "$pidfile" ]; then
        [ -s "$pidfile" ] || fail "$method: no pid file $pidfile"
        kill -0 "$(cat "$pidfile")" || fail "$method: the client in $pidfile is not running"
        [ -n "$(procs_in "$G")" ] || fail "$method: no client process in the guest's namespace"
    else
        left=$(procs_in "$G")
        [ -z "$left" ] || fail "$method: left a process in the guest's namespace: $(ps -o cmd= -p "$left")"
    fi
    note "ok: $method: $ip in $took s"
done

[ "$(md5sum </etc/resolv.conf)" = "$resolv_before" ] || fail "a DHCP client changed the host's /etc/resolv.conf"
[ "$(hostname)" = "$host_before" ] || fail "a DHCP client changed the host's hostname"
[ "$(stat -c '%a %U:%G' /dev/null)" = "$null_before" ] || fail "a DHCP client changed /dev/null to $(stat -c '%a %U:%G' /dev/null) (was $null_before)"
note "ok: the host's resolv.conf, hostname and /dev/null are untouched"

# A U: MAC gets the same lease back when the container is re-created.
A=$(new_guest); B=$(new_guest)
pipework brdh "$A" udhcpc U:db1.example.com
first=$(in_guest "$A" ip -o -4 addr show eth1 | awk '{print $4}')
[[ "$first" =~ ^10\.31\.0\.[0-9]+/24$ ]] || fail "udhcpc with a U: MAC got no address: '$first'"
kill -9 "$A"
pipework brdh "$B" builtin-dhcp U:db1.example.com
expect "U: MAC + DHCP: the same address on re-attach" "inet $first " in_guest "$B" ip -o -4 addr show eth1
