# pipework mac:AA:BB:CC:DD:EE:FF con1 10.80.0.2/24 — the host interface is
# found by its MAC address.
. "$(dirname "$0")/lib.sh"
G1=$(new_guest)
in_host ip link add lan0 address 02:00:00:00:80:01 type veth peer name lan0p
in_host ip link set lan0p up
pipework mac:02:00:00:00:80:01 "$G1" 10.80.0.2/24
expect "macvlan on the interface with that MAC" "eth1@if.*macvlan" in_guest "$G1" ip -d -o link show eth1
