# The README's Docker lines against a real dockerd: containers started with
# --network none get an interface on a bridge by name, and reach each other.
. "$(dirname "$0")/lib.sh"
"$ROOT/scripts/docker-up" >/dev/null
C1=pwc-web1-$HOST; C2=pwc-web2-$HOST
on_exit "docker rm -f $C1 $C2"
docker run -d --name "$C1" --network none busybox:latest sleep 600 >/dev/null
docker run -d --name "$C2" --network none busybox:latest sleep 600 >/dev/null

pipework br1 "$C1" 10.190.0.2/24@10.190.0.1
pipework br1 "$C2" 10.190.0.3/24 U:$C2

expect "container sees eth1 with its address" "inet 10.190.0.2/24" docker exec "$C1" ip -o addr show eth1
expect "and its default route" "default via 10.190.0.1 dev eth1" docker exec "$C1" ip route
expect "host side is named after the container's PID" "veth1pl$(docker inspect -f '{{.State.Pid}}' "$C1")@.*master br1" in_host ip -o link show master br1
expect "one container pings the other" "1 packets received" docker exec "$C1" ping -c 1 -W 2 10.190.0.3
# A batch asks the engine once for all its names: one container list, no
# inspect per name, and the same guests as one attach at a time.
REQS=$(mktemp /tmp/pwreqs.XXXXXX); SOCK=$(mktemp -u /tmp/pwengine.XXXXXX.sock); on_exit "rm -f $REQS"
engine_proxy "$SOCK" "$REQS"
printf 'br1 -i eth2 %s 10.190.1.2/24\nbr1 -i eth2 %s 10.190.1.3/24\n' "$C1" "$C2" |
    DOCKER_HOST="unix://$SOCK" pipework --batch - >/dev/null
expect "one request for the whole batch" "^GET /containers/json HTTP/1.0$" cat "$REQS"
[ "$(wc -l <"$REQS")" = 1 ] || fail "the batch asked the engine $(wc -l <"$REQS") times: $(cat "$REQS")"
expect "the batch reached the same container" "inet 10.190.1.2/24" docker exec "$C1" ip -o addr show eth2
expect "and its host side is named after the same PID" "veth2pl$(docker inspect -f '{{.State.Pid}}' "$C1")@" in_host ip -o link show master br1
tcp_ok "$(docker inspect -f '{{.State.Pid}}' "$C2")" "$(docker inspect -f '{{.State.Pid}}' "$C1")" 10.190.1.2
docker stop -t 0 "$C2" >/dev/null
fails_with "a stopped container is refused" "is not running" pipework br1 "$C2" 10.190.0.4/24
