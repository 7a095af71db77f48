# Docker containers on an Open vSwitch VLAN: the Interface row carries the
# container's full ID and its name as Docker reports it (with the leading /),
# exactly the external-ids the reference writes.
. "$(dirname "$0")/lib.sh"
"$ROOT/scripts/docker-up" >/dev/null
start_ovs
vsctl add-br sw0 -- set Bridge sw0 datapath_type=netdev
C1=pwc-ovs1-$HOST; C2=pwc-ovs2-$HOST
on_exit "docker rm -f $C1 $C2"
docker run -d --name "$C1" --network none busybox:latest sleep 600 >/dev/null
docker run -d --name "$C2" --network none busybox:latest sleep 600 >/dev/null

# C1 is resolved over the Engine API: the docker command is never run.
# C2 through the CLI, as under a Docker context other than the default:
# the same PID, ID and name either way.
shim=$(mktemp -d); on_exit "rm -rf $shim"
printf '#!/bin/sh\necho "$*" >>%s/calls\nexec %s "$@"\n' "$shim" "$(command -v docker)" >"$shim/docker"
chmod +x "$shim/docker"; : >"$shim/calls"
PATH=$shim:$PATH pipework sw0 "$C1" 10.24.0.1/24 @42
[ ! -s "$shim/calls" ] || fail "the docker command ran although the API answers: $(cat "$shim/calls")"
note "ok: C1 named over the Engine API, no docker command run"
ctx=pwc-$HOST
docker context create "$ctx" --docker host=unix:///var/run/docker.sock >/dev/null
on_exit "docker context rm -f $ctx"
DOCKER_CONTEXT=$ctx PATH=$shim:$PATH pipework sw0 "$C2" 10.24.0.2/24 @42
grep -q "inspect" "$shim/calls" || fail "under another Docker context, the CLI was not asked"
note "ok: C2 named through the docker command under context $ctx"
pid2=$(docker inspect -f '{{.State.Pid}}' "$C2"); id2=$(docker inspect -f '{{.Id}}' "$C2")
expect_extids "veth1pl$pid2" "pipework.containerid=$id2" "pipework.containername=/$C2" "pipework.nspid=$pid2"

pid=$(docker inspect -f '{{.State.Pid}}' "$C1"); id=$(docker inspect -f '{{.Id}}' "$C1")
expect_extids "veth1pl$pid" "pipework.containerid=$id" "pipework.containername=/$C1" "pipework.nspid=$pid" \
    pipework.vlan=42 pipework.bridge=sw0 "pipework.interface=veth1pl$pid"
expect "the port is on VLAN 42" '^42$' vsctl get Port "veth1pl$pid" tag
expect "one container pings the other over OVS" "1 packets received" docker exec "$C1" ping -c 1 -W 2 10.24.0.2
tcp_ok "$pid" "$(docker inspect -f '{{.State.Pid}}' "$C2")" 10.24.0.2
