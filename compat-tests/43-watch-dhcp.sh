# pipework --watch and a DHCP client left renewing (udhcpc-f, against a real
# dnsmasq): when the container dies, its namespace would live on in the
# client, with the veth and the lease; the watch stops the client and
# removes its pid file. The host's /etc/resolv.conf is never touched.
. "$(dirname "$0")/lib.sh"
"$ROOT/scripts/docker-up" >/dev/null
start_dhcp_server brdw 10.43.0
resolv_before=$(md5sum </etc/resolv.conf)
C=pwc-wd-$HOST
pidfile=/var/run/udhcpc.$C.pid
on_exit "docker rm -f $C; kill_pidfile $pidfile"
docker run -d --name "$C" --network none busybox:latest sleep 600 >/dev/null
# A host program's DHCP method: FILE may ask for it, a label may not.
LOG=$(mktemp /tmp/pwwatch.XXXXXX); WATCH=$(mktemp /tmp/pwwatch.XXXXXX); on_exit "rm -f $LOG $WATCH"
echo "brdw $C udhcpc-f" >"$WATCH"
ip netns exec "$HOST" "$PIPEWORK_BIN" --watch "$WATCH" 2>>"$LOG" &
W=$!; on_exit "kill $W"
wait_log 1 "reconciled" 600
G=$(docker inspect -f '{{.State.Pid}}' "$C")
expect "the file line's DHCP attach got a lease" "inet 10\.43\.0\.[0-9]+/24" in_guest "$G" ip -o -4 addr show eth1
[ -s "$pidfile" ] || fail "no pid file $pidfile"
client=$(cat "$pidfile")
kill -0 "$client" || fail "the client $client is not running"
note "ok: udhcpc renews as $client"

docker stop -t 0 "$C" >/dev/null
wait_log 1 "$C: died; stopped DHCP client"
for _ in $(seq 50); do kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$client" 2>/dev/null; then fail "the client $client outlived its container"; fi
note "ok: the client stopped with its container"
[ ! -e "$pidfile" ] || fail "the pid file $pidfile is still there"
note "ok: its pid file is gone"
[ "$(md5sum </etc/resolv.conf)" = "$resolv_before" ] || fail "a DHCP client changed the host's /etc/resolv.conf"
note "ok: the host's resolv.conf is untouched"
kill -TERM "$W"; wait "$W" || fail "the watch exited $? on SIGTERM"
