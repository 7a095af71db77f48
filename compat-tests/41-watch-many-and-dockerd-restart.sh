# pipework --watch, a real dockerd: 50 containers started at once, each
# with its pipework.attach label, are all attached, none twice; then dockerd
# itself restarts (when it is the tests' own, from scripts/docker-up): the
# watch reconnects and attaches the containers dockerd brings back.
. "$(dirname "$0")/lib.sh"
"$ROOT/scripts/docker-up" >/dev/null
N=50
NAMES=(); for i in $(seq $N); do NAMES+=("pwc-m$i-$HOST"); done
on_exit "docker rm -f ${NAMES[*]}"
WATCH=$(mktemp /tmp/pwwatch.XXXXXX); LOG=$(mktemp /tmp/pwwatch.XXXXXX)
on_exit "rm -f $WATCH $LOG"
printf '# labels only\nlabels br1\n' >"$WATCH"

ip netns exec "$HOST" "$PIPEWORK_BIN" --watch "$WATCH" 2>>"$LOG" &
W=$!; on_exit "kill $W"
wait_log 1 "reconciled"

# All at once: dockerd starts them concurrently, the events come in a burst.
runs=()
for i in $(seq $N); do
    docker run -d --name "${NAMES[i-1]}" --network none --restart always --stop-timeout 1 \
        --label pipework.attach="br1 10.41.0.$i/24" busybox:latest sleep 600 >/dev/null &
    runs+=($!)
done
wait "${runs[@]}"
wait_log $N ": attached eth1 .* after the start event" 600
for i in $(seq $N); do
    c=${NAMES[i-1]}
    [ "$(grep -c "$c: attached eth1" "$LOG")" = 1 ] || fail "$c was attached $(grep -c "$c: attached eth1" "$LOG") times"
    in_guest "$(docker inspect -f '{{.State.Pid}}' "$c")" ip -o addr show eth1 | grep -q "inet 10.41.0.$i/24" ||
        fail "$c has no 10.41.0.$i/24 on eth1"
done
note "ok: $N containers started at once, each attached once, with its own address"
[ "$(in_host ip -o link show master br1 | wc -l)" = $N ] || fail "br1 does not have exactly $N ports"
note "ok: br1 has $N ports"
P1=$(docker inspect -f '{{.State.Pid}}' "${NAMES[0]}"); P50=$(docker inspect -f '{{.State.Pid}}' "${NAMES[N-1]}")
tcp_ok "$P1" "$P50" "10.41.0.$N"

# dockerd restarts under the watch. Only the tests' own dockerd is touched.
DPID=$(cat /var/run/docker.pid 2>/dev/null || true)
if [ -n "$DPID" ] && tr '\0' ' ' <"/proc/$DPID/cmdline" 2>/dev/null | grep -q -- "--bridge=none --iptables=false"; then
    kill -TERM "$DPID"
    for i in $(seq 300); do [ -d "/proc/$DPID" ] || break; sleep 0.1; done
    [ -d "/proc/$DPID" ] && fail "dockerd did not stop"
    wait_log 1 "cannot follow Docker's events" 
    "$ROOT/scripts/docker-up" >/dev/null
    for i in $(seq 300); do
        [ "$(docker ps -q --filter "name=pwc-m.*-$HOST" | wc -l)" = $N ] && break
        sleep 0.1
    done
    wait_log 2 "reconciled" 400
    for c in "${NAMES[0]}" "${NAMES[N-1]}"; do
        for i in $(seq 100); do
            in_guest "$(docker inspect -f '{{.State.Pid}}' "$c")" ip -o addr show eth1 2>/dev/null | grep -q inet && break
            sleep 0.1
        done
    done
    expect "after dockerd restarted, the first container has eth1 again" "inet 10.41.0.1/24" \
        in_guest "$(docker inspect -f '{{.State.Pid}}' "${NAMES[0]}")" ip -o addr show eth1
    P1=$(docker inspect -f '{{.State.Pid}}' "${NAMES[0]}"); P50=$(docker inspect -f '{{.State.Pid}}' "${NAMES[N-1]}")
    tcp_ok "$P1" "$P50" "10.41.0.$N"
else
    note "skipped the dockerd restart: this dockerd was not started by scripts/docker-up"
fi
kill -TERM "$W"; wait "$W" || fail "the watch exited $? on SIGTERM"
