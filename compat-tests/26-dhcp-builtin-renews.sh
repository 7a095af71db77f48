# builtin-dhcp-f stays behind and renews: with dnsmasq's shortest lease (two
# minutes) the renewal comes after one, and the server's expiry time moves
# forward. When the guest's process dies, the client exits and removes its
# pid file, so it does not keep the guest's namespace alive.
. "$(dirname "$0")/lib.sh"
start_dhcp_server brdh 10.32.0
G=$(new_guest)
pidfile=/var/run/pipework-dhcp.$G.eth1.pid
on_exit "kill_pidfile $pidfile"

pipework brdh "$G" builtin-dhcp-f
expect "a lease on eth1" "inet 10\.32\.0\.[0-9]+/24" in_guest "$G" ip -o -4 addr show eth1
client=$(cat "$pidfile")
expect "the client runs in the background, named for ps" "pipework-dhcp eth1" ps -o args= -p "$client"
expiry() { in_host kill -USR1 "$(cat "$DHCP_DIR/pid")"; sleep 0.2; awk -v g="$G" '$4 == g {print $1}' "$DHCP_LEASES"; }
first=$(expiry)
[ -n "$first" ] || fail "the server has no lease for $G"
note "waiting for the renewal at half of the two-minute lease…"
for _ in $(seq 90); do
    sleep 1
    now=$(expiry)
    [ "$now" -gt "$first" ] && break
done
[ "$now" -gt "$first" ] || fail "the lease was not renewed: expiry still $now"
note "ok: renewed: the server's expiry moved from $first to $now"
expect "the address is still there" "inet 10\.32\.0\.[0-9]+/24" in_guest "$G" ip -o -4 addr show eth1

kill -9 "$G"
for _ in $(seq 50); do kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$client" 2>/dev/null; then fail "the client $client outlived its guest"; fi
[ ! -e "$pidfile" ] || fail "the client left $pidfile behind"
note "ok: the client exited with its guest and removed its pid file"
