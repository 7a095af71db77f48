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

pipework sw0 "$C1" 10.24.0.1/24 @42
pipework sw0 "$C2" 10.24.0.2/24 @42

pid=$(docker inspect -f '{{.State.Pid}}' "$C1"); id=$(docker inspect -f '{{.Id}}' "$C1")
expect_extids "veth1pl$pid" "pipework.containerid=$id" "pipework.containername=/$C1" "pipework.nspid=$pid" \
    pipework.vlan=42 pipework.bridge=sw0 "pipework.interface=veth1pl$pid"
expect "the port is on VLAN 42" '^42$' vsctl get Port "veth1pl$pid" tag
expect "one container pings the other over OVS" "1 packets received" docker exec "$C1" ping -c 1 -W 2 10.24.0.2
tcp_ok "$pid" "$(docker inspect -f '{{.State.Pid}}' "$C2")" 10.24.0.2
