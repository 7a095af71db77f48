# Guests named by Podman and by containerd, real engines both: a name Docker
# does not know is asked of Podman, then containerd; podman:NAME,
# containerd:NAME and --engine pick one. Containers on one bridge reach each
# other, and --detach finds them the same way.
. "$(dirname "$0")/lib.sh"
"$ROOT/scripts/docker-up" >/dev/null
"$ROOT/scripts/podman-up" >/dev/null
P1=pwc-pod1-$HOST; P2=pwc-pod2-$HOST; C1=pwc-ctr1-$HOST
# One container a call: Podman 4.3's `rm -f` given a name that is gone
# among others silently removes none of them.
on_exit "podman rm -f -t 0 $P1"; on_exit "podman rm -f -t 0 $P2"
limits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
podman run -d --name "$P1" --network none --cap-add NET_RAW "${limits[@]}" localhost/busybox:latest sleep 600 >/dev/null
podman run -d --name "$P2" --network none "${limits[@]}" localhost/busybox:latest sleep 600 >/dev/null

# containerd: Docker's own instance, in a namespace of our own.
export CONTAINERD_ADDRESS=/var/run/docker/containerd/containerd.sock CONTAINERD_NAMESPACE=pwc-$HOST
on_exit "ctr task kill -s KILL $C1; sleep 0.3; ctr task rm -f $C1; ctr container rm $C1; ctr images rm docker.io/library/busybox:latest; for i in 1 2 3 4 5 6 7 8; do ctr namespaces rm $CONTAINERD_NAMESPACE && break; sleep 0.5; done"
docker save busybox:latest | ctr images import - >/dev/null
ctr run -d docker.io/library/busybox:latest "$C1" sleep 600 >/dev/null

pipework br1 "$P1" 10.31.0.1/24
pipework br1 "podman:$P2" 10.31.0.2/24
pipework br1 "$C1" 10.31.0.3/24
expect "Podman container by plain name" "inet 10.31.0.1/24" podman exec "$P1" ip -o -4 addr show eth1
expect "Podman container by podman:NAME" "inet 10.31.0.2/24" podman exec "$P2" ip -o -4 addr show eth1
expect "containerd container by plain name" "inet 10.31.0.3/24" ctr task exec --exec-id check1 "$C1" ip -o -4 addr show eth1
expect "host side named after the Podman container's PID" "veth1pl$(podman inspect -f '{{.State.Pid}}' "$P1")" in_host ip -o link show master br1
expect "a Podman container reaches the containerd one" "1 packets received" podman exec "$P1" ping -c 1 -W 2 10.31.0.3
expect "and the other Podman one" "1 packets received" podman exec "$P1" ping -c 1 -W 2 10.31.0.2

pipework --engine containerd br1 -i eth2 "$C1" 10.31.1.3/24
expect "--engine containerd" "inet 10.31.1.3/24" ctr task exec --exec-id check2 "$C1" ip -o -4 addr show eth2
fails_with "--engine podman asks Podman only" "unknown to Podman" pipework --engine podman br1 -i eth3 "$C1" 10.31.2.3/24
fails_with "a name no engine knows" "unknown to Docker .*Podman .*containerd" pipework br1 pwc-nosuch-$HOST 10.31.3.3/24

pipework --detach "podman:$P2"
expect_not "--detach through Podman" "eth1" podman exec "$P2" ip -o link
podman stop -t 0 "$P1" >/dev/null
fails_with "a stopped Podman container is refused" "is not running" pipework br1 -i eth4 "podman:$P1" 10.31.4.1/24
