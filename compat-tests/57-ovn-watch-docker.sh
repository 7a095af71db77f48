# pipework --watch with an ovn:LSWITCH line and a real dockerd, on the lab
# of 55-ovn.sh: the watch on H2 attaches a running container to ls1 (bound,
# ping and 1 MB over TCP from a guest on H1); `docker kill` removes the
# logical switch port from the Northbound database and the OVS port from
# br-int; `docker start` binds it again; `docker restart` (die, then start)
# binds it again (ovn-installed, ping and 1 MB over TCP each time), and
# leaves exactly one logical port and one OVS port.
. "$(dirname "$0")/lib.sh"
command -v ovn-northd >/dev/null || fail "OVN is not installed (scripts/setup installs ovn-central and ovn-host)"
"$ROOT/scripts/docker-up" >/dev/null
. "$(dirname "$0")/ovn-lab.sh"
ovn_lab_up

A1=$(guest_on 1)
pwo 1 ovn:ls1 "$A1" 10.50.0.11/24@10.50.0.1 || fail "attach A1"
CT=pwc-ovnw-$HOST LSP=pwc-ovnw-$HOST-eth1
on_exit "docker rm -f $CT"
docker run -d --name "$CT" --network none busybox:latest sleep 600 >/dev/null
pid_of() { docker inspect -f '{{.State.Pid}}' "$1"; }

WATCH=$(mktemp /tmp/pwwatch.XXXXXX); LOG=$(mktemp /tmp/pwwatch.XXXXXX)
on_exit "rm -f $WATCH $LOG"
echo "ovn:ls1 $CT 10.50.0.52/24@10.50.0.1" >"$WATCH"
# env and ip netns exec exec in turn: $! is pipework itself.
d2=${OVS_DIRS[2]}
env OVN_RUNDIR="$d2" OVN_NB_DB="${NBS[2]}" OVS_RUNDIR="$d2" OVS_DBDIR="$d2" OVS_LOGDIR="$d2" \
    ip netns exec "${HOSTS[2]}" "$PIPEWORK_BIN" --watch "$WATCH" 2>>"$LOG" &
W=$!; on_exit "kill $W"

lsps() { nbctl --bare --columns=name find Logical_Switch_Port "name=$LSP" | grep -c . || true; }
ovs_ports() { vsctl_on 2 --bare --columns=name find Interface "external_ids:iface-id=$LSP" | grep -c . || true; }
# bound HOW: the container is on ls1 again: one logical port, one OVS port
# named after its current PID and bound by ovn-controller, ping and TCP.
bound() {
    local pid port
    pid=$(pid_of "$CT") port=veth1pl$(pid_of "$CT")
    [ "$(lsps)" = 1 ] || fail "$1: $(lsps) logical ports $LSP, not 1"
    [ "$(ovs_ports)" = 1 ] || fail "$1: $(ovs_ports) OVS ports bound to $LSP, not 1"
    expect "$1: its port $port is bound (ovn-installed)" '^"true"$' \
        vsctl_on 2 get Interface "$port" external_ids:ovn-installed
    expect "$1: the container has its address" "inet 10.50.0.52/24" in_guest "$pid" ip -o addr show eth1
    ping_ok "$A1" 10.50.0.52
    tcp_ok "$A1" "$pid" 10.50.0.52
}

wait_log 1 "$CT: attached eth1 \("
bound "attached by the watch"

docker kill "$CT" >/dev/null
wait_log 1 "$CT: died; removed OVN logical switch port $LSP, removed OVS port veth1pl[0-9]+"
[ "$(lsps)" = 0 ] || fail "docker kill left the logical port $LSP in NB"
[ "$(ovs_ports)" = 0 ] || fail "docker kill left an OVS port bound to $LSP"
expect_not "and nothing of it on br-int" "veth1pl" vsctl_on 2 list-ports br-int
note "ok: docker kill removed the logical switch port and the OVS port"
ping_fails "$A1" 10.50.0.52

docker start "$CT" >/dev/null
wait_log 1 "$CT: attached eth1 \(.* after the start event"
bound "after docker start"

docker restart -t 0 "$CT" >/dev/null
wait_log 2 "$CT: died; removed OVN logical switch port $LSP"
wait_log 2 "$CT: attached eth1 \(.* after the start event"
bound "after docker restart"

kill -TERM "$W"; wait "$W" || fail "the watch exited $? on SIGTERM"
