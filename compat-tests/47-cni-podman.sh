# Podman 4.3 with its CNI backend runs pipework as the plugin of its
# networks (CONTAINERS_CONF: network_backend = "cni", our directory first in
# cni_plugin_dirs, a network_config_dir of this test's own). Podman runs in
# the host namespace through nsenter --net (ip netns exec's private /sys
# hides the cgroup mount runc needs). A Linux bridge with host-local IPAM, an
# OVS bridge with a VLAN tag, a macvlan, and a conflist pipework + tuning:
# each container gets its interface, pings and moves 1 MB to a neighbour that
# the pipework command line attached; podman rm (or --rm) takes it back.
# The OVS network names its private ovsdb in "ovsDb": Podman may run the DEL
# from conmon's `podman container cleanup`, whose environment has no
# OVS_RUNDIR (without it, one run in three left the OVS row behind).
. "$(dirname "$0")/lib.sh"
"$ROOT/scripts/podman-up" >/dev/null
NAMES=()
pod() { nsenter --net="/var/run/netns/$HOST" env CONTAINERS_CONF="$CNI_DIR/containers.conf" podman "$@"; }
# Before anything it needs is made: cleanup runs in the order registered.
on_exit 'for n in "${NAMES[@]}"; do pod rm -f -t 0 "$n"; done'
cni_setup
start_ovs
limits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
mkdir "$CNI_DIR/net"
cat >"$CNI_DIR/containers.conf" <<CONF
[network]
network_backend = "cni"
cni_plugin_dirs = ["$CNI_DIR", "/usr/lib/cni"]
network_config_dir = "$CNI_DIR/net"
CONF
net() { # NAME PLUGIN-FIELDS SUBNET [MORE-PLUGINS]
    cat >"$CNI_DIR/net/$1.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "$1", "plugins": [
  {"type": "pipework", $2,
   "ipam": {"type": "host-local", "dataDir": "$CNI_DIR/ipam", "ranges": [[{"subnet": "$3", "rangeStart": "${3%.0/24}.10"}]]}}${4-}]}
JSON
}
in_host ip link add lan0 type veth peer name lan0p
in_host ip link set lan0 up; in_host ip link set lan0p up
net pwbr '"hostif": "brpod"' 10.65.0.0/24
net pwovs "\"hostif\": \"ovspod\", \"vlan\": 300, \"ovsDb\": \"unix:$OVS_DIR/db.sock\"" 10.66.0.0/24
net pwmac '"hostif": "lan0"' 10.67.0.0/24
net pwtuned '"hostif": "brtuned"' 10.68.0.0/24 ', {"type": "tuning", "promisc": true, "mtu": 1400}'

run() { # NAME NETWORK: a container on that network; prints its PID
    local name=pwc-cni-$1-$HOST
    NAMES+=("$name")
    pod run -d --name "$name" --network "$2" "${limits[@]}" localhost/busybox:latest sleep 600 >/dev/null ||
        fail "podman run --network $2 failed"
    pod inspect -f '{{.State.Pid}}' "$name"
}
N1=$(new_guest); N2=$(new_guest); N3=$(new_guest); N4=$(new_guest)
pipework brpod "$N1" 10.65.0.2/24
pipework ovspod "$N2" 10.66.0.2/24 @300
pipework lan0 "$N3" 10.67.0.2/24
pipework brtuned "$N4" 10.68.0.2/24

C1=$(run br pwbr)
expect "Podman's container has eth0 from host-local" "inet 10.65.0.10/24" in_guest "$C1" ip -o -4 addr show eth0
ping_ok "$C1" 10.65.0.2
tcp_ok "$C1" "$N1" 10.65.0.2
host_side=$(in_host ip -o link show master brpod | grep -v "veth1pl$N1" | grep -oE '^[0-9]+: [^@]+' | cut -d' ' -f2)
[ -n "$host_side" ] || fail "no host side of the container on brpod"

C2=$(run ovs pwovs)
expect "the OVS container has its address" "inet 10.66.0.10/24" in_guest "$C2" ip -o -4 addr show eth0
ovs_port=$(vsctl --bare --columns=name find Interface external-ids:pipework.cni.network=pwovs)
expect "its port has access tag 300" '^300$' vsctl get Port "$ovs_port" tag
expect_extids "$ovs_port" "pipework.containerid=$(pod inspect -f '{{.Id}}' "pwc-cni-ovs-$HOST")" pipework.cni.ifname=eth0
ping_ok "$C2" 10.66.0.2
tcp_ok "$C2" "$N2" 10.66.0.2

C3=$(run mac pwmac)
expect "the macvlan container's eth0 is a macvlan of lan0" "eth0@if[0-9]+: .* macvlan mode bridge" in_guest "$C3" ip -d -o link show eth0
ping_ok "$C3" 10.67.0.2
tcp_ok "$C3" "$N3" 10.67.0.2

C4=$(run tuned pwtuned)
expect "tuning, chained after pipework, set its MTU and promiscuous mode" "eth0@if[0-9]+: <[^>]*PROMISC[^>]*> mtu 1400" in_guest "$C4" ip -o link show eth0
ping_ok "$C4" 10.68.0.2
tcp_ok "$C4" "$N4" 10.68.0.2

# --rm: the ADD, a ping from inside, then the DEL when it exits.
out=$(pod run --rm --network pwbr "${limits[@]}" localhost/busybox:latest sh -c 'ip -o -4 addr show eth0; ping -c 1 -W 2 10.65.0.2' 2>&1) ||
    fail "podman run --rm failed: $out"
grep -q "inet 10.65.0.11/24" <<<"$out" || fail "the --rm container had no address: $out"
note "ok: a --rm container got 10.65.0.11 and pinged its neighbour"

pod rm -f -t 0 "pwc-cni-br-$HOST" "pwc-cni-ovs-$HOST" "pwc-cni-mac-$HOST" "pwc-cni-tuned-$HOST" >/dev/null 2>"$CNI_DIR/rm.log" || fail "podman rm: $(cat "$CNI_DIR/rm.log")"
grep -q . "$CNI_DIR/rm.log" && fail "podman rm complained: $(cat "$CNI_DIR/rm.log")"
expect_not "podman rm: the host side left brpod" "^[0-9]+: $host_side@" in_host ip -o link show
expect_not "podman rm: the OVS row went" "$ovs_port" vsctl list-ports ovspod
left=$(ls "$CNI_DIR/ipam"/*/ 2>/dev/null | grep -E '^10\.' || true)
[ -z "$left" ] || fail "host-local still holds: $left"
note "ok: every address was released"
