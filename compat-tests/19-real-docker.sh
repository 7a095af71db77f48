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
docker stop -t 0 "$C2" >/dev/null
fails_with "a stopped container is refused" "is not running" pipework br1 "$C2" 10.190.0.4/24
