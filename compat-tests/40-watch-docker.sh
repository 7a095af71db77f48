# pipework --watch with a real dockerd: containers named in a file and in
# their own labels are attached at start, again after `docker restart` (same
# address and U: MAC), left alone when already as asked (SIGHUP, a second
# watch), corrected when changed by hand; a bad line is named and the others
# served; `docker stop` removes an OVS port and its row; SIGTERM leaves
# everything in place; the engine going away is waited out and caught up on.
. "$(dirname "$0")/lib.sh"
"$ROOT/scripts/docker-up" >/dev/null
start_ovs
C1=pwc-w1-$HOST; C2=pwc-w2-$HOST; C3=pwc-w3-$HOST
on_exit "docker rm -f $C1 $C2 $C3"
docker run -d --name "$C1" --network none busybox:latest sleep 600 >/dev/null
docker run -d --name "$C2" --network none --label pipework.attach='br1 10.40.0.3/24' \
    --label pipework.attach.1='-i eth2 ovsbr40 10.40.1.3/24 @40' busybox:latest sleep 600 >/dev/null
docker run -d --name "$C3" --network none busybox:latest sleep 600 >/dev/null

WATCH=$(mktemp /tmp/pwwatch.XXXXXX); LOG=$(mktemp /tmp/pwwatch.XXXXXX)
on_exit "rm -f $WATCH $LOG"
cat >"$WATCH" <<EOF
# Containers' labels may attach to br1, and to ovsbr40 in VLAN 40 only.
labels br1 ovsbr40@40
# web tier
br1 $C1 10.40.0.2/24 U:$C1
br1 -i eth2 $C1 10.40.0.300/24
ovsbr40 $C3 10.40.1.4/24 @40
EOF

# start_watch [ENV…]: pipework --watch in the host, its PID in $W.
start_watch() {
    ip netns exec "$HOST" env "$@" "$PIPEWORK_BIN" --watch "$WATCH" 2>>"$LOG" &
    W=$!
    on_exit "kill $W"
}
pid_of() { docker inspect -f '{{.State.Pid}}' "$1"; }
ifindex() { in_guest "$(pid_of "$1")" ip -o link show "$2" | cut -d: -f1; }
mac_of() { in_guest "$(pid_of "$1")" ip -o link show "$2" | grep -o 'link/ether [^ ]*'; }

start_watch
wait_log 1 "reconciled"
expect "a bad line is named with its file and line" "$WATCH:5: .*10.40.0.300" cat "$LOG"
expect "the watch says where labels may attach" "labels may attach to br1, ovsbr40@40 only" cat "$LOG"
expect "a file line is served" "inet 10.40.0.2/24" in_guest "$(pid_of "$C1")" ip -o addr show eth1
expect "a label is served" "inet 10.40.0.3/24" in_guest "$(pid_of "$C2")" ip -o addr show eth1
expect "a second label, on OVS with a tag" "inet 10.40.1.3/24" in_guest "$(pid_of "$C2")" ip -o addr show eth2
expect "the OVS port carries the tag" "^40$" vsctl get Port "veth2pl$(pid_of "$C2")" tag
ping_ok "$(pid_of "$C1")" 10.40.0.3
tcp_ok "$(pid_of "$C2")" "$(pid_of "$C1")" 10.40.0.2
tcp_ok "$(pid_of "$C3")" "$(pid_of "$C2")" 10.40.1.3
MAC=$(mac_of "$C1" eth1)

# Restarts: the start event brings eth1 back as it was.
for i in 1 2; do
    docker restart -t 0 "$C1" >/dev/null
    wait_log "$i" "$C1: attached eth1 .* after the start event"
done
expect "after restarts eth1 has its address again" "inet 10.40.0.2/24" in_guest "$(pid_of "$C1")" ip -o addr show eth1
expect "and the same U: MAC" "^$MAC$" mac_of "$C1" eth1
tcp_ok "$(pid_of "$C2")" "$(pid_of "$C1")" 10.40.0.2

# SIGHUP: FILE again, and nothing that is as asked flaps.
before=$(ifindex "$C1" eth1)
kill -HUP "$W"
wait_log 2 "reconciled"
expect "SIGHUP leaves what is as asked alone" "$C1: eth1 already as asked" cat "$LOG"
[ "$(ifindex "$C1" eth1)" = "$before" ] || fail "eth1 of $C1 was made again on SIGHUP"
note "ok: eth1 of $C1 kept its ifindex over SIGHUP"

# Changed by hand: the next reconcile makes it again.
in_guest "$(pid_of "$C1")" ip addr flush dev eth1
kill -HUP "$W"
wait_log 1 "$C1: corrected eth1 .*lacks 10.40.0.2/24"
expect "a changed interface is corrected" "inet 10.40.0.2/24" in_guest "$(pid_of "$C1")" ip -o addr show eth1

# docker stop: the OVS port and its Interface row go with the container.
port=veth1pl$(pid_of "$C3")
expect "the OVS port is there while $C3 runs" "$port" vsctl list-ports ovsbr40
docker stop -t 0 "$C3" >/dev/null
wait_log 1 "$C3: died; removed OVS port $port"
expect_not "docker stop removed the port" "$port" vsctl list-ports ovsbr40
expect "and its Interface row" "^$" vsctl --columns=name find Interface "name=$port"

# SIGTERM: the watch stops, the attachments stay.
kill -TERM "$W"; wait "$W" || fail "the watch exited $? on SIGTERM"
expect "SIGTERM is logged" "stopping on SIGTERM; attachments stay in place" cat "$LOG"
expect "eth1 stays after the watch stops" "inet 10.40.0.2/24" in_guest "$(pid_of "$C1")" ip -o addr show eth1

# A second watch finds everything as asked and changes nothing.
before="$(ifindex "$C1" eth1) $(ifindex "$C2" eth1) $(ifindex "$C2" eth2)"
start_watch
wait_log 3 "reconciled"
after="$(ifindex "$C1" eth1) $(ifindex "$C2" eth1) $(ifindex "$C2" eth2)"
[ "$before" = "$after" ] || fail "a second watch made interfaces again: $before → $after"
note "ok: a second watch changed nothing"
kill -TERM "$W"; wait "$W" || true

# The engine goes away (its socket behind a proxy we stop), a container
# restarts meanwhile, the engine comes back: reconnect, catch up.
PROXY=$(mktemp -u /tmp/pwengine.XXXXXX.sock)
engine_proxy "$PROXY"
start_watch DOCKER_HOST="unix://$PROXY"
wait_log 4 "reconciled"
kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true; rm -f "$PROXY"
wait_log 1 "trying again in"
docker restart -t 0 "$C1" >/dev/null
sleep 1
expect "a watch without its engine retries with growing pauses, no busy loop" "trying again in 500" cat "$LOG"
engine_proxy "$PROXY"
wait_log 5 "reconciled"
expect "after the engine came back, the missed restart is caught up" "inet 10.40.0.2/24" in_guest "$(pid_of "$C1")" ip -o addr show eth1
ping_ok "$(pid_of "$C1")" 10.40.0.3
kill -TERM "$W"; wait "$W" || true
